"""Commands and queries on cases: open, read, list, cancel. Each command is one transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine import centers, clock, metrics, processes, tracking, workflows
from engine.bpmn import runner
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.identity import check_citizen
from engine.queue import links as queue_links
from engine.settings import Settings
from engine.users import Actor
from storage.db import write_lock
from storage.models import Case, ProcessVersion, Task

_TRACKING_ATTEMPTS = 8


def load_case(session: Session, case_id: int) -> Case:
    """The case row, detached: commands write it back only through ``workflows.save``'s versioned UPDATE."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    session.expunge(case)
    return case


def process_failed(exc: runner.ProcessFailed) -> Invalid:
    return Invalid(f"the process could not go on: {exc.message}",
                   [{"loc": ["process", exc.element_id or ""], "element_id": exc.element_id,
                     "msg": exc.message, "type": "process_failed"}])


def open_case(*, session: Session, service_code: str, citizen: dict[str, Any], data: dict[str, Any],
              actor: Actor, settings: Settings, ticket: str | None = None) -> Case:
    """Open a case; ``ticket`` is the number of the called queue ticket it is opened from, tied to it in
    the same transaction (engine/queue/links.py)."""
    started = time.perf_counter()
    version = processes.latest_version(session, service_code)
    assert version.id is not None
    process = processes.cache.get(session, version.id, settings)
    start_lanes = set(process.start_lanes)
    if not (actor.has("admin") or actor.roles & start_lanes):
        raise Forbidden(f"opening a '{service_code}' case needs one of the roles: "
                        f"{', '.join(sorted(start_lanes | {'admin'}))}")
    person = check_citizen(citizen, settings)
    start_data = {**data, "citizen": person.model_dump(exclude_none=True)}
    if process.service.case_settings:  # what the diagram reads of the settings (service.toml case_settings)
        start_data["settings"] = {name: getattr(settings, name) for name in process.service.case_settings}
    now = clock.now()  # the case's first moment: its scripts and timers run at it, its first event records it
    try:
        workflow = runner.start(process, start_data, workflows.limits(settings), at=now)
    except runner.ProcessFailed as exc:
        raise process_failed(exc) from exc
    values, _ready = workflows.snapshot(workflow, process)
    sla = process.service.sla_days
    holidays = centers.holidays_of(session.connection(), actor.center_id) if sla else frozenset()
    ticket_id = queue_links.linkable(session, ticket, settings, actor.center_id) if ticket else None
    with write_lock(session):
        for _ in range(_TRACKING_ATTEMPTS):
            case = Case(tracking_number=tracking.new_tracking_number(settings.tracking_digits),
                        service_code=version.service_code, process_version_id=version.id,
                        national_id=person.national_id, citizen_name=person.full_name, phone=person.phone,
                        created_by=actor.username, created_at=now, updated_at=now,
                        due_at=workflows.due(now, sla, settings, holidays), center_id=actor.center_id, **values)
            session.add(case)
            try:
                session.flush()
            except IntegrityError:
                session.rollback()  # a tracking number collision: draw another
                continue
            break
        else:  # pragma: no cover - needs eight collisions in a row
            raise Conflict("could not draw a free tracking number; try again")
        session.expunge(case)
        if ticket_id is not None:
            assert case.id is not None
            queue_links.link(session, ticket_id, case.id, now)
        # The opened event carries what replay needs to start the same case again.
        events: list[tuple[str, str | None, dict[str, Any]]] = [
            ("case_opened", None, {"service_code": version.service_code, "process_version": version.version,
                                   "sha256": version.sha256, "data": start_data})]
        workflows.save(session, case, workflow, process, actor=actor.username, events=events, settings=settings,
                       at=now)
    metrics.observe_step(version.service_code, "(open)", started)  # "(open)": no BPMN id has brackets
    return case


def check_center(session: Session, case: Case, actor: Actor) -> None:
    """Forbidden when the case belongs to a center the actor does not see (engine/centers.py): commands that
    write to a case call this, as reads do through ``can_read``."""
    if actor.center_id is not None and not centers.sees(session, actor, case.center_id):
        raise Forbidden("this case belongs to a center you do not see")


def can_read(session: Session, case: Case, actor: Actor, settings: Settings) -> bool:
    if actor.center_id is not None and not centers.sees(session, actor, case.center_id):
        return False
    if actor.reads_everything:
        return True
    process = processes.cache.get(session, case.process_version_id, settings)
    return bool(actor.roles & set(process.lanes))


def get_case(*, session: Session, case_id: int, actor: Actor, settings: Settings) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    if not can_read(session, case, actor, settings):
        raise Forbidden("your roles do not include a lane of this case's service")
    return case


_TASKS = Task.__table__  # type: ignore[attr-defined]
_READY_OF_CASE = (select(_TASKS).where(_TASKS.c.case_id == bindparam("case_id"), _TASKS.c.state == "ready")
                  .order_by(_TASKS.c.created_at, _TASKS.c.id))


def ready_tasks(session: Session, case_id: int) -> list[Any]:
    """Rows of the case's ready tasks (read-only; attribute access like ``Task``), oldest first."""
    return list(session.connection().execute(_READY_OF_CASE, {"case_id": case_id}).all())


@dataclass
class CaseFilter:
    status: str | None = None
    service_code: str | None = None
    tracking_number: str | None = None
    national_id: str | None = None
    limit: int = 50
    offset: int = 0


def list_cases(*, session: Session, actor: Actor, filters: CaseFilter) -> tuple[list[Case], int]:
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
        conditions.append(col(Case.national_id) == filters.national_id.strip())
    seen_centers = centers.visible_center_ids(session, actor)
    if seen_centers is not None:
        conditions.append(col(Case.center_id).in_(seen_centers))
    if not actor.reads_everything:
        visible = [vid for vid, meta in session.exec(select(ProcessVersion.id, ProcessVersion.meta)).all()
                   if actor.roles & set(meta.get("lanes", []))]
        conditions.append(col(Case.process_version_id).in_(visible))
    for cond in conditions:
        query = query.where(cond)
        count = count.where(cond)
    rows = session.exec(query.order_by(col(Case.id).desc()).offset(filters.offset).limit(filters.limit)).all()
    return list(rows), int(session.exec(count).one())


def cancel_case(*, session: Session, case_id: int, reason: str, actor: Actor, settings: Settings) -> Case:
    if not actor.has("supervisor", "admin"):
        raise Forbidden("only supervisors and admins cancel cases")
    if not reason.strip():
        raise Invalid("a reason is required", [{"loc": ["body", "reason"], "field": "reason",
                                                "msg": "say why the case is cancelled", "type": "missing"}])
    case = load_case(session, case_id)
    check_center(session, case, actor)
    if case.status != "open":
        raise Conflict(f"the case is already {case.status}")
    process = processes.cache.get(session, case.process_version_id, settings)
    workflow = workflows.load(case, process, settings)
    workflow.cancel()
    workflows.save(session, case, workflow, process, actor=actor.username, settings=settings,
                   events=[("case_cancelled", None, {"reason": reason.strip()})],
                   extra={"status": "cancelled", "current_step": None})
    return case
