"""What auditors do: find cases, read them, replay them, step through their history, export them.

Each of these reads is recorded in the access log (engine/audit/access_log.py) with who read what and when,
after the read itself succeeded. Holders of ``auditor`` and ``admin`` may use them (engine/people/policy.py:
``audit.case``, ``audit.search``), and only on the cases of the centers they see: an auditor of a center
reads that center's cases and those of the centers below it, in every door here, searches and exports
included; an admin's reads through these doors are recorded too. An auditor's plain reads of a case
(``GET /api/cases/{id}``, its events) are recorded by :func:`note_read`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from engine.audit import access_log, export
from engine.cases import replay
from engine.cases.lifecycle import CaseFilter, newest_first
from engine.core import tracking
from engine.core.errors import Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import centers, policy
from engine.people.identity import normalise_national_id
from engine.people.users import Actor
from storage.models.audit import AuditAccess, AuditEvent
from storage.models.cases import Case
from storage.models.centers import Center
from storage.models.people import User

STATUSES = ("open", "completed", "cancelled")


def _case_for_audit(session: Session, case_id: int, actor: Actor, settings: Settings) -> None:
    """NotFound for no such case; Forbidden for a role that does not audit, or a case of another center."""
    policy.require(actor, "audit.case", settings)
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("case.not_found", case_id=case_id)
    policy.check_case(session, actor, "audit.case", case, settings)


def note_read(*, session: Session, actor: Actor, action: str, case_id: int | None = None,
              detail: dict[str, Any] | None = None) -> None:
    """Record a read in the access log when the reader is an auditor (other roles' reads are their work)."""
    if actor.has("auditor"):
        access_log.record(session=session, actor=actor, action=action, case_id=case_id, detail=detail)


def replay_case(*, session: Session, case_id: int, actor: Actor, settings: Settings) -> replay.ReplayResult:
    _case_for_audit(session, case_id, actor, settings)
    result = replay.replay_case(session=session, case_id=case_id, settings=settings)
    access_log.record(session=session, actor=actor, action="replay", case_id=case_id,
                      detail={"consistent": result.consistent, "events_replayed": result.events_replayed})
    return result


def case_history(*, session: Session, case_id: int, actor: Actor, settings: Settings) -> replay.History:
    _case_for_audit(session, case_id, actor, settings)
    found = replay.history(session=session, case_id=case_id, settings=settings)
    access_log.record(session=session, actor=actor, action="history", case_id=case_id,
                      detail={"steps": len(found.steps)})
    return found


def export_case(*, session: Session, case_id: int, actor: Actor, settings: Settings) -> tuple[str, bytes]:
    _case_for_audit(session, case_id, actor, settings)
    name, data = export.build(session=session, case_id=case_id, actor=actor, settings=settings)
    access_log.record(session=session, actor=actor, action="export", case_id=case_id,
                      detail={"file": name, "bytes": len(data)})
    return name, data


def reads(*, session: Session, actor: Actor, settings: Settings, case_id: int | None = None, limit: int = 100,
          offset: int = 0) -> list[AuditAccess]:
    """The access log, newest first; reading it is recorded too. An auditor of a center reads the entries about
    the cases of their centers (searches and other entries naming no case are for installation-wide staff)."""
    policy.require(actor, "audit.search", settings)
    seen = policy.centers_seen(session, actor)
    in_cases = select(Case.id).where(col(Case.center_id).in_(seen)) if seen is not None else None
    rows = access_log.reads(session, case_id=case_id, limit=limit, offset=offset, in_cases=in_cases)
    for row in rows:
        session.expunge(row)
    access_log.record(session=session, actor=actor, action="access_log", case_id=case_id,
                      detail={"limit": limit, "offset": offset})
    return rows


# The case list's filter and more: an auditor searches by officer, center and dates too, and each search is
# recorded in the access log (``recorded``).
@dataclass
class Search(CaseFilter):
    officer: str | None = None
    center: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def recorded(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items()
                if v is not None and k not in ("limit", "offset")}


@dataclass
class Found:
    case: Case
    officers: list[str]


def search(*, session: Session, actor: Actor, query: Search, settings: Settings) -> tuple[list[Found], int]:
    """Cases matching every given filter at the centers the actor sees, newest first, with who acted on each;
    the search is recorded."""
    policy.require(actor, "audit.search", settings)
    conditions = _conditions(session, query)
    seen = policy.centers_seen(session, actor)
    if seen is not None:
        conditions.append(col(Case.center_id).in_(seen))
    rows = session.exec(select(Case).where(*conditions).order_by(*newest_first())
                        .offset(query.offset).limit(query.limit)).all()
    total = int(session.exec(select(func.count()).select_from(Case).where(*conditions)).one())
    ids = [c.id for c in rows]
    officers: dict[int, set[str]] = {}
    if ids:
        for case_id, who in session.exec(select(AuditEvent.case_id, AuditEvent.actor)
                                         .where(col(AuditEvent.case_id).in_(ids)).distinct()).all():
            officers.setdefault(case_id, set()).add(who)
    found = [Found(case=c, officers=sorted(officers.get(c.id or 0, set()) - {"system"})) for c in rows]
    for item in found:
        session.expunge(item.case)
    access_log.record(session=session, actor=actor, action="search", detail={
        "query": query.recorded(), "total": total, "case_ids": ids})
    return found, total


def _conditions(session: Session, query: Search) -> list[Any]:
    in_centers: set[int] | None = None
    if query.center:
        # A center's code: the cases of that center and of every center below it (engine/people/centers.py).
        found = session.exec(select(Center.id).where(col(Center.code) == query.center.strip())).first()
        if found is None:
            raise Invalid("center.unknown", [problem("center", "field.no_center_code", loc=["query", "center"],
                                                     kind="unknown", code=query.center)])
        in_centers = centers.below(session, found)
    if query.status is not None and query.status not in STATUSES:
        raise Invalid("audit.unknown_status", [problem("status", "field.one_of", loc=["query", "status"], kind="enum",
                                                       choices=", ".join(STATUSES))])
    conditions: list[Any] = []
    if in_centers is not None:
        conditions.append(col(Case.center_id).in_(in_centers))
    if query.tracking_number:
        conditions.append(col(Case.tracking_number) == tracking.normalise(query.tracking_number))
    if query.national_id:
        conditions.append(col(Case.national_id) == normalise_national_id(query.national_id))
    if query.service_code:
        conditions.append(col(Case.service_code) == query.service_code)
    if query.status:
        conditions.append(col(Case.status) == query.status)
    if query.date_from:
        conditions.append(col(Case.created_at) >= datetime.combine(query.date_from, time.min, UTC))
    if query.date_to:
        conditions.append(col(Case.created_at) < datetime.combine(query.date_to + timedelta(days=1), time.min, UTC))
    if query.officer:
        who = query.officer.strip()
        # An officer is whoever acted on the case (opened it, claimed, completed, cancelled...): by username,
        # or by full name as the auditor may know them.
        names = set(session.exec(select(User.username).where(or_(col(User.username) == who,
                                                                 col(User.full_name) == who))).all()) | {who}
        acted = select(AuditEvent.case_id).where(col(AuditEvent.actor).in_(names))
        conditions.append(col(Case.id).in_(acted))
    return conditions
