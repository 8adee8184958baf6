"""centers, and the columns of due dates and escalation on tasks

Revision ID: 0009
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'center',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('name_ar', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('name_en', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=True),
        sa.Column('holidays', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['parent_id'], ['center.id'], name='fk_center_parent_id'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code'),
    )
    op.create_index(op.f('ix_center_parent_id'), 'center', ['parent_id'], unique=False)
    for table in ('app_user', 'case_file'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('center_id', sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_{table}_center_id'), ['center_id'], unique=False)
            batch_op.create_foreign_key(f'fk_{table}_center_id', 'center', ['center_id'], ['id'])
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('center_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalation_level', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_task_center_id'), ['center_id'], unique=False)
        batch_op.create_index('ix_task_due', ['state', 'due_at'], unique=False)
        batch_op.create_foreign_key('fk_task_center_id', 'center', ['center_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_constraint('fk_task_center_id', type_='foreignkey')
        batch_op.drop_index('ix_task_due')
        batch_op.drop_index(batch_op.f('ix_task_center_id'))
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('escalation_level')
        batch_op.drop_column('reminded_at')
        batch_op.drop_column('center_id')
    for table in ('case_file', 'app_user'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'fk_{table}_center_id', type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_center_id'))
            batch_op.drop_column('center_id')
    op.drop_index(op.f('ix_center_parent_id'), table_name='center')
    op.drop_table('center')
