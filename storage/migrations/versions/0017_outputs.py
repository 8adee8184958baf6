"""outputs: the documents cases issue, signed and anchored in the case's chain (engine/outputs/)

Revision ID: 0017_outputs
Revises: 0016_board_streams
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0017_outputs'
down_revision = '0016_board_streams'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'issued_output',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=True),
        sa.Column('service_code', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=140), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('storage_key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column('size', sa.Integer(), nullable=True),
        sa.Column('holder_masked', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('event_seq', sa.Integer(), nullable=True),
        sa.Column('supersedes', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column('superseded_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column('revoked_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column('revoke_reason', sa.Text(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('prints', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id']),
        sa.ForeignKeyConstraint(['center_id'], ['center.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('number'),
        sa.UniqueConstraint('case_id', 'kind', 'source', name='uq_output_source'),
    )
    op.create_index('ix_issued_output_case_id', 'issued_output', ['case_id'])
    op.create_index('ix_issued_output_center_id', 'issued_output', ['center_id'])
    op.create_index('ix_issued_output_status', 'issued_output', ['status'])


def downgrade() -> None:
    op.drop_table('issued_output')
