"""case_message_outbox: the messages one case sent to another, kept until delivered (or held by an incident)

Revision ID: 0029_case_message_outbox
Revises: 0028_case_messages
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0029_case_message_outbox'
down_revision = '0028_case_messages'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'case_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', _S(length=32), nullable=False),
        sa.Column('sender_case_id', sa.Integer(), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('correlation', sa.Text(), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('sent_by', _S(length=64), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', _S(length=16), nullable=False),
        sa.Column('receiver_case_id', sa.Integer(), nullable=True),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['sender_case_id'], ['case_file.id']),
        sa.ForeignKeyConstraint(['receiver_case_id'], ['case_file.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index('ix_case_message_sender_case_id', 'case_message', ['sender_case_id'])
    op.create_index('ix_case_message_status_sent', 'case_message', ['status', 'sent_at'])


def downgrade() -> None:
    op.drop_index('ix_case_message_status_sent', table_name='case_message')
    op.drop_index('ix_case_message_sender_case_id', table_name='case_message')
    op.drop_table('case_message')
