"""The database tables, one module per domain; ``base`` holds what they share.

Importing the package registers every table on SQLModel.metadata (Alembic and ``create_all`` need them all).
Callers import each table from its own module (``from storage.models.cases import Case``); nothing is
re-exported here.
"""

from storage.models import (  # noqa: F401  (each module registers its tables)
    accounts,
    assignment,
    audit,
    base,
    booking,
    cases,
    catalog,
    centers,
    citizen,
    drafts,
    idempotency,
    incidents,
    messages,
    open311,
    outputs,
    payments,
    people,
    queue,
    ratings,
    replicas,
    reports,
)
