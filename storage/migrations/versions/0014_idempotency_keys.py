"""idempotency keys: the first answer of a request, replayed to its retries

Revision ID: 0014_idempotency_keys
Revises: 0013_accounts
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0014_idempotency_keys'
down_revision = '0013_accounts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'idempotency_key',
        sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column('body', sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint('username', 'key'),
    )
    with op.batch_alter_table('idempotency_key') as batch:
        batch.create_index(batch.f('ix_idempotency_key_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('idempotency_key') as batch:
        batch.drop_index(batch.f('ix_idempotency_key_created_at'))
    op.drop_table('idempotency_key')
