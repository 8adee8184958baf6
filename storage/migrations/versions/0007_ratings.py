"""ratings: citizens' satisfaction with completed cases

Revision ID: 0007
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rating',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('service_code', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=True),
        sa.Column('clerk', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('score', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('reason_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('opened_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['case_file.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('case_id'),
    )
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_center_id'), ['center_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_clerk'), ['clerk'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_service_code'), ['service_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_service_code'))
        batch_op.drop_index(batch_op.f('ix_rating_clerk'))
        batch_op.drop_index(batch_op.f('ix_rating_center_id'))
    op.drop_table('rating')
