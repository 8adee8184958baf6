"""Public models of the API: what goes in (…Create) and what comes out (…Public)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.params import DB_INT_MAX
from engine.cases.checklist import Checklist
from engine.cases.custody import Original
from storage.models.audit import AuditEvent
from storage.models.cases import Case, Document, DocumentWaiver, Task
from storage.models.catalog import ProcessVersion
from storage.models.people import User


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    full_name: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(default_factory=list, max_length=50)
    # Where the user works (a center's code): they see that center and the centers below it. A user without a
    # center sees every center, so that takes ``installation_wide: true``, on purpose (docs/security.md).
    center: str | None = Field(default=None, max_length=64)
    installation_wide: bool = False


class UserPublic(BaseModel):
    id: int
    username: str
    full_name: str
    roles: list[str]
    center_id: int | None = None

    @classmethod
    def of(cls, user: User) -> UserPublic:
        assert user.id is not None
        return cls(id=user.id, username=user.username, full_name=user.full_name, roles=list(user.roles),
                   center_id=user.center_id)


class ProcessPublic(BaseModel):
    process_id: str
    version: int
    sha256: str
    service_code: str
    created_by: str
    created_at: datetime | None
    lanes: list[str]
    user_tasks: dict[str, Any]
    retired: bool = False

    @classmethod
    def of(cls, row: ProcessVersion) -> ProcessPublic:
        return cls(process_id=row.process_id, version=row.version, sha256=row.sha256,
                   service_code=row.service_code, created_by=row.created_by, created_at=utc(row.created_at),
                   lanes=row.meta.get("lanes", []), user_tasks=row.meta.get("user_tasks", {}),
                   retired=row.retired)


class CitizenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    national_id: str = Field(max_length=32)
    full_name: str = Field(max_length=200)
    phone: str = Field(max_length=32)
    # The language of the citizen's messages (Arabic when not given) and an optional e-mail address.
    language: Literal["ar", "en"] | None = None
    email: str | None = Field(default=None, max_length=254)


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_code: str = Field(min_length=1, max_length=100)
    citizen: CitizenIn
    data: dict[str, Any] = Field(default_factory=dict)
    # The called queue ticket the case is opened from (engine/queue/links.py), e.g. "P-014".
    ticket: str | None = Field(default=None, max_length=16)


class CitizenCorrection(BaseModel):
    """The contact details to correct (only those sent change; an empty e-mail removes it) and why."""

    model_config = ConfigDict(extra="forbid")
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    language: Literal["ar", "en"] | None = None
    # Checked by the engine, which says what is wrong in English and Arabic (a missing reason is a 422 too).
    reason: str = Field(default="", max_length=5000)


class TaskComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = Field(default_factory=dict)


class MessageSend(BaseModel):
    """A message sent to a case from outside (engine/cases/inbound.py): its payload, a JSON object."""

    model_config = ConfigDict(extra="forbid")
    payload: dict[str, Any] = Field(default_factory=dict)


class CaseCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


# A deliberate mirror of storage/models/cases.py's Task, built field for field by ``of`` (like the money's
# models in api/routes/payments.py, BillPublic to RefundPublic): the response model is the promise written in the
# OpenAPI document, and a column added to the table does not leak out unseen.
class TaskPublic(BaseModel):
    id: str
    case_id: int
    tracking_number: str
    service_code: str
    name: str
    title: str
    lane: str
    state: str
    claimed_by: str | None
    created_at: datetime | None
    due_at: datetime | None
    form: str | None
    reminded_at: datetime | None = None  # the lane was reminded: the task is near its due time
    escalation_level: int = 0  # 0 until overdue; then the level its service's escalation rules reached
    # Whose task it is: given by the lane's rule, a supervisor or a delegation, or claimed under ``pick``
    # (null until then). The same officer as ``claimed_by``, kept for older clients.
    assigned_to: str | None = None
    # The absent officer whose task this is while they are away (the delegate's inbox shows it apart).
    delegated_from: str | None = None

    @classmethod
    def of(cls, task: Task) -> TaskPublic:
        return cls(id=task.id, case_id=task.case_id, tracking_number=task.tracking_number,
                   service_code=task.service_code, name=task.name, title=task.title, lane=task.lane,
                   state=task.state, claimed_by=task.claimed_by, created_at=utc(task.created_at),
                   due_at=utc(task.due_at), form=task.form, reminded_at=utc(task.reminded_at),
                   escalation_level=task.escalation_level or 0, assigned_to=task.claimed_by,
                   delegated_from=getattr(task, "delegated_from", None))


class TaskDetail(TaskPublic):
    form_schema: dict[str, Any] | None = None


class CitizenPublic(BaseModel):
    national_id: str
    full_name: str
    phone: str


class CasePublic(BaseModel):
    id: int
    tracking_number: str
    status: str
    service_code: str
    process_version: int
    current_step: str | None
    outcome: str | None
    data: dict[str, Any]
    # Who wrote each top-level field of ``data``: "citizen", "start", "diagram" or "task:<BPMN id>"
    # (docs/security.md); null for a case opened before the record was kept.
    owners: dict[str, str] | None = None
    # How the request came in: "counter" (the window) or "citizen_portal" (applied for online).
    channel: str = "counter"
    citizen: CitizenPublic
    tasks: list[TaskPublic]
    created_at: datetime | None
    updated_at: datetime | None
    due_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, case: Case, tasks: list[Task], version: int) -> CasePublic:
        assert case.id is not None
        return cls(id=case.id, tracking_number=case.tracking_number, status=case.status,
                   service_code=case.service_code, process_version=version, current_step=case.current_step,
                   outcome=case.outcome, data=case.data, owners=case.owners, channel=case.channel,
                   citizen=CitizenPublic(national_id=case.national_id, full_name=case.citizen_name,
                                         phone=case.phone),
                   tasks=[TaskPublic.of(t) for t in tasks], created_at=utc(case.created_at),
                   updated_at=utc(case.updated_at), due_at=utc(case.due_at), completed_at=utc(case.completed_at))


class CaseSummary(BaseModel):
    id: int
    tracking_number: str
    status: str
    service_code: str
    current_step: str | None
    national_id: str
    citizen_name: str
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, case: Case) -> CaseSummary:
        assert case.id is not None
        return cls(id=case.id, tracking_number=case.tracking_number, status=case.status,
                   service_code=case.service_code, current_step=case.current_step, national_id=case.national_id,
                   citizen_name=case.citizen_name, created_at=utc(case.created_at), updated_at=utc(case.updated_at))


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


class EventPublic(BaseModel):
    seq: int
    at: str
    actor: str
    kind: str
    task: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str
    # On the last event of a command that moved the workflow: digests of what it left (engine/core/chain.py).
    after: dict[str, Any] | None = None

    @classmethod
    def of(cls, ev: AuditEvent) -> EventPublic:
        return cls(seq=ev.seq, at=ev.at, actor=ev.actor, kind=ev.kind, task=ev.task, data=ev.data,
                   prev_hash=ev.prev_hash, hash=ev.hash, after=ev.after)


# DivergencePublic and ReplayPublic deliberately mirror engine.cases.replay.Divergence and ReplayResult, for the
# same reason as HistoryStep below: the response model is the promise written in the OpenAPI document.
class DivergencePublic(BaseModel):
    seq: int
    expected: Any
    actual: Any


class ReplayPublic(BaseModel):
    """``GET /api/cases/{id}/replay``: did re-running the recorded steps reach the recorded state?"""

    consistent: bool
    events_replayed: int
    divergence: DivergencePublic | None


# A deliberate mirror of engine.cases.replay.Step, field for field: the API's response model declares the
# shape it promises in the OpenAPI document, and a new field in the engine does not leak out unseen.
class HistoryStep(BaseModel):
    """Where the case stood right after one event (the time-travel page highlights ``ready``, ``waiting``
    and ``completed`` BPMN element ids on the diagram of ``process_version``)."""

    seq: int
    at: str
    actor: str
    kind: str
    task: str | None
    event_data: dict[str, Any]
    process_version: int
    status: str
    ready: list[str]
    waiting: list[str]
    completed: list[str]
    data: dict[str, Any]
    diff: dict[str, Any]


class HistoryPublic(BaseModel):
    case_id: int
    tracking_number: str
    steps: list[HistoryStep]
    replay: ReplayPublic


class AuditCaseSummary(CaseSummary):
    outcome: str | None
    completed_at: datetime | None
    officers: list[str]


class AuditCasePage(BaseModel):
    items: list[AuditCaseSummary]
    total: int
    limit: int
    offset: int


class AccessPublic(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    case_id: int | None
    detail: dict[str, Any]


class TrackPublic(BaseModel):
    """What anyone holding the tracking number and the phone's last digits may see: no personal data."""

    tracking_number: str
    service: dict[str, Any]
    status: str
    current_step: str | None
    current_step_ar: str | None
    updated_at: datetime | None
    # A resolved complaint reads "resolved" while the citizen may reopen it, until this moment.
    reopen_until: datetime | None = None
    # The case's issued documents with their verification links (docs/documents.md), never the PDF itself.
    documents: list[dict[str, Any]] = []


