"""incidents: a case's failed step, open until retried, skipped or the case cancelled

Revision ID: 0021_incidents
Revises: 0020_epay
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0021_incidents'
down_revision = '0020_epay'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'incident',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=True),
        sa.Column('service_code', _S(length=100), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('element_id', _S(length=255), nullable=False),
        sa.Column('reason', _S(length=32), nullable=False),
        sa.Column('message', _S(length=2000), nullable=False),
        sa.Column('task_id', _S(length=36), nullable=True),
        sa.Column('task_name', _S(length=255), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', _S(length=16), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        _ts('opened_at'), _ts('last_at'), _ts('closed_at', True),
        sa.Column('closed_by', _S(length=64), nullable=True),
        sa.Column('close_reason', _S(length=1000), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id']),
        sa.ForeignKeyConstraint(['center_id'], ['center.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_incident_status_center', 'incident', ['status', 'center_id'])
    op.create_index('ix_incident_case', 'incident', ['case_id'])


def downgrade() -> None:
    op.drop_index('ix_incident_case', table_name='incident')
    op.drop_index('ix_incident_status_center', table_name='incident')
    op.drop_table('incident')
