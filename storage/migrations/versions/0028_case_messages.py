"""case_messages: the message catch events that wait for a message correlated between cases

Revision ID: 0028_case_messages
Revises: 0027_citizen_portal
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0028_case_messages'
down_revision = '0027_citizen_portal'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'message_wait',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('message', _S(length=255), nullable=False),
        sa.Column('correlation', _S(length=500), nullable=False),
        sa.Column('element', _S(length=255), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_message_wait_case_id', 'message_wait', ['case_id'])
    op.create_index('ix_message_wait_key', 'message_wait', ['message', 'correlation'])


def downgrade() -> None:
    op.drop_index('ix_message_wait_key', table_name='message_wait')
    op.drop_index('ix_message_wait_case_id', table_name='message_wait')
    op.drop_table('message_wait')
