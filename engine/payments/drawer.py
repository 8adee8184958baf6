"""A cashier's drawer session: opened with a float per method, every payment taken in it, closed by counting.

The close compares what the drawer should hold (the float plus the payments taken in the session, per method)
with what the cashier counted, and records the difference; a supervisor of the center acknowledges a
difference with a reason. A session has its own hash chain (``cashier_event``, built like a case's:
engine/core/chain.py), its head kept on the session row, so a removed or edited drawer event is found by
``shubbak audit verify`` (engine/audit/verify.py).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from engine.core import clock, nodes
from engine.core.amounts import text as money_text
from engine.core.chain import GENESIS, canonical
from engine.core.errors import Conflict, Forbidden, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.payments import money
from engine.people import policy
from engine.people.users import Actor
from storage.db import write_lock
from storage.models.base import tables
from storage.models.payments import CashierEvent, CashierSession, Payment

_EVENTS, _SESSIONS = tables(CashierEvent, CashierSession)


def event_hash(*, session_id: int, seq: int, at: str, actor: str, kind: str, data: Any, prev_hash: str) -> str:
    body = json.dumps({"session_id": session_id, "seq": seq, "at": at, "actor": actor, "kind": kind, "data": data},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append(session: Session, drawer: CashierSession, *, actor: str, kind: str, data: dict[str, Any],
           at: datetime, values: dict[str, Any] | None = None) -> None:
    """The next link of the drawer's chain and the session row's new head (and ``values``), in the caller's
    transaction: an UPDATE that holds only if nobody moved the head since ``drawer`` was read (else Conflict)."""
    assert drawer.id is not None
    seq = drawer.audit_seq + 1
    when = clock.iso(at)
    clean = canonical(data)
    prev = drawer.audit_head or GENESIS
    digest = event_hash(session_id=drawer.id, seq=seq, at=when, actor=actor, kind=kind, data=clean, prev_hash=prev)
    moved = session.connection().execute(
        update(_SESSIONS).where(_SESSIONS.c.id == drawer.id, _SESSIONS.c.audit_seq == drawer.audit_seq)
        .values(audit_seq=seq, audit_head=digest, **(values or {})))
    if moved.rowcount != 1:
        session.rollback()
        raise Conflict("cashier.session_changed")
    session.connection().execute(insert(_EVENTS).values(session_id=drawer.id, seq=seq, at=when, actor=actor,
                                                        kind=kind, data=clean, prev_hash=prev, hash=digest))
    drawer.audit_seq, drawer.audit_head = seq, digest
    for key, value in (values or {}).items():
        setattr(drawer, key, value)


def broken_link(drawer: CashierSession, events: list[CashierEvent]) -> str | None:
    """Why the drawer's chain does not hold (the first broken link, or a head that is not its last link);
    None when it holds."""
    prev = GENESIS
    for expected, ev in enumerate(events, start=1):
        if ev.seq != expected or ev.prev_hash != prev:
            return f"event {ev.seq}: an event was removed, inserted or reordered"
        if event_hash(session_id=ev.session_id, seq=ev.seq, at=ev.at, actor=ev.actor, kind=ev.kind, data=ev.data,
                      prev_hash=ev.prev_hash) != ev.hash:
            return f"event {ev.seq}: the event's content does not match its hash"
        prev = ev.hash
    if len(events) != drawer.audit_seq or prev != (drawer.audit_head or GENESIS):
        return f"the session records {drawer.audit_seq} events, the chain has {len(events)}"
    return None


def events_of(session: Session, session_id: int) -> list[CashierEvent]:
    return list(session.execute(select(CashierEvent).where(col(CashierEvent.session_id) == session_id)
                                .order_by(col(CashierEvent.seq))).scalars().all())


def node_of(settings: Settings) -> str:
    """The node a drawer is open at: a center node's code, '' on central and on a single installation."""
    return settings.node_center or "" if settings.node_role == "center" else ""


def open_of(session: Session, username: str, settings: Settings, *, lock: bool = False) -> CashierSession | None:
    """The cashier's open session on this node (locked against a close or another payment for the transaction
    when ``lock``); one open at another node (its row replicated here) is that node's to use and close."""
    query = select(CashierSession).where(col(CashierSession.cashier) == username,
                                         col(CashierSession.status) == "open",
                                         col(CashierSession.node) == node_of(settings))
    if lock:
        query = query.with_for_update()
    return session.execute(query.execution_options(populate_existing=True)).scalars().first()


