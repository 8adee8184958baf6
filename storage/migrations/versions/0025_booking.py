"""booking: booked visits (centers' hours, slots per category, places taken, bookings); the queue's categories
get a weight and a walk-in flag, and the category of booked visits is added and called by every window

Revision ID: 0025_booking
Revises: 0024_paydocs
"""
from __future__ import annotations

import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0025_booking'
down_revision = '0024_paydocs'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_TS = sa.DateTime(timezone=True)
# The tickets of booked visits (engine/queue/arrivals.py): no kiosk button, called before walk-ins of the same
# moment (weight 2). Administrators change both with PUT /api/queue/categories/appointments.
APPOINTMENTS = {"code": "appointments", "letter": "B", "name_ar": "المواعيد المحجوزة", "name_en": "Booked visits",
                "position": 6, "services": [], "active": True, "center_id": None, "weight": 2.0, "walk_in": False}


def upgrade() -> None:
    with op.batch_alter_table('queue_category') as batch:
        batch.add_column(sa.Column('weight', sa.Float(), nullable=False, server_default='1.0'))
        batch.add_column(sa.Column('walk_in', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_table(
        'booking_calendar',
        sa.Column('center_key', sa.Integer(), nullable=False),
        sa.Column('opens', sa.Time(), nullable=False),
        sa.Column('closes', sa.Time(), nullable=False),
        sa.Column('weekend', sa.JSON(), nullable=False),
        sa.Column('holidays', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('center_key'),
    )
    op.create_table(
        'booking_plan',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('center_key', sa.Integer(), nullable=False),
        sa.Column('category_code', _S(length=40), nullable=False),
        sa.Column('slot_minutes', sa.Integer(), nullable=False),
        sa.Column('capacity', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('center_key', 'category_code'),
    )
    op.create_table(
        'booking_slot',
        sa.Column('center_key', sa.Integer(), nullable=False),
        sa.Column('category_code', _S(length=40), nullable=False),
        sa.Column('starts_at', _TS, nullable=False),
        sa.Column('taken', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('center_key', 'category_code', 'starts_at'),
    )
    op.create_table(
        'booking',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', _S(length=16), nullable=False),
        sa.Column('phone', _S(length=32), nullable=False),
        sa.Column('language', _S(length=8), nullable=False),
        sa.Column('center_key', sa.Integer(), nullable=False),
        sa.Column('category_code', _S(length=40), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('starts_at', _TS, nullable=False),
        sa.Column('ends_at', _TS, nullable=False),
        sa.Column('status', _S(length=16), nullable=False),
        sa.Column('active_key', _S(length=100), nullable=True),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('cancelled_at', _TS, nullable=True),
        sa.Column('reminded_at', _TS, nullable=True),
        sa.Column('arrived_at', _TS, nullable=True),
        sa.Column('no_show_at', _TS, nullable=True),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('ticket_number', _S(length=16), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['queue_ticket.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code'),
        sa.UniqueConstraint('active_key'),
    )
    op.create_index('ix_booking_status_starts', 'booking', ['status', 'starts_at'])
    op.create_index('ix_booking_phone', 'booking', ['phone'])
    op.create_index('ix_booking_center_day', 'booking', ['center_key', 'day'])
    conn = op.get_bind()
    category = sa.table('queue_category', *(sa.column(c) for c in APPOINTMENTS if c != 'services'),
                        sa.column('services', sa.JSON()))
    if conn.execute(sa.text("SELECT 1 FROM queue_category WHERE code = 'appointments' OR letter = 'B'")).first() is None:
        op.bulk_insert(category, [APPOINTMENTS])
    # Every window calls booked visits: the board and counters need nothing else.
    for row in conn.execute(sa.text("SELECT id, categories FROM queue_counter")).all():
        codes = row.categories if isinstance(row.categories, list) else json.loads(row.categories or "[]")
        if "appointments" not in codes:
            conn.execute(sa.text("UPDATE queue_counter SET categories = :c WHERE id = :id").bindparams(
                sa.bindparam("c", type_=sa.JSON())), {"c": [*codes, "appointments"], "id": row.id})


def downgrade() -> None:
    conn = op.get_bind()
    for row in conn.execute(sa.text("SELECT id, categories FROM queue_counter")).all():
        codes = row.categories if isinstance(row.categories, list) else json.loads(row.categories or "[]")
        if "appointments" in codes:
            conn.execute(sa.text("UPDATE queue_counter SET categories = :c WHERE id = :id").bindparams(
                sa.bindparam("c", type_=sa.JSON())), {"c": [c for c in codes if c != "appointments"], "id": row.id})
    op.drop_index('ix_booking_center_day', table_name='booking')
    op.drop_index('ix_booking_phone', table_name='booking')
    op.drop_index('ix_booking_status_starts', table_name='booking')
    op.drop_table('booking')
    op.drop_table('booking_slot')
    op.drop_table('booking_plan')
    op.drop_table('booking_calendar')
    # Booked visits' tickets keep their category code; the category itself goes with the columns.
    conn.execute(sa.text("DELETE FROM queue_category WHERE code = 'appointments' AND walk_in = :f"), {"f": False})
    with op.batch_alter_table('queue_category') as batch:
        batch.drop_column('walk_in')
        batch.drop_column('weight')
