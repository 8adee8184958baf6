"""payments: bills issued by the diagrams, drawer sessions and their chain, payments, receipt counters, refunds

Revision ID: 0019_payments
Revises: 0018_assignment
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0019_payments'
down_revision = '0018_assignment'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'bill',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('number', _S(length=48), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=True),
        sa.Column('service_code', _S(length=100), nullable=False),
        sa.Column('task_id', _S(length=36), nullable=False),
        sa.Column('element', _S(length=255), nullable=False),
        sa.Column('currency', _S(length=3), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('paid', sa.BigInteger(), nullable=False),
        sa.Column('items', sa.JSON(), nullable=False),
        sa.Column('partial_allowed', sa.Boolean(), nullable=False),
        sa.Column('status', _S(length=16), nullable=False),
        _ts('issued_at'), _ts('due_at', True), _ts('settled_at', True),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id']),
        sa.ForeignKeyConstraint(['center_id'], ['center.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('number'),
    )
    op.create_index('ix_bill_case', 'bill', ['case_id'])
    op.create_index('ix_bill_status_center', 'bill', ['status', 'center_id'])
    op.create_table(
        'cashier_session',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cashier', _S(length=64), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=True),
        sa.Column('status', _S(length=16), nullable=False),
        sa.Column('opening', sa.JSON(), nullable=False),
        sa.Column('expected', sa.JSON(), nullable=True),
        sa.Column('counted', sa.JSON(), nullable=True),
        sa.Column('difference', sa.JSON(), nullable=True),
        _ts('opened_at'), _ts('closed_at', True),
        sa.Column('acknowledged_by', _S(length=64), nullable=True),
        _ts('acknowledged_at', True),
        sa.Column('acknowledge_reason', _S(length=1000), nullable=True),
        sa.Column('audit_seq', sa.Integer(), nullable=False),
        sa.Column('audit_head', _S(length=64), nullable=False),
        sa.ForeignKeyConstraint(['center_id'], ['center.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_cashier_session_cashier_status', 'cashier_session', ['cashier', 'status'])
    op.create_table(
        'cashier_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('at', _S(length=40), nullable=False),
        sa.Column('actor', _S(length=64), nullable=False),
        sa.Column('kind', _S(length=40), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('prev_hash', _S(length=64), nullable=False),
        sa.Column('hash', _S(length=64), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['cashier_session.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('session_id', 'seq'),
    )
    op.create_table(
        'payment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', _S(length=16), nullable=False),
        sa.Column('bill_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=True),
        sa.Column('service_code', _S(length=100), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=True),
        sa.Column('cashier', _S(length=64), nullable=False),
        sa.Column('method', _S(length=16), nullable=False),
        sa.Column('currency', _S(length=3), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('tendered', sa.BigInteger(), nullable=False),
        sa.Column('change', sa.BigInteger(), nullable=False),
        sa.Column('reference', _S(length=100), nullable=True),
        sa.Column('receipt_number', _S(length=40), nullable=True),
        sa.Column('refund_of', sa.Integer(), nullable=True),
        _ts('at'),
        sa.ForeignKeyConstraint(['bill_id'], ['bill.id']),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id']),
        sa.ForeignKeyConstraint(['center_id'], ['center.id']),
        sa.ForeignKeyConstraint(['session_id'], ['cashier_session.id']),
        sa.ForeignKeyConstraint(['refund_of'], ['payment.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('receipt_number'),
    )
    op.create_index('ix_payment_bill', 'payment', ['bill_id'])
    op.create_index('ix_payment_at', 'payment', ['at'])
    op.create_index('ix_payment_session', 'payment', ['session_id'])
    op.create_table(
        'receipt_counter',
        sa.Column('center_code', _S(length=32), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('last', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('center_code', 'year'),
    )
    op.create_table(
        'refund',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('payment_id', sa.Integer(), nullable=False),
        sa.Column('bill_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=True),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('reason', _S(length=1000), nullable=False),
        sa.Column('status', _S(length=16), nullable=False),
        sa.Column('requested_by', _S(length=64), nullable=False),
        _ts('requested_at'),
        sa.Column('decided_by', _S(length=64), nullable=True),
        _ts('decided_at', True),
        sa.Column('decision_reason', _S(length=1000), nullable=True),
        sa.Column('reversal_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['payment_id'], ['payment.id']),
        sa.ForeignKeyConstraint(['bill_id'], ['bill.id']),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id']),
        sa.ForeignKeyConstraint(['center_id'], ['center.id']),
        sa.ForeignKeyConstraint(['reversal_id'], ['payment.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_refund_status_center', 'refund', ['status', 'center_id'])


def downgrade() -> None:
    op.drop_index('ix_refund_status_center', table_name='refund')
    op.drop_table('refund')
    op.drop_table('receipt_counter')
    op.drop_index('ix_payment_session', table_name='payment')
    op.drop_index('ix_payment_at', table_name='payment')
    op.drop_index('ix_payment_bill', table_name='payment')
    op.drop_table('payment')
    op.drop_table('cashier_event')
    op.drop_index('ix_cashier_session_cashier_status', table_name='cashier_session')
    op.drop_table('cashier_session')
    op.drop_index('ix_bill_status_center', table_name='bill')
    op.drop_index('ix_bill_case', table_name='bill')
    op.drop_table('bill')
