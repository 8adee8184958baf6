"""The access log: who read what, when, among auditors' reads. One append-only hash chain for the installation.

Kept apart from the cases' chains on purpose. Writing a read into the case's own chain would bump the case's
version, so a clerk completing a task while an auditor looks at the case would lose the race and be refused;
and the case's history would fill with reads. The access log is its own chain (``audit_access``): each row's
hash covers its content and the previous row's hash; the ledger seals its head with the cases' heads, so
removing its last rows is noticed too (engine/ledger.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.audit import GENESIS, canonical, now_iso
from engine.errors import Conflict
from engine.users import Actor
from storage.db import write_lock
from storage.models import AuditAccess

_ATTEMPTS = 8


def access_hash(*, seq: int, at: str, actor: str, action: str, case_id: int | None, detail: Any,
                prev_hash: str) -> str:
    body = json.dumps({"seq": seq, "at": at, "actor": actor, "action": action, "case_id": case_id,
                       "detail": detail}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def record(*, session: Session, actor: Actor, action: str, case_id: int | None = None,
           detail: dict[str, Any] | None = None) -> AuditAccess:
    """Append one read to the log and commit (the caller's read transaction ends here)."""
    clean = canonical(detail or {})
    session.rollback()
    for _ in range(_ATTEMPTS):
        with write_lock(session):
            last = session.exec(select(AuditAccess).order_by(col(AuditAccess.seq).desc()).limit(1)).first()
            seq = (last.seq if last else 0) + 1
            prev = last.hash if last else GENESIS
            at = now_iso()
            row = AuditAccess(seq=seq, at=at, actor=actor.username, action=action, case_id=case_id, detail=clean,
                              prev_hash=prev, hash=access_hash(seq=seq, at=at, actor=actor.username, action=action,
                                                               case_id=case_id, detail=clean, prev_hash=prev))
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # another read took this number at the same moment: take the next one
                session.rollback()
                continue
            return row
    raise Conflict("audit.access_log_busy")  # pragma: no cover - eight lost races in a row


@dataclass(frozen=True)
class BrokenRead:
    seq: int
    reason: str


def verify_log(rows: list[AuditAccess]) -> BrokenRead | None:
    """The first broken link of the access log (rows in ``seq`` order), or None."""
    prev = GENESIS
    for expected, row in enumerate(rows, start=1):
        if row.seq != expected:
            return BrokenRead(row.seq, f"expected read {expected} here: a read was removed, inserted or reordered")
        if row.prev_hash != prev:
            return BrokenRead(row.seq, "prev_hash is not the previous read's hash")
        if access_hash(seq=row.seq, at=row.at, actor=row.actor, action=row.action, case_id=row.case_id,
                       detail=row.detail, prev_hash=row.prev_hash) != row.hash:
            return BrokenRead(row.seq, "the read's content does not match its hash")
        prev = row.hash
    return None


def head(session: Session) -> tuple[int, str]:
    """``(seq, hash)`` of the log's last row; ``(0, GENESIS)`` when empty."""
    last = session.exec(select(AuditAccess).order_by(col(AuditAccess.seq).desc()).limit(1)).first()
    return (last.seq, last.hash) if last else (0, GENESIS)


def reads(session: Session, *, case_id: int | None = None, limit: int = 100, offset: int = 0,
          in_cases: Any = None) -> list[AuditAccess]:
    """Entries newest first; ``in_cases`` (a query of case ids) keeps those about these cases only."""
    query = select(AuditAccess)
    if case_id is not None:
        query = query.where(AuditAccess.case_id == case_id)
    if in_cases is not None:
        query = query.where(col(AuditAccess.case_id).in_(in_cases))
    return list(session.exec(query.order_by(col(AuditAccess.seq).desc()).offset(offset).limit(limit)).all())
