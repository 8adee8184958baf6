"""analysts' drafts of services (the web modeler)

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'service_draft',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('service_code', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('files', sa.JSON(), nullable=False),
        sa.Column('base_version', sa.Integer(), nullable=True),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('saved_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('service_code'),
    )


def downgrade() -> None:
    op.drop_table('service_draft')