def open_session(*, session: Session, actor: Actor, opening: Any, settings: Settings) -> CashierSession:
    """Open the actor's drawer with ``opening`` (``{method: amount}``, the float); Conflict when one is open.

    The check below answers the usual case; two openings racing past it (PostgreSQL locks no row that does not
    exist yet) meet the partial unique index ``ux_cashier_session_open``: the second insert waits for the first
    to commit and fails, and gets the same Conflict."""
    policy.require(actor, "cashier.work", settings)
    floats = money.by_method(opening, settings, field="float")
    now = clock.now()
    with write_lock(session):
        if open_of(session, actor.username, settings, lock=True) is not None:
            session.rollback()
            raise Conflict("cashier.session_already_open")
        drawer = CashierSession(cashier=actor.username, center_id=actor.center_id, status="open", opening=floats,
                                opened_at=now, node=node_of(settings))
        session.add(drawer)
        try:
            session.flush()
        except IntegrityError as exc:  # another opening of this cashier's drawer committed first
            session.rollback()
            raise Conflict("cashier.session_already_open") from exc
        append(session, drawer, actor=actor.username, kind="drawer_opened", at=now,
               data={"center_id": actor.center_id, "float": {m: money_text(v) for m, v in floats.items()}})
        session.commit()
    return drawer


def expected_of(session: Session, drawer: CashierSession) -> dict[str, int]:
    """What the drawer should hold per method: the float plus the payments taken in the session."""
    totals = dict(drawer.opening)
    rows = session.execute(select(col(Payment.method), func.sum(col(Payment.amount)))
                           .where(col(Payment.session_id) == drawer.id).group_by(col(Payment.method))).all()
    for method, amount in rows:
        totals[method] = totals.get(method, 0) + int(amount or 0)
    return {method: totals.get(method, 0) for method in money.METHODS}


def get(session: Session, session_id: int) -> CashierSession:
    drawer = session.get(CashierSession, session_id, populate_existing=True)
    if drawer is None:
        raise NotFound("cashier.session_not_found", session_id=session_id)
    return drawer


def close(*, session: Session, session_id: int, counted: Any, actor: Actor, settings: Settings) -> CashierSession:
    """Close the actor's own drawer by counting: expected vs counted per method, the difference recorded."""
    policy.require(actor, "cashier.work", settings)
    count = money.by_method(counted, settings, field="counted")
    now = clock.now()
    with write_lock(session):
        drawer = get(session, session_id)
        if drawer.cashier != actor.username:
            session.rollback()
            raise Forbidden("cashier.not_your_session")
        locked = open_of(session, actor.username, settings, lock=True)
        if locked is None or locked.id != session_id:
            session.rollback()
            raise Conflict("cashier.session_closed")
        drawer = locked
        expected = expected_of(session, drawer)
        difference = {m: count[m] - expected[m] for m in money.METHODS}
        append(session, drawer, actor=actor.username, kind="drawer_closed", at=now, data={
            "expected": {m: money_text(v) for m, v in expected.items()},
            "counted": {m: money_text(v) for m, v in count.items()},
            "difference": {m: money_text(v) for m, v in difference.items()}},
            values={"status": "closed", "closed_at": now, "expected": expected, "counted": count,
                    "difference": difference})
        session.commit()
    return drawer


def acknowledge(*, session: Session, session_id: int, reason: str, actor: Actor,
                settings: Settings) -> CashierSession:
    """A supervisor of the drawer's center acknowledges its difference, with a reason."""
    policy.require(actor, "payments.supervise", settings)
    if not reason.strip():
        raise Invalid("cashier.reason_needed", [problem("reason", "cashier.reason_needed")])
    now = clock.now()
    with write_lock(session):
        drawer = get(session, session_id)
        policy.require_center(session, actor, drawer.center_id)
        owner = nodes.owner_of(session, drawer.node or None)
        if owner is not None:  # a drawer of another node, as replicated: its chain goes on there only
            session.rollback()
            raise nodes.CaseElsewhere("node.drawer_elsewhere", owner=owner)
        if drawer.status != "closed" or not any((drawer.difference or {}).values()):
            session.rollback()
            raise Conflict("cashier.no_difference")
        if drawer.acknowledged_by is not None:
            session.rollback()
            raise Conflict("cashier.already_acknowledged", by=drawer.acknowledged_by)
        if drawer.cashier == actor.username:
            session.rollback()
            raise Forbidden("cashier.own_difference")
        append(session, drawer, actor=actor.username, kind="difference_acknowledged", at=now,
               data={"reason": reason.strip()},
               values={"acknowledged_by": actor.username, "acknowledged_at": now,
                       "acknowledge_reason": reason.strip()})
        session.commit()
    return drawer
