"""accounts: users' session version and change record, shared throttle counters

Revision ID: 0013_accounts
Revises: 0012_case_owners
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0013_accounts'
down_revision = '0012_case_owners'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))
    op.create_table(
        'user_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name='fk_user_event_user_id'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'seq'),
    )
    op.create_table(
        'throttle_counter',
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('wait_until', sa.Float(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index(op.f('ix_throttle_counter_expires_at'), 'throttle_counter', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_throttle_counter_expires_at'), table_name='throttle_counter')
    op.drop_table('throttle_counter')
    op.drop_table('user_event')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('session_version')
