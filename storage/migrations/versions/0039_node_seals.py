"""node_seals: a center node's seals copied for central (node_seal, node_seal_leaf), and central's seal pinning
each center node's latest one (audit_seal.nodes, audit_seal_node); docs/center-nodes.md "Audit across nodes"

Revision ID: 0039_node_seals
Revises: 0038_case_created_index
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0039_node_seals'
down_revision = '0038_case_created_index'
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    with op.batch_alter_table('audit_seal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nodes', _text(64), nullable=False, server_default=''))
    op.create_table(
        'audit_seal_node',
        sa.Column('seal_seq', sa.Integer(), nullable=False),
        sa.Column('node', _text(32), nullable=False),
        sa.Column('node_seq', sa.Integer(), nullable=False),
        sa.Column('node_hash', _text(64), nullable=False),
        sa.PrimaryKeyConstraint('seal_seq', 'node'),
    )
    op.create_table(
        'node_seal',
        sa.Column('node', _text(32), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('sealed_at', _text(40), nullable=False),
        sa.Column('case_count', sa.Integer(), nullable=False),
        sa.Column('leaf_count', sa.Integer(), nullable=False),
        sa.Column('root', _text(64), nullable=False),
        sa.Column('prev_hash', _text(64), nullable=False),
        sa.Column('hash', _text(64), nullable=False),
        sa.Column('public_key', _text(64), nullable=False),
        sa.Column('signature', _text(128), nullable=False),
        sa.Column('nodes', _text(64), nullable=False, server_default=''),
        sa.PrimaryKeyConstraint('node', 'seq'),
    )
    op.create_table(
        'node_seal_leaf',
        sa.Column('node', _text(32), nullable=False),
        sa.Column('seal_seq', sa.Integer(), nullable=False),
        sa.Column('case_id', _BIG, nullable=False),
        sa.Column('tracking_number', _text(32), nullable=False),
        sa.Column('audit_seq', sa.Integer(), nullable=False),
        sa.Column('audit_head', _text(64), nullable=False),
        sa.PrimaryKeyConstraint('node', 'seal_seq', 'case_id'),
    )


def downgrade() -> None:
    op.drop_table('node_seal_leaf')
    op.drop_table('node_seal')
    op.drop_table('audit_seal_node')
    with op.batch_alter_table('audit_seal', schema=None) as batch_op:
        batch_op.drop_column('nodes')
