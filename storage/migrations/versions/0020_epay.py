"""e-payment: the providers' payment references for bills (checkout) and the verified callbacks they sent

Revision ID: 0020_epay
Revises: 0019_payments
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0020_epay'
down_revision = '0019_payments'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'checkout',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider', _S(length=32), nullable=False),
        sa.Column('reference', _S(length=100), nullable=False),
        sa.Column('bill_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=True),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('currency', _S(length=3), nullable=False),
        sa.Column('payment_url', _S(length=2000), nullable=False),
        sa.Column('status', _S(length=16), nullable=False),
        sa.Column('created_by', _S(length=64), nullable=False),
        _ts('created_at'),
        sa.Column('payment_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['bill_id'], ['bill.id']),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id']),
        sa.ForeignKeyConstraint(['center_id'], ['center.id']),
        sa.ForeignKeyConstraint(['payment_id'], ['payment.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('provider', 'reference'),
    )
    op.create_index('ix_checkout_bill', 'checkout', ['bill_id'])
    op.create_table(
        'gateway_callback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider', _S(length=32), nullable=False),
        sa.Column('reference', _S(length=100), nullable=False),
        sa.Column('checkout_id', sa.Integer(), nullable=True),
        sa.Column('status', _S(length=32), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('currency', _S(length=3), nullable=False),
        sa.Column('outcome', _S(length=16), nullable=False),
        sa.Column('body', _S(length=8000), nullable=False),
        _ts('received_at'),
        sa.ForeignKeyConstraint(['checkout_id'], ['checkout.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_gateway_callback_reference', 'gateway_callback', ['provider', 'reference'])


def downgrade() -> None:
    op.drop_index('ix_gateway_callback_reference', table_name='gateway_callback')
    op.drop_table('gateway_callback')
    op.drop_index('ix_checkout_bill', table_name='checkout')
    op.drop_table('checkout')
