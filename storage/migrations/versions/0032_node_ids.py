"""node_ids: the ids of a center node's tables, and every column holding one, are BIGINT (docs/center-nodes.md)

Each center node draws the ids of the tables it writes (storage/nodes.py ``CENTER``) from a block of its own,
``center id x 10^12`` on (storage/nodes.py ``claim_id_block``), so that its rows never take an id central or
another center's node gives: they need more than PostgreSQL's INTEGER. The sequences behind the ids become
BIGINT too (a sequence keeps its own type). Rows keep their ids: the columns are widened, nothing is renumbered.
Each table is rewritten once, under its lock: on a large installation run it when the counters are closed.

SQLite's INTEGER already holds 64 bits: nothing to do there.

Revision ID: 0032_node_ids
Revises: 0031_case_node
"""
from __future__ import annotations

from alembic import op

revision = '0032_node_ids'
down_revision = '0031_case_node'
branch_labels = None
depends_on = None

# Each table whose ``id`` widens (its sequence too) or that holds such an id: the columns to widen.
_COLUMNS: dict[str, tuple[str, ...]] = {
    'case_file': ('id',),
    'message_wait': ('id', 'case_id'),
    'task': ('case_id',),
    'document': ('id', 'case_id'),
    'document_waiver': ('id', 'case_id'),
    'custody_move': ('id', 'case_id'),
    'case_message': ('id', 'sender_case_id', 'receiver_case_id'),
    'audit_event': ('id', 'case_id'),
    'audit_seal_leaf': ('case_id',),
    'audit_access': ('case_id',),
    'idempotency_key': ('case_id',),
    'outbox_message': ('id', 'case_id', 'incident_id'),
    'incident': ('id', 'case_id'),
    'issued_output': ('id', 'case_id'),
    'rating': ('id', 'case_id'),
    'open311_request': ('id', 'case_id'),
    'bill': ('id', 'case_id'),
    'cashier_session': ('id',),
    'cashier_event': ('id', 'session_id'),
    'payment': ('id', 'bill_id', 'case_id', 'session_id', 'refund_of'),
    'refund': ('id', 'payment_id', 'bill_id', 'case_id', 'reversal_id'),
    'checkout': ('id', 'bill_id', 'case_id', 'payment_id'),
    'gateway_callback': ('id', 'checkout_id'),
    'queue_ticket': ('id', 'transferred_from_id', 'case_id'),
    'queue_call': ('id', 'ticket_id'),
    'booking': ('ticket_id',),
}


def _alter(to: str) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table_name, columns in _COLUMNS.items():
        changes = ', '.join(f'ALTER COLUMN {column} TYPE {to}' for column in columns)
        op.execute(f'ALTER TABLE {table_name} {changes}')
        if 'id' in columns:
            # Found by the column, whatever the sequence's name (SERIAL names it <table>_id_seq).
            sequence = op.get_bind().exec_driver_sql(
                f"SELECT pg_get_serial_sequence('{table_name}', 'id')").scalar_one()
            op.execute(f'ALTER SEQUENCE {sequence} AS {to}')


def upgrade() -> None:
    _alter('BIGINT')


def downgrade() -> None:
    # Refused by PostgreSQL once an id is past INTEGER's range (a center node's ids are): nothing is cut short.
    _alter('INTEGER')
