"""queue: the display boards' open streams, counted across every API process

Revision ID: 0016_board_streams
Revises: 0015_projection
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0016_board_streams'
down_revision = '0015_projection'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'board_stream',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('client_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('opened_at', sa.Float(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_board_stream_client_key'), 'board_stream', ['client_key'], unique=False)
    op.create_index(op.f('ix_board_stream_expires_at'), 'board_stream', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_board_stream_expires_at'), table_name='board_stream')
    op.drop_index(op.f('ix_board_stream_client_key'), table_name='board_stream')
    op.drop_table('board_stream')
