"""Stored objects that no row names, and what a write cut short left: found and deleted.

A scan (engine/cases/documents.py) and an issued document (engine/outputs/issue.py) are written to the store
first and their row is committed after: a reader never meets a row whose object is missing. A process killed
between the two (or a row refused at its commit) leaves an object nobody names; nothing reads it, but it holds
a citizen's paper and its space for ever. This job lists the store's keys under the prefixes the engine writes,
keeps those older than ``orphan_grace_hours`` (a write in flight is never that old), and deletes the ones that
no ``document`` or ``issued_output`` row names, each logged by key. It also removes the temporary files of
writes cut short (storage/documents).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from engine.cases import documents
from engine.core import clock
from engine.core.settings import Settings
from storage.models.cases import Case, Document
from storage.models.outputs import IssuedOutput

log = logging.getLogger(__name__)
#: Where the engine writes: scans under ``cases/<id>/``, issued documents under ``outputs/<id>/``.
PREFIXES = ("cases/", "outputs/")


@dataclass(frozen=True)
class Swept:
    looked_at: int
    deleted: int
    abandoned: int
    #: More objects than ``orphan_sweep_max_deletes`` no row names: none was deleted (see :func:`sweep`).
    held: int = 0


def _named(session: Session, keys: list[str]) -> set[str]:
    scans = session.exec(select(Document.storage_key).where(col(Document.storage_key).in_(keys))).all()
    issued = session.exec(select(IssuedOutput.storage_key).where(col(IssuedOutput.storage_key).in_(keys))).all()
    return {key for key in [*scans, *issued] if key}


def _case_of(key: str) -> int | None:
    """The case a key was written for (``cases/<id>/…``, ``outputs/<id>/…``)."""
    parts = key.split("/")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None


def _not_mine(session: Session, settings: Settings, keys: list[str]) -> set[str]:
    """Keys never to delete here: those of another node's cases (engine/core/nodes.py), whose papers this store may
    hold before their rows arrive, or not at all yet. On central or a center node, a key whose case this node does
    not know yet is kept too (its case's row may still be on its way)."""
    ids = {key: _case_of(key) for key in keys}
    wanted = sorted({i for i in ids.values() if i is not None})
    known: dict[int, str | None] = dict(session.exec(  # type: ignore[arg-type]
        select(Case.id, Case.node).where(col(Case.id).in_(wanted))).all()) if wanted else {}
    single = settings.node_role == "single"
    return {key for key, case_id in ids.items() if case_id is not None and (
        (case_id in known and known[case_id] != settings.node_center) or (case_id not in known and not single))}


def sweep(*, session: Session, settings: Settings, now: datetime | None = None) -> Swept:
    """One round: the objects older than the grace that no row names are deleted, unless there are more of them
    than ``orphan_sweep_max_deletes``. A process killed midway leaves one now and then; hundreds say that this
    database is not the one the store belongs to (an older backup restored over a newer store, a drill pointed
    at the production bucket): then nothing is deleted, the round says how many it held back, and the log
    asks an operator to look."""
    store = documents.store_for(settings)
    before = (now or clock.now()) - timedelta(hours=settings.orphan_grace_hours)
    looked_at = 0
    unnamed: list[str] = []
    batch: list[str] = []

    def settle() -> None:
        named = _named(session, batch)
        left = [key for key in batch if key not in named]
        foreign = _not_mine(session, settings, left) if left else set()
        session.rollback()  # end the read: the store's deletes are not in a transaction
        unnamed.extend(key for key in left if key not in foreign)
        batch.clear()

    for prefix in PREFIXES:
        for key, written in store.listing(prefix):
            if written >= before:
                continue
            looked_at += 1
            batch.append(key)
            if len(batch) >= settings.orphan_sweep_batch:
                settle()
            if len(unnamed) > settings.orphan_sweep_max_deletes:
                break
    if batch:
        settle()
    if len(unnamed) > settings.orphan_sweep_max_deletes:
        log.error("more than %d stored objects (older than %g hours) are named by no scan or document row: none "
                  "was deleted. Is this database the store's own (an older backup restored, a drill pointed at "
                  "the production store)? docs/operations.md", settings.orphan_sweep_max_deletes,
                  settings.orphan_grace_hours)
        return Swept(looked_at=looked_at, deleted=0, abandoned=0, held=len(unnamed))
    deleted = 0
    for key in unnamed:
        store.delete(key)
        deleted += 1
        log.warning("stored object %s was named by no scan or document row: deleted", key)
    return Swept(looked_at=looked_at, deleted=deleted, abandoned=store.abandoned(before))
