"""Commands and queries on cases: open, read, list, cancel. Each command is one transaction."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.bpmn import runner
from engine.bpmn.compiler import CompiledProcess
from engine.cases import owners, workflows
from engine.catalog import processes
from engine.core import clock, metrics, nodes, tracking
from engine.core.errors import Conflict, Invalid, NotFound, ScriptOverLimit
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import centers, policy
from engine.people.identity import check_citizen, normalise_national_id
from engine.people.users import Actor
from engine.queue import links as queue_links
from storage.db import write_lock
from storage.models.base import answered_from, loaded, made, table
from storage.models.cases import Case, Task
from storage.models.catalog import ProcessVersion

_TRACKING_ATTEMPTS = 8


_CASES = table(Case)
_CASE = _CASES.select().where(_CASES.c.id == bindparam("case_id"))


def load_case(session: Session, case_id: int) -> Case:
    """The case row, detached: commands write it back only through ``workflows.save``'s versioned UPDATE.

    Read with one Core statement built once (``Session.get``'s trip through the ORM's query machinery costs more
    than the SELECT); a case the session holds already is taken out of it, as ``Session.get`` would answer."""
    if answered_from(session, Case, case_id):
        case = session.get(Case, case_id)
        if case is not None:
            session.expunge(case)
    else:
        case = read_case(session, case_id)
    if case is None:
        raise NotFound("case.not_found", case_id=case_id)
    return case


def read_case(session: Session, case_id: int) -> Case | None:
    """The case row read afresh, detached (None when there is none); the caller flushed pending changes first, as
    ``Session.get`` does (``load_case``: ``answered_from``)."""
    row = session.connection().execute(_CASE, {"case_id": case_id}).mappings().first()
    return loaded(Case, row) if row is not None else None


def process_failed(exc: runner.ProcessFailed, process: CompiledProcess | None = None) -> Invalid | ScriptOverLimit:
    """The refusal for a diagram that failed: a 409 when a script went over a limit, else a 422."""
    if exc.limit is not None:
        name = runner.element_name(process, exc.element_id) if process is not None else None
        where = f"the script of '{name}' ({exc.element_id})" if name else f"the script of '{exc.element_id}'"
        return ScriptOverLimit("case.script_over_limit", limit=exc.limit, element_id=exc.element_id,
                               where=where, message=exc.message)
    return Invalid("case.process_failed",
                   [{"loc": ["process", exc.element_id or ""], "element_id": exc.element_id,
                     "msg": exc.message, "type": "process_failed"}], message=exc.message)


def node_center_id(session: Session, settings: Settings) -> int | None:
    """The id of a center node's center (its tracking numbers carry it, engine/core/tracking.py); None on central and
    on a single installation. Refused while the center is not among the centers yet (they come from central)."""
    if settings.node_role != "center" or settings.node_center is None:
        return None
    return nodes.center_id_of(session, settings.node_center)


@dataclass(frozen=True)
class Outcome:
    """What a command on a case leaves, as every face shows it: the case as written, its ready tasks (oldest
    first, as written by the same transaction) and the number of the service version it runs on. A face
    shows this; it does not read the case again."""

    case: Case
    tasks: list[Task]
    version: int


def open_case(*, session: Session, service_code: str, citizen: dict[str, Any], data: dict[str, Any],
              actor: Actor, settings: Settings, ticket: str | None = None,
              attach: Callable[[Session, int], None] | None = None) -> Outcome:
    """Open a case; ``ticket`` is the number of the called queue ticket it is opened from, tied to it in
    the same transaction (engine/queue/links.py); ``attach`` writes the caller's own rows about the new case
    (its id given) in that transaction too, so that both are written or neither."""
    started = time.perf_counter()
    version = processes.latest_reference(session, service_code)  # not the row: its files are not needed here
    process = processes.cache.get(session, version.id, settings)
    policy.require(actor, "case.open", settings, lanes=process.start_lanes)
    return start_case(session=session, version=version, process=process, citizen=citizen, data=data, actor=actor,
                      settings=settings, ticket=ticket, started=started, attach=attach)


#: How a case came in (``Case.channel``): registered at the window, or applied for by the citizen online.
COUNTER, CITIZEN_PORTAL = "counter", "citizen_portal"


def start_case(*, session: Session, version: ProcessVersion, process: CompiledProcess, citizen: dict[str, Any],
               data: dict[str, Any], actor: Actor, settings: Settings, ticket: str | None = None,
               channel: str = COUNTER, started: float | None = None,
               attach: Callable[[Session, int], None] | None = None) -> Outcome:
    """Open a case of ``version`` once the caller decided who may (``open_case``: the policy; the citizen's
    online application, engine/citizen/apply.py: the service's ``online``). ``channel`` is recorded on the case
    and, when not the counter, in its ``case_opened`` event."""
    started = time.perf_counter() if started is None else started
    assert version.id is not None
    person = check_citizen(citizen, settings)
    owners.check_open(process, data)
    start_data = {**data, "citizen": person.model_dump(exclude_none=True)}
    if process.service.case_settings:  # what the diagram reads of the settings (service.toml case_settings)
        start_data["settings"] = {name: getattr(settings, name) for name in process.service.case_settings}
    now = clock.now()  # the case's first moment: its scripts and timers run at it, its first event records it
    try:
        workflow = runner.start(process, start_data, runner.limits(settings), at=now)
    except runner.ProcessFailed as exc:
        raise process_failed(exc, process) from exc
    snapped = workflows.snapshot(workflow, process)  # taken once: the row's columns now, and save's
    values = dict(snapped[0])
    sla = process.service.sla_days
    holidays = centers.holidays_of(session.connection(), actor.center_id) if sla else frozenset()
    ticket_id = queue_links.linkable(session, ticket, settings, actor.center_id) if ticket else None
    node_center = node_center_id(session, settings)
    with write_lock(session):
        for _ in range(_TRACKING_ATTEMPTS):
            number = tracking.new_tracking_number(settings.tracking_digits, center_id=node_center,
                                                  random_min=settings.tracking_center_random_digits)
            # As Case(...) makes it, without the ORM's per-field trip: the flush inserts what the object holds.
            case = made(Case, {"tracking_number": number,
                               "service_code": version.service_code, "process_version_id": version.id,
                               "national_id": person.national_id, "citizen_name": person.full_name,
                               "phone": person.phone, "created_by": actor.username, "created_at": now,
                               "updated_at": now, "due_at": workflows.due(now, sla, settings, holidays),
                               "center_id": actor.center_id, "channel": channel, "node": settings.node_center,
                               **values})
            session.add(case)
            try:
                session.flush()
            except IntegrityError:
                session.rollback()  # a tracking number collision: draw another
                continue
            break
        else:  # pragma: no cover - needs eight collisions in a row
            raise Conflict("case.no_free_tracking_number")
        session.expunge(case)
        if ticket_id is not None:
            assert case.id is not None
            queue_links.link(session, ticket_id, case.id, now)
        if attach is not None:
            assert case.id is not None
            attach(session, case.id)
        # The opened event carries what replay needs to start the same case again.
        events: list[tuple[str, str | None, dict[str, Any]]] = [
            ("case_opened", None, {"service_code": version.service_code, "process_version": version.version,
                                   "sha256": version.sha256, "data": start_data,
                                   **({"channel": channel} if channel != COUNTER else {})})]
        ready = workflows.save(session, case, workflow, process, actor=actor.username, events=events,
                               settings=settings, at=now, opened=True, snapped=snapped)
    metrics.observe_step(version.service_code, "(open)", started)  # "(open)": no BPMN id has brackets
    return Outcome(case, ready, version.version)


def get_case(*, session: Session, case_id: int, actor: Actor, settings: Settings, action: str = "case.read") -> Case:
    """The case, if the policy lets the actor take ``action`` on it (engine/people/policy.py: centers, then roles)."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("case.not_found", case_id=case_id)
    policy.check_case(session, actor, action, case, settings)
    return case


_TASKS = table(Task)
_READY_OF_CASE = (_TASKS.select().where(_TASKS.c.case_id == bindparam("case_id"), _TASKS.c.state == "ready")
                  .order_by(_TASKS.c.created_at, _TASKS.c.id))


def diagram_marks(session: Session, case: Case, settings: Settings) -> runner.Marks:
    """Where the case stands on its diagram, in every pool (engine/bpmn/runner.py ``element_marks``): read from
    its stored state, without taking it from the commands' cache of workflows."""
    process = processes.cache.get(session, case.process_version_id, settings)
    return runner.element_marks(runner.load(process, case.state))


def ready_tasks(session: Session, case_id: int) -> list[Any]:
    """Rows of the case's ready tasks (read-only; attribute access like ``Task``), oldest first."""
    return list(session.connection().execute(_READY_OF_CASE, {"case_id": case_id}).all())


# engine.audit.auditors.Search adds an auditor's fields to it.
@dataclass
class CaseFilter:
    status: str | None = None
    service_code: str | None = None
    tracking_number: str | None = None
    national_id: str | None = None
    limit: int = 50
    offset: int = 0


def newest_first() -> tuple[Any, Any]:
    """Cases newest first: by when they were opened, then by id (one order, so pages neither skip nor repeat a
    case). Not by id alone: a center node's cases carry ids of its block (storage/nodes.py ``ID_BLOCK``), above
    every case of central's, whenever they were opened (index ``ix_case_file_created``)."""
    return col(Case.created_at).desc(), col(Case.id).desc()


def list_cases(*, session: Session, actor: Actor, filters: CaseFilter, settings: Settings) -> tuple[list[Case], int]:
    """The cases the actor sees that match ``filters``, newest first (:func:`newest_first`), a page of them and
    how many there are."""
    query = select(Case)
    count = select(func.count()).select_from(Case)
    conditions = []
    if filters.status:
        conditions.append(col(Case.status) == filters.status)
    if filters.service_code:
        conditions.append(col(Case.service_code) == filters.service_code)
    if filters.tracking_number:
        conditions.append(col(Case.tracking_number) == tracking.normalise(filters.tracking_number))
    if filters.national_id:
        conditions.append(col(Case.national_id) == normalise_national_id(filters.national_id))
    seen_centers = policy.centers_seen(session, actor)
    if seen_centers is not None:
        conditions.append(col(Case.center_id).in_(seen_centers))
    if not policy.may(actor, "case.read", settings):  # a lane holder: the services of their lanes only
        visible = [vid for vid, meta in session.exec(select(ProcessVersion.id, ProcessVersion.meta)).all()
                   if actor.roles & set(meta.get("lanes", []))]
        conditions.append(col(Case.process_version_id).in_(visible))
    for cond in conditions:
        query = query.where(cond)
        count = count.where(cond)
    rows = session.exec(query.order_by(*newest_first()).offset(filters.offset).limit(filters.limit)).all()
    return list(rows), int(session.exec(count).one())


def cancel_case(*, session: Session, case_id: int, reason: str, actor: Actor, settings: Settings) -> Case:
    policy.require(actor, "case.cancel", settings)
    if not reason.strip():
        raise Invalid("reason.required", [problem("reason", "field.say_why_cancelled", loc=["body", "reason"],
                                                  kind="missing")])
    case = load_case(session, case_id)
    policy.check_case(session, actor, "case.cancel", case, settings)
    cancel_open(session, case, {"reason": reason.strip()}, actor, settings)
    return case


def cancel_open(session: Session, case: Case, event: dict[str, Any], actor: Actor, settings: Settings) -> None:
    """Cancel an open case's workflow and record ``case_cancelled`` with ``event`` (the reason, and what led to it);
    a case no longer open is refused. The caller has checked the actor may."""
    if case.status != "open":
        raise Conflict("case.already_status", status=case.status)
    process = processes.cache.get(session, case.process_version_id, settings)
    workflow = workflows.load(case, process, settings)
    workflow.cancel()
    workflows.save(session, case, workflow, process, actor=actor.username, settings=settings,
                   events=[("case_cancelled", None, event)], extra={"status": "cancelled", "current_step": None})
