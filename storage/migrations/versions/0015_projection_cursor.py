"""reports: a cursor per projection built from the audit events after they commit

The report aggregates were written in each step's transaction until this revision; from here on the projector
(engine/reports/projector.py) builds them from the events. The cursor starts after the last event already
counted, so nothing is counted twice.

Revision ID: 0015_projection
Revises: 0014_idempotency_keys
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0015_projection'
down_revision = '0014_idempotency_keys'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'projection_cursor',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('position', sa.BigInteger(), nullable=False),
        sa.Column('high', sa.BigInteger(), nullable=False),
        sa.Column('holes', sa.JSON(), nullable=False),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name'),
    )
    last = op.get_bind().execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM audit_event")).scalar_one()
    op.bulk_insert(table, [{"name": "reports", "position": last, "high": last, "holes": {}, "checked_at": None}])


def downgrade() -> None:
    op.drop_table('projection_cursor')
