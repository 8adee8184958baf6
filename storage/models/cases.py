"""The case and its projections: ``case.state`` holds the one serialized SpiffWorkflow state of a case;
``task`` and the status columns of ``case`` are projections of it, rewritten in the same transaction whenever the
case advances, so that inboxes and searches never load a workflow. Documents, waivers and custody moves belong
to a case too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import _big, _ts, utcnow


class Case(SQLModel, table=True):
    __tablename__ = "case_file"
    # ix_case_file_created: the lists of cases newest first (engine/cases/lifecycle.py ``newest_first``).
    __table_args__ = (Index("ix_case_status_service", "status", "service_code"),
                      Index("ix_case_file_created", "created_at", "id"))

    id: int | None = _big(default=None, primary_key=True)
    tracking_number: str = Field(max_length=32, unique=True)
    service_code: str = Field(max_length=100)
    process_version_id: int = Field(foreign_key="process_version.id", index=True)
    status: str = Field(max_length=16, default="open")
    national_id: str = Field(max_length=32, index=True)
    citizen_name: str = Field(max_length=200)
    phone: str = Field(max_length=32, index=True)  # ix_case_file_phone: a citizen's own cases (engine/citizen)
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
    # The center of the clerk who opened the case (engine/people/centers.py).
    center_id: int | None = Field(default=None, foreign_key="center.id", index=True)
    # Who wrote each top-level field of ``data`` (forms/ownership.py): "citizen", "start", "diagram" or
    # "task:<BPMN id>". NULL for cases opened before the record was kept (engine/cases/owners.py works it out).
    owners: dict[str, str] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    # How the request came in: ``counter`` (registered at the window) or ``citizen_portal`` (the citizen
    # applied from the phone, engine/citizen/apply.py).
    channel: str = Field(default="counter", max_length=16, sa_column_kwargs={"server_default": "counter"})
    # The center node that owns the case (its center's code, storage/nodes.py): every write of the case happens
    # there. NULL: the case belongs to the node it was opened on when that is central or the only one.
    node: str | None = Field(default=None, max_length=32)


class MessageWait(SQLModel, table=True):
    """Projection of a case's message catch events that wait for a message *correlated* between cases (the
    message's correlation properties, SpiffWorkflow's ``correlationProperty``): which message, and the
    correlation key the waiting case holds (canonical JSON). Rewritten by ``workflows.save`` in the case's
    transaction; another case's thrown message finds its receiver here (engine/cases/correlated.py)."""

    __tablename__ = "message_wait"
    __table_args__ = (Index("ix_message_wait_key", "message", "correlation"),)

    id: int | None = _big(default=None, primary_key=True)
    case_id: int = _big(foreign_key="case_file.id", index=True)
    message: str = Field(max_length=255)
    correlation: str = Field(max_length=500)
    element: str = Field(max_length=255)


class Task(SQLModel, table=True):
    """Projection of one user task of a case; ``id`` is SpiffWorkflow's task id."""

    __tablename__ = "task"
    # ix_task_due: the overdue queue and the escalation tick (ready tasks by due time).
    __table_args__ = (Index("ix_task_inbox", "state", "lane", "created_at"), Index("ix_task_due", "state", "due_at"),
                      Index("ix_task_claimed", "claimed_by", "state"))

    id: str = Field(primary_key=True, max_length=36)
    case_id: int = _big(foreign_key="case_file.id", index=True)
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
    # Escalation (engine/cases/escalation.py): when the lane was reminded, how far the task has gone up.
    reminded_at: datetime | None = _ts(default=None, nullable=True)
    escalation_level: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    escalated_at: datetime | None = _ts(default=None, nullable=True)
    # Automatic assignment (engine/cases/assignment.py): when ``claimed_by`` was last given the task by a rule,
    # a supervisor or an absence; ``delegated_from``: the absent officer whose task this is for now.
    assigned_at: datetime | None = _ts(default=None, nullable=True)
    delegated_from: str | None = Field(default=None, max_length=64)
    # The absence that moved the task away from its officer (to the delegate, the rule or the lane); cleared
    # by any other move (a claim, a release, a supervisor's reassignment): set, the task goes back to the
    # officer when the absence ends (engine/cases/distribution.py).
    away_absence_id: int | None = None


class Document(SQLModel, table=True):
    """One scan of one paper of a case, kept in the document store under ``storage_key``.

    Rows are only inserted: a new scan of the same kind is the next ``version``, and the earlier ones stay.
    """

    __tablename__ = "document"
    __table_args__ = (UniqueConstraint("case_id", "kind", "version"),)

    id: int | None = _big(default=None, primary_key=True)
    case_id: int = _big(foreign_key="case_file.id", index=True)
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

    id: int | None = _big(default=None, primary_key=True)
    case_id: int = _big(foreign_key="case_file.id")
    kind: str = Field(max_length=64)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    waived_by: str = Field(max_length=64)
    waived_at: datetime = _ts(default_factory=utcnow)


class CustodyMove(SQLModel, table=True):
    """One step in the travels of a paper original: sent somewhere (``moved``) or confirmed there (``received``).

    Rows are only inserted; where an original is now is its last row.
    """

    __tablename__ = "custody_move"

    id: int | None = _big(default=None, primary_key=True)
    case_id: int = _big(foreign_key="case_file.id", index=True)
    kind: str = Field(max_length=64)
    action: str = Field(max_length=16)
    location: str = Field(max_length=100)
    actor: str = Field(max_length=64)
    at: datetime = _ts(default_factory=utcnow)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class CaseMessage(SQLModel, table=True):
    """A message one case sent to another (engine/cases/correlated.py), written in the sender's step's
    transaction and settled in the transaction that delivers it: ``pending`` until then, ``delivered`` (to
    ``receiver_case_id``) or ``held`` (no case took it: the sender's incident holds it). A message that a crash
    left pending after its sender's commit is delivered by the periodic job; the conditional update that settles
    it, in the receiver's own transaction, lets one delivery only take it."""

    __tablename__ = "case_message"
    __table_args__ = (Index("ix_case_message_status_sent", "status", "sent_at"),)

    id: int | None = _big(default=None, primary_key=True)
    key: str = Field(max_length=32, unique=True)  # also on the sender's ``message_sent`` and the receiver's event
    sender_case_id: int = _big(foreign_key="case_file.id", index=True)
    # Unbounded: the step that sends it has committed already, so no length of a diagram's message name or of
    # its key may fail the write (a key too long for ``message_wait`` finds no receiver: the sender's incident).
    message: str = Field(sa_column=Column(Text, nullable=False))
    correlation: str = Field(sa_column=Column(Text, nullable=False))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    sent_by: str = Field(max_length=64)
    sent_at: datetime = _ts(default_factory=utcnow)
    status: str = Field(default="pending", max_length=16)  # pending, delivered, held
    receiver_case_id: int | None = _big(default=None, foreign_key="case_file.id")
    settled_at: datetime | None = _ts(default=None, nullable=True)
