"""The tables. Only engine commands write them (see docs/architecture.md).

``case.state`` holds the one serialized SpiffWorkflow state of a case; ``task`` and the status columns of
``case`` are projections of it, rewritten in the same transaction whenever the case advances, so that
inboxes and searches never load a workflow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(**kw: Any) -> Any:
    return Field(sa_type=DateTime(timezone=True), **kw)  # type: ignore[call-overload]


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    full_name: str = Field(max_length=200)
    password_hash: str = Field(max_length=255)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_at: datetime = _ts(default_factory=utcnow)
    # What the pages speak and which calendar their dates use, remembered per user ('ar'/'en', 'gregory'/'islamic').
    language: str = Field(default="ar", max_length=8, sa_column_kwargs={"server_default": "ar"})
    calendar: str = Field(default="gregory", max_length=16, sa_column_kwargs={"server_default": "gregory"})
    # The service center the user works at (storage/models_centers.py); none = every center.
    center_id: int | None = Field(default=None, foreign_key="center.id", index=True)
    # Raised by a sign-out, a deactivation or a new password: every token and page cookie carries the number
    # it was issued under, and one that does not match is refused (engine/users.py ``actor_from_token``).
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class ProcessVersion(SQLModel, table=True):
    """One immutable, content-addressed version of a service's diagrams, forms and metadata."""

    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("service_code", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    service_code: str = Field(max_length=100, index=True)
    process_id: str = Field(max_length=255)
    version: int
    sha256: str = Field(max_length=64, unique=True)
    files: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    service: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
    retired: bool = False


class Case(SQLModel, table=True):
    __tablename__ = "case_file"
    __table_args__ = (Index("ix_case_status_service", "status", "service_code"),)

    id: int | None = Field(default=None, primary_key=True)
    tracking_number: str = Field(max_length=32, unique=True)
    service_code: str = Field(max_length=100)
    process_version_id: int = Field(foreign_key="process_version.id", index=True)
    status: str = Field(max_length=16, default="open")
    national_id: str = Field(max_length=32, index=True)
    citizen_name: str = Field(max_length=200)
    phone: str = Field(max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(sa_column=Column(Text, nullable=False))
    state_format: str = Field(max_length=32)
    version: int = 1
    current_step: str | None = Field(default=None, max_length=255)
    outcome: str | None = Field(default=None, max_length=255)
    due_at: datetime | None = _ts(default=None, nullable=True)
    # When the earliest timer the case waits on falls due: the periodic tick looks only at these cases.
    timer_due_at: datetime | None = _ts(default=None, nullable=True, index=True)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    audit_seq: int = 0
    audit_head: str = Field(default="", max_length=64)
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    completed_at: datetime | None = _ts(default=None, nullable=True)
    # The center of the clerk who opened the case (engine/centers.py).
    center_id: int | None = Field(default=None, foreign_key="center.id", index=True)
    # Who wrote each top-level field of ``data`` (forms/ownership.py): "citizen", "start", "diagram" or
    # "task:<BPMN id>". NULL for cases opened before the record was kept (engine/owners.py works it out).
    owners: dict[str, str] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))


class Task(SQLModel, table=True):
    """Projection of one user task of a case; ``id`` is SpiffWorkflow's task id."""

    __tablename__ = "task"
    # ix_task_due: the overdue queue and the escalation tick (ready tasks by due time).
    __table_args__ = (Index("ix_task_inbox", "state", "lane", "created_at"), Index("ix_task_due", "state", "due_at"))

    id: str = Field(primary_key=True, max_length=36)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    # Copied from the case (they never change) so the inbox answers from this table alone.
    tracking_number: str = Field(max_length=32)
    service_code: str = Field(max_length=100)
    name: str = Field(max_length=255)
    title: str = Field(max_length=255)
    lane: str = Field(max_length=100)
    form: str | None = Field(default=None, max_length=255)
    state: str = Field(max_length=16, default="ready")
    claimed_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
    due_at: datetime | None = _ts(default=None, nullable=True)
    completed_by: str | None = Field(default=None, max_length=64)
    completed_at: datetime | None = _ts(default=None, nullable=True)
    # Copied from the case, so the inbox scopes by center from this table alone.
    center_id: int | None = Field(default=None, foreign_key="center.id", index=True)
    # Escalation (engine/escalation.py): when the lane was reminded, how far the task has gone up.
    reminded_at: datetime | None = _ts(default=None, nullable=True)
    escalation_level: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    escalated_at: datetime | None = _ts(default=None, nullable=True)