class ServiceFound(BaseModel):
    """One service a search found (engine/catalog/finder.py), best first: its names, agency, time to complete."""

    service_code: str
    name: dict[str, str] | None
    agency: dict[str, str] | None
    sla_days: float | None
    score: float


class ServiceSearchPublic(BaseModel):
    query: str
    results: list[ServiceFound]


class ServicePagePublic(BaseModel):
    """A service as its public page shows it (engine/catalog/service_page.py): papers, fee or fee table, time to
    complete, where to go, questions and answers."""

    service_code: str
    name: dict[str, str] | None
    agency: dict[str, str] | None
    sla_days: float | None
    documents: list[dict[str, Any]]
    fee: dict[str, Any]
    where: dict[str, str] | None
    centers: list[dict[str, Any]]
    faq: list[dict[str, Any]]
    synonyms: dict[str, list[str]]


class DocumentPublic(BaseModel):
    id: int
    case_id: int
    kind: str
    version: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime | None

    @classmethod
    def of(cls, doc: Document) -> DocumentPublic:
        assert doc.id is not None
        return cls(id=doc.id, case_id=doc.case_id, kind=doc.kind, version=doc.version, filename=doc.filename,
                   content_type=doc.content_type, size=doc.size, sha256=doc.sha256, uploaded_by=doc.uploaded_by,
                   uploaded_at=utc(doc.uploaded_at))


class WaiverCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=2000)


class WaiverPublic(BaseModel):
    kind: str
    reason: str
    waived_by: str
    waived_at: datetime | None

    @classmethod
    def of(cls, waiver: DocumentWaiver) -> WaiverPublic:
        return cls(kind=waiver.kind, reason=waiver.reason, waived_by=waiver.waived_by,
                   waived_at=utc(waiver.waived_at))


class ChecklistItem(BaseModel):
    kind: str
    ar: str
    en: str
    required: bool
    present: bool
    versions: int
    latest: DocumentPublic | None
    waiver: WaiverPublic | None


class ChecklistPublic(BaseModel):
    complete: bool
    missing: list[str]
    blocking: list[str]
    items: list[ChecklistItem]

    @classmethod
    def of(cls, found: Checklist) -> ChecklistPublic:
        return cls(complete=found.complete, missing=found.missing, blocking=found.blocking, items=[
            ChecklistItem(kind=i.paper.kind, ar=i.paper.ar, en=i.paper.en, required=i.paper.required,
                          present=bool(i.documents), versions=len(i.documents),
                          latest=DocumentPublic.of(i.latest) if i.latest else None,
                          waiver=WaiverPublic.of(i.waiver) if i.waiver else None)
            for i in found.items])


class OriginalMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(min_length=1, max_length=64)
    to: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)


class CustodyStep(BaseModel):
    action: str
    location: str
    actor: str
    at: datetime | None
    note: str | None


class OriginalPublic(BaseModel):
    kind: str
    location: str
    awaiting_receipt: bool
    moved_by: str
    moved_at: datetime | None
    received_by: str | None
    received_at: datetime | None
    history: list[CustodyStep]

    @classmethod
    def of(cls, found: Original) -> OriginalPublic:
        return cls(kind=found.kind, location=found.location, awaiting_receipt=found.awaiting_receipt,
                   moved_by=found.moved_by, moved_at=utc(found.moved_at), received_by=found.received_by,
                   received_at=utc(found.received_at),
                   history=[CustodyStep(action=m.action, location=m.location, actor=m.actor, at=utc(m.at),
                                        note=m.note) for m in found.history])


class MigrationRequest(BaseModel):
    """``POST /api/services/{code}/migrations``: move open cases of older versions to ``to_version``."""

    model_config = ConfigDict(extra="forbid")
    to_version: int = Field(ge=1, le=DB_INT_MAX)
    dry_run: bool = True


class CaseMovePublic(BaseModel):
    case_id: int
    tracking_number: str
    from_version: int
    movable: bool
    moved: bool
    reason: str | None


class MigrationPublic(BaseModel):
    service_code: str
    to_version: int
    dry_run: bool
    cases: list[CaseMovePublic]
    moved: int
    not_moved: int


class VersionPublic(BaseModel):
    service_code: str
    version: int
    sha256: str
    created_by: str
    created_at: datetime | None
    retired: bool

    @classmethod
    def of(cls, row: ProcessVersion) -> VersionPublic:
        return cls(service_code=row.service_code, version=row.version, sha256=row.sha256, created_by=row.created_by,
                   created_at=utc(row.created_at), retired=row.retired)


class MessagePublic(BaseModel):
    """One message to the case's citizen and how its sending went (``status``: pending, sending, sent,
    failed; ``last_error`` from the gateway)."""

    id: int
    stage: str
    channel: str
    recipient: str
    language: str
    body: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    gateway: str | None
    created_at: datetime
    sent_at: datetime | None
