"""auditors: ledger of chain heads, auditors' reads

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('after', sa.JSON(), nullable=True))
    op.create_table(
        'audit_seal',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('sealed_at', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('case_count', sa.Integer(), nullable=False),
        sa.Column('leaf_count', sa.Integer(), nullable=False),
        sa.Column('root', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('public_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('seq'),
    )
    op.create_table(
        'audit_seal_leaf',
        sa.Column('seal_seq', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('tracking_number', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('audit_seq', sa.Integer(), nullable=False),
        sa.Column('audit_head', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint('seal_seq', 'case_id'),
    )
    op.create_table(
        'audit_access',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('seq'),
    )
    op.create_index(op.f('ix_audit_access_case_id'), 'audit_access', ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_audit_access_case_id'), table_name='audit_access')
    op.drop_table('audit_access')
    op.drop_table('audit_seal_leaf')
    op.drop_table('audit_seal')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('after')
