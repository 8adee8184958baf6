"""case_node: the center node that owns a case (docs/center-nodes.md)

Revision ID: 0031_case_node
Revises: 0030_output_key_index
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0031_case_node'
down_revision = '0030_output_key_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_file') as batch:
        batch.add_column(sa.Column('node', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('case_file') as batch:
        batch.drop_column('node')
