"""open311: keys issued to outside applications (hashed) and the requests they filed

Revision ID: 0026_open311
Revises: 0025_booking
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0026_open311'
down_revision = '0025_booking'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'open311_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', _S(length=100), nullable=False),
        sa.Column('key_hash', _S(length=64), nullable=False),
        sa.Column('created_by', _S(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
        sa.UniqueConstraint('key_hash'),
    )
    op.create_table(
        'open311_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key_id', sa.Integer(), nullable=False),
        sa.Column('request_hash', _S(length=64), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('description', _S(length=4000), nullable=True),
        sa.Column('address', _S(length=300), nullable=True),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('long', sa.Float(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['key_id'], ['open311_key.id']),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key_id', 'request_hash'),
        sa.UniqueConstraint('case_id'),
    )
    op.create_index('ix_open311_request_key_id', 'open311_request', ['key_id'])


def downgrade() -> None:
    op.drop_index('ix_open311_request_key_id', table_name='open311_request')
    op.drop_table('open311_request')
    op.drop_table('open311_key')
