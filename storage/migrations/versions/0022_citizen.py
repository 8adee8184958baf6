"""citizen: sign-in codes sent by SMS, outbox messages about no case (the code), cases found by phone

Revision ID: 0022_citizen
Revises: 0021_incidents
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0022_citizen'
down_revision = '0021_incidents'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'citizen_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phone', _S(length=32), nullable=False),
        sa.Column('code_hash', _S(length=64), nullable=False),
        sa.Column('tries', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_citizen_code_phone', 'citizen_code', ['phone', 'created_at'])
    with op.batch_alter_table('outbox_message') as batch:
        batch.alter_column('case_id', existing_type=sa.Integer(), nullable=True)
        batch.alter_column('event_seq', existing_type=sa.Integer(), nullable=True)
    op.create_index('ix_case_file_phone', 'case_file', ['phone'])


def downgrade() -> None:
    op.drop_index('ix_case_file_phone', table_name='case_file')
    op.execute("DELETE FROM outbox_message WHERE case_id IS NULL")
    with op.batch_alter_table('outbox_message') as batch:
        batch.alter_column('event_seq', existing_type=sa.Integer(), nullable=False)
        batch.alter_column('case_id', existing_type=sa.Integer(), nullable=False)
    op.drop_index('ix_citizen_code_phone', table_name='citizen_code')
    op.drop_table('citizen_code')
