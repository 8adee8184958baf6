"""one history again: drafts, queue, ratings, outbox, centers and SLAs, report aggregates

The six were written side by side on top of 0004 and touch different tables; this revision joins them so
that ``alembic upgrade head`` and ``alembic history`` see a single line from here on.

Revision ID: 0011
Revises: 0005, 0006, 0007, 0008, 0009, 0010
"""
from __future__ import annotations

revision = '0011'
down_revision = ('0005', '0006', '0007', '0008', '0009', '0010')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
