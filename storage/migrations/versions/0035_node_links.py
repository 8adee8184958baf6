"""node_links: what a node keeps for itself about its replication (docs/center-nodes.md): the stored objects a
center node already copied to central's store, and what each subscription last heard

Revision ID: 0035_node_links
Revises: 0034_node_sign_out
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0035_node_links'
down_revision = '0034_node_sign_out'
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
    op.create_table(
        'node_link',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column('heard_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('down_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('node_link')
    op.drop_table('copied_object')
