"""drawer_node: a cashier's open drawer is one per node (docs/center-nodes.md)

A cashier may open a drawer at central and at a center node (one line down, the other up): neither node can see the
other's, and two open rows of one cashier would meet on ``ux_cashier_session_open`` when they replicate, which stops
the subscription. The index now holds one open drawer per cashier and node: ``node`` is the center node's code, ''
on central and on a single installation (not NULL: a unique index lets NULLs repeat).

Revision ID: 0033_drawer_node
Revises: 0032_node_ids
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0033_drawer_node'
down_revision = '0032_node_ids'
branch_labels = None
depends_on = None

_OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    with op.batch_alter_table('cashier_session') as batch:
        batch.add_column(sa.Column('node', sa.String(length=32), server_default='', nullable=False))
    op.drop_index('ux_cashier_session_open', table_name='cashier_session')
    op.create_index('ux_cashier_session_open', 'cashier_session', ['cashier', 'node'], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)


def downgrade() -> None:
    op.drop_index('ux_cashier_session_open', table_name='cashier_session')
    op.create_index('ux_cashier_session_open', 'cashier_session', ['cashier'], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)
    with op.batch_alter_table('cashier_session') as batch:
        batch.drop_column('node')
