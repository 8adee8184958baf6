"""assignment: each center's rule per lane, the round robin's turn, absences and days off, who a task was given to

Revision ID: 0018_assignment
Revises: 0017_outputs
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0018_assignment'
down_revision = '0017_outputs'
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        'assignment_rule',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=False),
        sa.Column('lane', _STR(length=100), nullable=False),
        sa.Column('rule', _STR(length=16), nullable=False),
        sa.Column('set_by', _STR(length=64), nullable=False),
        sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['center_id'], ['center.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('center_id', 'lane'),
    )
    op.create_table(
        'assignment_rule_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('center_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('at', _STR(length=40), nullable=False),
        sa.Column('actor', _STR(length=64), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('prev_hash', _STR(length=64), nullable=False),
        sa.Column('hash', _STR(length=64), nullable=False),
        sa.ForeignKeyConstraint(['center_id'], ['center.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('center_id', 'seq'),
    )
    op.create_table(
        'assignment_turn',
        sa.Column('center_id', sa.Integer(), nullable=False),
        sa.Column('lane', _STR(length=100), nullable=False),
        sa.Column('turns', sa.Integer(), nullable=False),
        sa.Column('last_username', _STR(length=64), nullable=True),
        sa.ForeignKeyConstraint(['center_id'], ['center.id']),
        sa.PrimaryKeyConstraint('center_id', 'lane'),
    )
    op.create_table(
        'absence',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', _STR(length=64), nullable=False),
        sa.Column('starts', sa.Date(), nullable=False),
        sa.Column('ends', sa.Date(), nullable=False),
        sa.Column('delegate', _STR(length=64), nullable=True),
        sa.Column('created_by', _STR(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('handed_over_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('absence') as batch:
        batch.create_index('ix_absence_user_days', ['username', 'starts', 'ends'], unique=False)
        batch.create_index(batch.f('ix_absence_handed_over_at'), ['handed_over_at'], unique=False)
    op.create_table(
        'unavailable_day',
        sa.Column('username', _STR(length=64), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('username', 'day'),
    )
    with op.batch_alter_table('task') as batch:
        batch.add_column(sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('delegated_from', _STR(length=64), nullable=True))
        batch.create_index('ix_task_claimed', ['claimed_by', 'state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('task') as batch:
        batch.drop_index('ix_task_claimed')
        batch.drop_column('delegated_from')
        batch.drop_column('assigned_at')
    op.drop_table('unavailable_day')
    with op.batch_alter_table('absence') as batch:
        batch.drop_index(batch.f('ix_absence_handed_over_at'))
        batch.drop_index('ix_absence_user_days')
    op.drop_table('absence')
    op.drop_table('assignment_turn')
    op.drop_table('assignment_rule_event')
    op.drop_table('assignment_rule')
