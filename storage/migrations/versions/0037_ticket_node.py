"""ticket_node: the center node that issued each hall ticket

``queue_ticket.node``: the center node that issued the ticket (NULL: central or a single node), so that only that
node's counters act on it, wherever the row is replicated to (docs/center-nodes.md). The tickets already there
are named by their ids' block: a center node's ids are its center's id x 10^12 and up (storage/nodes.py).

Revision ID: 0037_ticket_node
Revises: 0036_node_arrivals
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0037_ticket_node'
down_revision = '0036_node_arrivals'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table('queue_ticket') as batch:
        batch.add_column(sa.Column('node', _S(length=32), nullable=True))
    op.execute("UPDATE queue_ticket SET node = (SELECT center.code FROM center "
               "WHERE center.id = queue_ticket.id / 1000000000000) WHERE id >= 1000000000000")


def downgrade() -> None:
    with op.batch_alter_table('queue_ticket') as batch:
        batch.drop_column('node')
