"""node_sign_out: the sign-outs a center node keeps to itself, and the node that wrote each outbox message

A center node does not write the users' rows (central's, replicated): a sign-out there is counted in
``node_sign_out``, which never leaves the node, and adds to the user's session version there.
``outbox_message.node``: the center node that wrote the message (NULL: central or a single node), so that
only that node sends it, wherever the row is replicated to.

Revision ID: 0034_node_sign_out
Revises: 0033_drawer_node
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0034_node_sign_out'
down_revision = '0033_drawer_node'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'node_sign_out',
        sa.Column('username', _S(length=64), nullable=False),
        sa.Column('sign_outs', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('username'),
    )
    with op.batch_alter_table('outbox_message') as batch:
        batch.add_column(sa.Column('node', _S(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message') as batch:
        batch.drop_column('node')
    op.drop_table('node_sign_out')
