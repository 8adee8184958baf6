"""citizen_portal: how a case came in (the counter, or the citizen applying from the phone)

Revision ID: 0023_citizen_portal
Revises: 0022_citizen
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0023_citizen_portal'
down_revision = '0022_citizen'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table('case_file') as batch:
        batch.add_column(sa.Column('channel', _S(length=16), server_default='counter', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('case_file') as batch:
        batch.drop_column('channel')
