"""output_key_index: issued documents looked up by their stored object's key (the orphans sweep)

Revision ID: 0030_output_key_index
Revises: 0029_case_message_outbox
"""
from __future__ import annotations

from alembic import op

revision = '0030_output_key_index'
down_revision = '0029_case_message_outbox'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_issued_output_storage_key'), 'issued_output', ['storage_key'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_issued_output_storage_key'), table_name='issued_output')
