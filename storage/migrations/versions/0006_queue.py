"""queue: categories, counters, tickets, daily numbers, calls; a default list of categories and counters

Revision ID: 0006
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString

# A center's usual halls; administrators change them with PUT /api/queue/categories/{code} (docs/front-desk.md).
DEFAULT_CATEGORIES = [
    {"code": "civil_registry", "letter": "C", "name_ar": "السجل المدني", "name_en": "Civil registry", "position": 1,
     "services": []},
    {"code": "permits", "letter": "P", "name_ar": "التراخيص", "name_en": "Permits", "position": 2,
     "services": ["building_permit"]},
    {"code": "traffic", "letter": "T", "name_ar": "المرور", "name_en": "Traffic", "position": 3, "services": []},
    {"code": "utilities", "letter": "U", "name_ar": "المرافق", "name_en": "Utilities", "position": 4,
     "services": []},
    {"code": "complaints", "letter": "S", "name_ar": "الشكاوى", "name_en": "Complaints", "position": 5,
     "services": []},
]
DEFAULT_COUNTERS = [
    {"number": 1, "name": "Window 1", "categories": ["civil_registry", "permits"]},
    {"number": 2, "name": "Window 2", "categories": ["traffic", "utilities"]},
    {"number": 3, "name": "Window 3", "categories": ["complaints", "permits", "civil_registry"]},
]


def upgrade() -> None:
    category = op.create_table(
        'queue_category',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', _STR(length=40), nullable=False),
        sa.Column('letter', _STR(length=4), nullable=False),
        sa.Column('name_ar', _STR(length=100), nullable=False),
        sa.Column('name_en', _STR(length=100), nullable=False),
        sa.Column('services', sa.JSON(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code'),
        sa.UniqueConstraint('letter'),
    )
    counter = op.create_table(
        'queue_counter',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('name', _STR(length=100), nullable=False),
        sa.Column('categories', sa.JSON(), nullable=False),
        sa.Column('open', sa.Boolean(), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('center_id', 'number'),
    )
    op.create_table(
        'queue_ticket',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('number', _STR(length=16), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('category_code', _STR(length=40), nullable=False),
        sa.Column('priority', _STR(length=16), nullable=False),
        sa.Column('status', _STR(length=16), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=False),
        sa.Column('called_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('served_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('counter_id', sa.Integer(), nullable=True),
        sa.Column('called_by', _STR(length=64), nullable=True),
        sa.Column('recalls', sa.Integer(), nullable=False),
        sa.Column('transferred_from_id', sa.Integer(), nullable=True),
        sa.Column('transferred_to', _STR(length=16), nullable=True),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('center_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id']),
        sa.ForeignKeyConstraint(['counter_id'], ['queue_counter.id']),
        sa.ForeignKeyConstraint(['transferred_from_id'], ['queue_ticket.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_queue_ticket_day_number', 'queue_ticket', ['day', 'number'], unique=False)
    op.create_index('ix_queue_ticket_status_category', 'queue_ticket', ['status', 'category_code'], unique=False)
    op.create_index(op.f('ix_queue_ticket_case_id'), 'queue_ticket', ['case_id'], unique=False)
    op.create_table(
        'queue_sequence',
        sa.Column('category_code', _STR(length=40), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('center_key', sa.Integer(), nullable=False),
        sa.Column('last', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('category_code', 'day', 'center_key'),
    )
    op.create_table(
        'queue_call',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('ticket_number', _STR(length=16), nullable=False),
        sa.Column('category_code', _STR(length=40), nullable=False),
        sa.Column('counter_number', sa.Integer(), nullable=False),
        sa.Column('counter_name', _STR(length=100), nullable=False),
        sa.Column('kind', _STR(length=16), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['queue_ticket.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.bulk_insert(category, [{**c, "active": True, "center_id": None} for c in DEFAULT_CATEGORIES])
    op.bulk_insert(counter, [{**c, "open": True, "center_id": None} for c in DEFAULT_COUNTERS])


def downgrade() -> None:
    op.drop_table('queue_call')
    op.drop_table('queue_sequence')
    op.drop_index(op.f('ix_queue_ticket_case_id'), table_name='queue_ticket')
    op.drop_index('ix_queue_ticket_status_category', table_name='queue_ticket')
    op.drop_index('ix_queue_ticket_day_number', table_name='queue_ticket')
    op.drop_table('queue_ticket')
    op.drop_table('queue_counter')
    op.drop_table('queue_category')
