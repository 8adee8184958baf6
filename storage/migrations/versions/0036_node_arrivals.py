"""node_arrivals: a booked visit's arrival at a center node, and what each node handed over of an absence

A center node does not write central's tables (the bookings, the absences). ``booking_arrival`` (a center's
table, replicated to central) records a booked visit's arrival at the node's kiosk: the booking, the node, the
ticket it got there. ``absence_hand_over`` (never replicated) records what a center node did about an absence on
its own cases: when it handed over the officer's open tasks, and when it gave them back.

Revision ID: 0036_node_arrivals
Revises: 0035_node_links
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0036_node_arrivals'
down_revision = '0035_node_links'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'booking_arrival',
        sa.Column('id', _BIG, nullable=False),
        sa.Column('booking_id', sa.Integer(), nullable=False),
        sa.Column('node', _S(length=32), nullable=False),
        sa.Column('ticket_id', _BIG, nullable=False),
        sa.Column('ticket_number', _S(length=16), nullable=False),
        sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['booking_id'], ['booking.id']),
        sa.ForeignKeyConstraint(['ticket_id'], ['queue_ticket.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('booking_id', 'node'),
    )
    op.create_index(op.f('ix_booking_arrival_booking_id'), 'booking_arrival', ['booking_id'], unique=False)
    op.create_table(
        'absence_hand_over',
        sa.Column('absence_id', sa.Integer(), nullable=False),
        sa.Column('username', _S(length=64), nullable=False),
        sa.Column('handed_over_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('absence_id'),
    )
    op.create_index(op.f('ix_absence_hand_over_returned_at'), 'absence_hand_over', ['returned_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_absence_hand_over_returned_at'), table_name='absence_hand_over')
    op.drop_table('absence_hand_over')
    op.drop_index(op.f('ix_booking_arrival_booking_id'), table_name='booking_arrival')
    op.drop_table('booking_arrival')
