"""The audit trail: append-only, one hash chain per case.

Each event's hash is SHA-256 over the previous event's hash and a canonical JSON of the event's content
(case, sequence number, time, actor, kind, task, data, and ``after`` when there is one). Changing, removing,
inserting or reordering any event breaks the chain from that point on, and ``verify`` names the first broken
link (engine/audit/verify.py says which kind of change it was).

``after`` is what a command that advanced the workflow left behind, written on its last event: SHA-256 of the
stored state and of the case's data, the status, the outcome and the ready tasks. It lets ``verify`` tell a
case whose stored state or data was changed from the events without running anything, and lets replay
compare its own result with the recorded one after every step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from engine.core import clock
from storage.models.audit import AuditEvent
from storage.models.base import made
from storage.models.cases import Case

GENESIS = "0" * 64


def events_of(session: Session, case_id: int) -> list[AuditEvent]:
    """Every event of one case, in the chain's order: the one query for a case's record (its pages, the API's
    events, replay, history, the exported file)."""
    return list(session.exec(select(AuditEvent).where(col(AuditEvent.case_id) == case_id)
                             .order_by(col(AuditEvent.seq))).all())


def canonical(value: Any) -> Any:
    """What JSON storage gives back: the value hashed is exactly the value stored."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def event_hash(*, case_id: int, seq: int, at: str, actor: str, kind: str, task: str | None,
               data: Any, prev_hash: str, after: Any = None) -> str:
    content = {"case_id": case_id, "seq": seq, "at": at, "actor": actor, "kind": kind, "task": task, "data": data}
    if after is not None:  # absent from events that carry none, so their hashes are what they always were
        content["after"] = after
    body = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def hash_of(ev: AuditEvent, *, seq: int | None = None) -> str:
    """The hash ``ev``'s content gives (at ``seq`` instead of its own, to recognise a renumbered event)."""
    return event_hash(case_id=ev.case_id, seq=ev.seq if seq is None else seq, at=ev.at, actor=ev.actor,
                      kind=ev.kind, task=ev.task, data=ev.data, prev_hash=ev.prev_hash, after=ev.after)


def now_iso() -> str:
    return clock.iso(clock.now())


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def data_digest(data: Any) -> str:
    """SHA-256 of a canonical JSON of the case's data (key order does not matter, values do)."""
    return sha256_text(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def after_of(*, state: str, data: Any, status: str, outcome: str | None,
             ready: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The ``after`` of a command's last event; ``ready`` is (task name, task id) of the ready user tasks."""
    return {"state_sha256": sha256_text(state), "data_sha256": data_digest(data), "status": status,
            "outcome": outcome, "ready": sorted([name, task_id] for name, task_id in ready)}


def build(case: Case, *, actor: str, kind: str, task: str | None = None, data: dict[str, Any] | None = None,
          at: datetime | None = None, after: dict[str, Any] | None = None) -> AuditEvent:
    """The next link of the case's chain; advances ``case.audit_seq``/``audit_head`` in memory only.

    ``at`` is the command's moment (engine/core/clock.py), the real time now when not given."""
    assert case.id is not None
    seq = case.audit_seq + 1
    when = clock.iso(at) if at is not None else now_iso()
    clean = canonical(data or {})
    prev = case.audit_head or GENESIS
    digest = event_hash(case_id=case.id, seq=seq, at=when, actor=actor, kind=kind, task=task, data=clean,
                        prev_hash=prev, after=after)
    case.audit_seq = seq
    case.audit_head = digest
    # Made without the ORM's per-field instrumentation: the caller inserts it with a Core statement.
    return made(AuditEvent, {"case_id": case.id, "seq": seq, "at": when, "actor": actor, "kind": kind, "task": task,
                             "data": clean, "prev_hash": prev, "hash": digest, "after": after})


@dataclass(frozen=True)
class BrokenLink:
    case_id: int
    tracking_number: str
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"event {self.seq}" if self.seq is not None else "head"
        return f"case {self.tracking_number} (id {self.case_id}), {where}: {self.reason}"


def verify_chain(case: Case, events: Iterable[AuditEvent]) -> BrokenLink | None:
    """The first broken link of one case's chain, or None when the whole chain holds."""
    assert case.id is not None
    prev = GENESIS
    expected_seq = 1
    for ev in events:
        if ev.seq != expected_seq:
            return BrokenLink(case.id, case.tracking_number, ev.seq,
                              f"expected event {expected_seq} here: an event was removed, inserted or reordered")
        if ev.prev_hash != prev:
            return BrokenLink(case.id, case.tracking_number, ev.seq,
                              "prev_hash is not the previous event's hash")
        if hash_of(ev) != ev.hash:
            return BrokenLink(case.id, case.tracking_number, ev.seq, "the event's content does not match its hash")
        prev = ev.hash
        expected_seq += 1
    if expected_seq - 1 != case.audit_seq or prev != (case.audit_head or GENESIS):
        return BrokenLink(case.id, case.tracking_number, None,
                          f"the case records {case.audit_seq} events ending in {case.audit_head[:12]}…, but the "
                          f"chain has {expected_seq - 1} ending in {prev[:12]}…")
    return None
