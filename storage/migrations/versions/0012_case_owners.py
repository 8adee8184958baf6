"""cases: the record of who wrote each field of a case's data (forms/ownership.py)

Nullable: cases opened before it have no record; engine/cases/owners.py works theirs out from the audit trail.

Revision ID: 0012_case_owners
Revises: 0011
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012_case_owners'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_file') as batch:
        batch.add_column(sa.Column('owners', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('case_file') as batch:
        batch.drop_column('owners')
