"""web pages: users' language and calendar

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False,
                                      server_default='ar'))
        batch_op.add_column(sa.Column('calendar', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default='gregory'))


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('calendar')
        batch_op.drop_column('language')