class AuditEvent(SQLModel, table=True):
    """One link of a case's hash chain. Rows are only ever inserted."""

    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id")
    seq: int
    at: str = Field(max_length=40)
    actor: str = Field(max_length=64)
    kind: str = Field(max_length=40)
    task: str | None = Field(default=None, max_length=255)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    # What the command left behind, on the last event it wrote: SHA-256 of the stored state and of the data,
    # status, outcome and ready tasks (engine/audit.py ``after_of``). Covered by the hash when present.
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class AuditSeal(SQLModel, table=True):
    """One entry of the ledger: a Merkle root over the chain heads of every case at the moment of sealing.

    Entries are chained (``prev_hash``) and signed with the installation's key (engine/ledger.py)."""

    __tablename__ = "audit_seal"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    sealed_at: str = Field(max_length=40)
    case_count: int
    # Leaves recorded with this seal: the cases opened or moved on since the previous seal.
    leaf_count: int
    root: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    public_key: str = Field(max_length=64)
    signature: str = Field(max_length=128)


class AuditSealLeaf(SQLModel, table=True):
    """A case's chain head as a seal saw it, written with the first seal after the case moved.

    No foreign key to the case: the leaf must outlive a deleted case, to name it."""

    __tablename__ = "audit_seal_leaf"

    seal_seq: int = Field(primary_key=True)
    case_id: int = Field(primary_key=True)
    tracking_number: str = Field(max_length=32)
    audit_seq: int
    audit_head: str = Field(max_length=64)


class AuditAccess(SQLModel, table=True):
    """One auditor's read (a search, a case, its events, a replay, its history, an export).

    An append-only hash chain of its own, kept apart from the cases' chains: a read must never conflict with
    a clerk's write nor change a case's version (docs/auditor-guide.md)."""

    __tablename__ = "audit_access"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    at: str = Field(max_length=40)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=40)
    case_id: int | None = Field(default=None, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class Document(SQLModel, table=True):
    """One scan of one paper of a case, kept in the document store under ``storage_key``.

    Rows are only inserted: a new scan of the same kind is the next ``version``, and the earlier ones stay.
    """

    __tablename__ = "document"
    __table_args__ = (UniqueConstraint("case_id", "kind", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    kind: str = Field(max_length=64)
    version: int
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int = Field(sa_type=BigInteger)  # type: ignore[call-overload]
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=255, unique=True)
    uploaded_by: str = Field(max_length=64)
    uploaded_at: datetime = _ts(default_factory=utcnow)


class DocumentWaiver(SQLModel, table=True):
    """A supervisor's decision that a case may go past intake without one required document."""

    __tablename__ = "document_waiver"
    __table_args__ = (UniqueConstraint("case_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id")
    kind: str = Field(max_length=64)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    waived_by: str = Field(max_length=64)
    waived_at: datetime = _ts(default_factory=utcnow)


class CustodyMove(SQLModel, table=True):
    """One step in the travels of a paper original: sent somewhere (``moved``) or confirmed there (``received``).

    Rows are only inserted; where an original is now is its last row.
    """

    __tablename__ = "custody_move"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    kind: str = Field(max_length=64)
    action: str = Field(max_length=16)
    location: str = Field(max_length=100)
    actor: str = Field(max_length=64)
    at: datetime = _ts(default_factory=utcnow)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


from storage.models_accounts import *  # noqa: E402,F401,F403
from storage.models_centers import *  # noqa: E402,F401,F403
from storage.models_drafts import *  # noqa: E402,F401,F403
from storage.models_idempotency import *  # noqa: E402,F401,F403
from storage.models_messages import *  # noqa: E402,F401,F403
from storage.models_queue import *  # noqa: E402,F401,F403
from storage.models_ratings import *  # noqa: E402,F401,F403
from storage.models_reports import *  # noqa: E402,F401,F403
