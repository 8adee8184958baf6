"""citizen_portal: how a case came in (the counter, or the citizen applying from the phone), counted per day

Revision ID: 0027_citizen_portal
Revises: 0026_open311
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0027_citizen_portal'
down_revision = '0026_open311'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table('case_file') as batch:
        batch.add_column(sa.Column('channel', _S(length=16), server_default='counter', nullable=False))
    op.create_table(
        'report_channel_day',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('service_code', _S(length=100), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=False),
        sa.Column('channel', _S(length=16), nullable=False),
        sa.Column('opened', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'service_code', 'center_id', 'channel'),
    )
    # The cases opened so far all came in at the counter: their counts go to that channel.
    op.execute("INSERT INTO report_channel_day (day, service_code, center_id, channel, opened) "
               "SELECT day, service_code, center_id, 'counter', opened FROM report_day WHERE opened > 0")


def downgrade() -> None:
    op.drop_table('report_channel_day')
    with op.batch_alter_table('case_file') as batch:
        batch.drop_column('channel')
