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
from storage.models.cases import Document
from storage.models.outputs import IssuedOutput

log = logging.getLogger(__name__)
#: Where the engine writes: scans under ``cases/<id>/``, issued documents under ``outputs/<id>/``.
PREFIXES = ("cases/", "outputs/")


@dataclass(frozen=True)
class Swept:
    looked_at: int
    deleted: int
    abandoned: int


def _named(session: Session, keys: list[str]) -> set[str]:
    scans = session.exec(select(Document.storage_key).where(col(Document.storage_key).in_(keys))).all()
    issued = session.exec(select(IssuedOutput.storage_key).where(col(IssuedOutput.storage_key).in_(keys))).all()
    return {key for key in [*scans, *issued] if key}


def sweep(*, session: Session, settings: Settings, now: datetime | None = None) -> Swept:
    """One round: every object older than the grace that no row names is deleted."""
    store = documents.store_for(settings)
    before = (now or clock.now()) - timedelta(hours=settings.orphan_grace_hours)
    looked_at = deleted = 0
    batch: list[str] = []

    def settle() -> int:
        named = _named(session, batch)
        session.rollback()  # end the read: the store's deletes are not in a transaction
        gone = 0
        for key in batch:
            if key not in named:
                log.warning("stored object %s is named by no scan or document row; deleted", key)
                store.delete(key)
                gone += 1
        batch.clear()
        return gone

    for prefix in PREFIXES:
        for key, written in store.listing(prefix):
            if written >= before:
                continue
            looked_at += 1
            batch.append(key)
            if len(batch) >= settings.orphan_sweep_batch:
                deleted += settle()
    if batch:
        deleted += settle()
    return Swept(looked_at=looked_at, deleted=deleted, abandoned=store.abandoned(before))
