"""case_created_index: the lists of cases newest first, by when they were opened

The lists of cases (the staff's, an auditor's search, a citizen's own) are ordered by ``created_at`` then ``id``,
not by ``id`` alone: a center node's cases carry ids of its block (storage/nodes.py), above every case of
central's whenever they were opened. ``ix_case_file_created`` serves that order as the primary key served the
former one.

Revision ID: 0038_case_created_index
Revises: 0037_ticket_node
"""
from __future__ import annotations

from alembic import op

revision = '0038_case_created_index'
down_revision = '0037_ticket_node'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_case_file_created', 'case_file', ['created_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_case_file_created', table_name='case_file')
