"""Custody of the paper originals: where each one is, who moved it there and when, and who confirmed it.

Paper originals still travel between the front desk and the departments. Each original is one document kind
of the case. Its places: ``front_desk``, a department (a lane of the case's process), ``returned_to_citizen``
and ``archived``. Whoever holds it moves it (the front desk's role for the front desk, the returned and the
archived ones; the department's role for a department; supervisors anywhere); an original sent to the front
desk or a department waits there until someone holding that role confirms receipt. Every step is a row of
``custody_move`` and an event in the case's hash chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from engine.bpmn.compiler import CompiledProcess
from engine.cases import lifecycle as cases
from engine.cases import workflows
from engine.catalog import processes
from engine.core.errors import Conflict, Forbidden, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from storage.db import write_lock
from storage.models.cases import CustodyMove

FRONT_DESK = "front_desk"
RETURNED = "returned_to_citizen"
ARCHIVED = "archived"


@dataclass
class Original:
    kind: str
    location: str
    awaiting_receipt: bool
    moved_by: str
    moved_at: datetime
    received_by: str | None
    received_at: datetime | None
    history: list[CustodyMove] = field(default_factory=list)


def _state(kind: str, rows: list[CustodyMove]) -> Original | None:
    current: Original | None = None
    for row in rows:
        if row.action == "moved":
            waits = row.location not in (RETURNED, ARCHIVED)
            current = Original(kind, row.location, waits, row.actor, row.at, None, None)
        elif current is None:  # the front desk took the original from the citizen
            current = Original(kind, row.location, False, row.actor, row.at, row.actor, row.at)
        else:
            current.awaiting_receipt, current.received_by, current.received_at = False, row.actor, row.at
    if current is not None:
        current.history = rows
    return current


def _moves(session: Session, case_id: int, kind: str | None = None) -> list[CustodyMove]:
    query = select(CustodyMove).where(col(CustodyMove.case_id) == case_id)
    if kind is not None:
        query = query.where(col(CustodyMove.kind) == kind)
    return list(session.execute(query.order_by(col(CustodyMove.id))).scalars())


def originals(*, session: Session, actor: Actor, settings: Settings, case_id: int) -> list[Original]:
    """Where each recorded original of the case is, with its history, in the order of the service's list."""
    case = cases.get_case(session=session, case_id=case_id, actor=actor, settings=settings)
    process = processes.cache.get(session, case.process_version_id, settings)
    rows = _moves(session, case_id)
    found = [_state(p.kind, [r for r in rows if r.kind == p.kind]) for p in process.service.documents]
    return [o for o in found if o is not None]


def departments(process: CompiledProcess, settings: Settings) -> list[str]:
    return [lane for lane in process.lanes if lane != settings.front_desk_role]


def _holder(location: str | None, settings: Settings) -> str:
    """The role that has the original in hand at ``location``."""
    return settings.front_desk_role if location in (None, FRONT_DESK, RETURNED, ARCHIVED) else str(location)


def move(*, session: Session, actor: Actor, settings: Settings, case_id: int, kind: str, to: str,
         note: str | None = None) -> Original:
    """Record that the original of ``kind`` goes to ``to``; one commit, an audit event."""
    case = cases.load_case(session, case_id)
    policy.require_center(session, actor, case.center_id)
    process = processes.cache.get(session, case.process_version_id, settings)
    _check_kind(process, kind)
    places = [FRONT_DESK, *departments(process, settings), RETURNED, ARCHIVED]
    if to not in places:
        raise Invalid("custody.unknown_place", [problem("to", "field.one_of", loc=["body", "to"], kind="value_error",
                                                        choices=", ".join(places))])
    note = (note or "").strip() or None
    with write_lock(session):
        case = workflows.lock_case(session, case_id)
        current = _state(kind, _moves(session, case_id, kind))
        where = current.location if current else None
        holder = _holder(where, settings)
        refusal: Exception | None = None
        if where == to:
            refusal = Conflict("custody.already_there", kind=kind, to=to)
        elif not actor.has(holder, "supervisor"):
            refusal = Forbidden("custody.not_the_holder", kind=kind, where=where or FRONT_DESK,
                                holder=holder)
        if refusal is not None:
            session.rollback()
            raise refusal
        first_intake = current is None and to == FRONT_DESK
        action = "received" if first_intake else "moved"
        session.add(CustodyMove(case_id=case_id, kind=kind, action=action, location=to, actor=actor.username,
                                note=note))
        event = (("original_received", None, {"kind": kind, "location": to}) if first_intake else
                 ("original_moved", None, {"kind": kind, "from": where, "to": to, "note": note}))
        session.flush()
        workflows.append_to_chain(session, case, actor=actor.username, events=[event])
        workflows.commit_or_conflict(session)
    found = _state(kind, _moves(session, case_id, kind))
    assert found is not None
    return found


def confirm_receipt(*, session: Session, actor: Actor, settings: Settings, case_id: int, kind: str) -> Original:
    """Someone where the original was sent confirms it arrived; one commit, an audit event."""
    case = cases.load_case(session, case_id)
    policy.require_center(session, actor, case.center_id)
    _check_kind(processes.cache.get(session, case.process_version_id, settings), kind)
    with write_lock(session):
        case = workflows.lock_case(session, case_id)
        current = _state(kind, _moves(session, case_id, kind))
        refusal: Exception | None = None
        if current is None:
            refusal = NotFound("custody.no_original", kind=kind)
        elif not current.awaiting_receipt:
            refusal = Conflict("custody.not_on_its_way", kind=kind, location=current.location)
        elif not actor.has(_holder(current.location, settings)):
            refusal = Forbidden("custody.not_the_receiver", role=_holder(current.location, settings),
                                location=current.location)
        if refusal is not None:
            session.rollback()
            raise refusal
        assert current is not None
        session.add(CustodyMove(case_id=case_id, kind=kind, action="received", location=current.location,
                                actor=actor.username))
        session.flush()
        workflows.append_to_chain(session, case, actor=actor.username, events=[
            ("original_received", None, {"kind": kind, "location": current.location})])
        workflows.commit_or_conflict(session)
    found = _state(kind, _moves(session, case_id, kind))
    assert found is not None
    return found


def _check_kind(process: CompiledProcess, kind: str) -> None:
    kinds = [p.kind for p in process.service.documents]
    if kind not in kinds:
        raise Invalid("documents.not_a_kind_of_service", [problem("kind", "field.one_of", loc=["body", "kind"],
                                                                  kind="value_error",
                                                                  choices=", ".join(kinds) or "none")])
