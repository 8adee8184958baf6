"""The audit trail: append-only, one hash chain per case.

Each event's hash is SHA-256 over the previous event's hash and a canonical JSON of the event's content
(case, sequence number, time, actor, kind, task, data). Changing, removing, inserting or reordering any
event breaks the chain from that point on, and ``verify`` names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.models import AuditEvent, Case

GENESIS = "0" * 64


def canonical(value: Any) -> Any:
    """What JSON storage gives back: the value hashed is exactly the value stored."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def event_hash(*, case_id: int, seq: int, at: str, actor: str, kind: str, task: str | None,
               data: Any, prev_hash: str) -> str:
    body = json.dumps({"case_id": case_id, "seq": seq, "at": at, "actor": actor, "kind": kind, "task": task,
                       "data": data}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def build(case: Case, *, actor: str, kind: str, task: str | None = None,
          data: dict[str, Any] | None = None) -> AuditEvent:
    """The next link of the case's chain; advances ``case.audit_seq``/``audit_head`` in memory only."""
    assert case.id is not None
    seq = case.audit_seq + 1
    at = now_iso()
    clean = canonical(data or {})
    prev = case.audit_head or GENESIS
    digest = event_hash(case_id=case.id, seq=seq, at=at, actor=actor, kind=kind, task=task, data=clean,
                        prev_hash=prev)
    case.audit_seq = seq
    case.audit_head = digest
    return AuditEvent(case_id=case.id, seq=seq, at=at, actor=actor, kind=kind, task=task, data=clean,
                      prev_hash=prev, hash=digest)


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
        digest = event_hash(case_id=case.id, seq=ev.seq, at=ev.at, actor=ev.actor, kind=ev.kind, task=ev.task,
                            data=ev.data, prev_hash=ev.prev_hash)
        if digest != ev.hash:
            return BrokenLink(case.id, case.tracking_number, ev.seq, "the event's content does not match its hash")
        prev = ev.hash
        expected_seq += 1
    if expected_seq - 1 != case.audit_seq or prev != (case.audit_head or GENESIS):
        return BrokenLink(case.id, case.tracking_number, None,
                          f"the case records {case.audit_seq} events ending in {case.audit_head[:12]}…, but the "
                          f"chain has {expected_seq - 1} ending in {prev[:12]}…")
    return None


def verify_all(session: Session, batch: int = 500) -> Iterator[BrokenLink]:
    """Check every case's chain, streaming cases in id order a batch at a time."""
    last_id = 0
    while True:
        cases = session.exec(select(Case).where(col(Case.id) > last_id).order_by(col(Case.id)).limit(batch)).all()
        if not cases:
            return
        ids = [c.id for c in cases]
        events = session.exec(select(AuditEvent).where(col(AuditEvent.case_id).in_(ids))
                              .order_by(col(AuditEvent.case_id), col(AuditEvent.seq))).all()
        by_case: dict[int, list[AuditEvent]] = {}
        for ev in events:
            by_case.setdefault(ev.case_id, []).append(ev)
        for case in cases:
            assert case.id is not None
            broken = verify_chain(case, by_case.get(case.id, []))
            if broken is not None:
                yield broken
        last_id = ids[-1] or last_id
