"""ops: one absence per officer and first day, absences' return of tasks, the absence that moved a task away,
the incident of a message that could not be delivered

Revision ID: 0023_ops
Revises: 0022_citizen
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023_ops'
down_revision = '0022_citizen'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ux_absence_user_starts', 'absence', ['username', 'starts'], unique=True)
    op.add_column('absence', sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('task', sa.Column('away_absence_id', sa.Integer(), nullable=True))
    op.add_column('outbox_message', sa.Column('incident_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message') as batch:
        batch.drop_column('incident_id')
    with op.batch_alter_table('task') as batch:
        batch.drop_column('away_absence_id')
    with op.batch_alter_table('absence') as batch:
        batch.drop_column('returned_at')
    op.drop_index('ux_absence_user_starts', table_name='absence')
