"""copied_object: a center node's stored objects already copied to central's store (docs/center-nodes.md)

Revision ID: 0034_copied_object
Revises: 0031_case_node
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0034_copied_object'
down_revision = '0031_case_node'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'copied_object',
        sa.Column('storage_key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('copied_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('storage_key'),
    )


def downgrade() -> None:
    op.drop_table('copied_object')
