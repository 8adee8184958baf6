"""reports: per-day counters, daily and monthly duration histograms kept as cases advance

Revision ID: 0010
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0004'
branch_labels = None
depends_on = None


def _s(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        'report_day',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('service_code', _s(100), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=False),
        sa.Column('opened', sa.Integer(), nullable=False),
        sa.Column('completed', sa.Integer(), nullable=False),
        sa.Column('rejected', sa.Integer(), nullable=False),
        sa.Column('on_time', sa.Integer(), nullable=False),
        sa.Column('late', sa.Integer(), nullable=False),
        sa.Column('cancelled', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'service_code', 'center_id'),
    )
    op.create_table(
        'report_lane_day',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('service_code', _s(100), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=False),
        sa.Column('lane', _s(100), nullable=False),
        sa.Column('completed', sa.Integer(), nullable=False),
        sa.Column('on_time', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'service_code', 'center_id', 'lane'),
    )
    op.create_table(
        'report_case_time',
        sa.Column('grain', _s(1), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('service_code', _s(100), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=False),
        sa.Column('bucket', sa.Integer(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('grain', 'day', 'service_code', 'center_id', 'bucket'),
    )
    op.create_table(
        'report_step_time',
        sa.Column('service_code', _s(100), nullable=False),
        sa.Column('grain', _s(1), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=False),
        sa.Column('lane', _s(100), nullable=False),
        sa.Column('name', _s(255), nullable=False),
        sa.Column('bucket', sa.Integer(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('on_time', sa.Integer(), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('service_code', 'grain', 'day', 'center_id', 'lane', 'name', 'bucket'),
    )
    op.create_table(
        'report_officer_time',
        sa.Column('grain', _s(1), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=False),
        sa.Column('officer', _s(64), nullable=False),
        sa.Column('lane', _s(100), nullable=False),
        sa.Column('bucket', sa.Integer(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('grain', 'day', 'center_id', 'officer', 'lane', 'bucket'),
    )
    op.create_table(
        'report_claim',
        sa.Column('task_id', _s(36), nullable=False),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('task_id'),
    )


def downgrade() -> None:
    for table in ('report_claim', 'report_officer_time', 'report_step_time', 'report_case_time', 'report_lane_day',
                  'report_day'):
        op.drop_table(table)
