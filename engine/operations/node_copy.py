"""A center node's documents, copied to central's document store (docs/center-nodes.md).

The rows of a center's documents reach central by replication (storage/nodes.py); the stored objects behind them
(scans, issued documents) do not. Each round of this job, on a center node with
``SHUBBAK_NODE_CENTRAL_STORAGE_URL`` set, copies the objects central does not hold yet:

* **by content**: the bytes are hashed on the way and must match the SHA-256 the row recorded; an object that
  does not match is removed from central's store again, logged, and left for the next round (it is never
  recorded as copied, so ``shubbak node status`` keeps counting it);
* **idempotent**: objects are written once under keys no other node makes (``cases/<case id>/…``, and case ids
  come from the node's own block), so an object central already holds is not copied again (once its content
  is the one recorded: another is removed and copied again); a round killed
  half-way copies the object it was writing again in the next one (a store keeps nothing of a cut write);
* **through a cut line**: central's store unreachable ends the round, and the next one starts where it stopped.

``copied_object`` (local to the node) only spares the next round the work of asking central again.
MinIO's own bucket replication is the alternative for MinIO on both sides (docs/center-nodes.md).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, literal, select, union_all
from sqlalchemy.engine import Connection
from sqlmodel import Session

from engine.cases.documents import store_for
from engine.core.settings import Settings
from storage.documents import (
    Download,
    ObjectMissing,
    ObjectStore,
    StorageError,
    StoreConfig,
    open_store,
    sha256_of,
)
from storage.models.base import tables
from storage.models.cases import Document
from storage.models.outputs import IssuedOutput
from storage.models.replicas import CopiedObject

log = logging.getLogger(__name__)

_DOCUMENTS, _OUTPUTS, _COPIED = tables(Document, IssuedOutput, CopiedObject)


@dataclass(frozen=True)
class Copied:
    """One round: objects copied, objects central already held, objects that failed (left for the next round)."""

    copied: int = 0
    present: int = 0
    failed: int = 0


def _waiting() -> Select[Any]:
    """Every stored object this node recorded (its key, SHA-256, content type, when it was recorded) that is not
    copied to central yet."""
    scans = select(_DOCUMENTS.c.storage_key.label("key"), _DOCUMENTS.c.sha256.label("sha256"),
                   _DOCUMENTS.c.content_type.label("content_type"), _DOCUMENTS.c.uploaded_at.label("at"))
    issued = (select(_OUTPUTS.c.storage_key.label("key"), _OUTPUTS.c.sha256.label("sha256"),
                     literal("application/pdf").label("content_type"), _OUTPUTS.c.issued_at.label("at"))
              .where(_OUTPUTS.c.storage_key.is_not(None), _OUTPUTS.c.sha256.is_not(None)))
    stored = union_all(scans, issued).subquery("stored")
    return (select(stored.c.key, stored.c.sha256, stored.c.content_type, stored.c.at)
            .where(stored.c.key.not_in(select(_COPIED.c.storage_key))))


def waiting(conn: Connection) -> tuple[int, datetime | None]:
    """How many stored objects are not copied to central yet, and when the oldest of them was recorded."""
    shown = _waiting().subquery("waiting")
    count, oldest = conn.execute(select(func.count(), func.min(shown.c.at))).one()
    return int(count), oldest


def central_store(settings: Settings) -> ObjectStore:
    assert settings.node_central_storage_url is not None
    return open_store(StoreConfig(
        url=settings.node_central_storage_url, access_key=settings.node_central_storage_access_key,
        secret_key=settings.node_central_storage_secret_key, chunk_bytes=settings.document_chunk_bytes,
        part_bytes=settings.document_part_bytes, single_put_bytes=settings.document_single_put_bytes))


class _Hashing:
    """A reader over a download that hashes what it hands on."""

    def __init__(self, download: Download) -> None:
        self._chunks = iter(download)
        self._pending = b""
        self.digest = hashlib.sha256()

    def read(self, size: int = -1, /) -> bytes:
        while size < 0 or len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self.digest.update(chunk)
            self._pending += chunk
        if size < 0:
            out, self._pending = self._pending, b""
        else:
            out, self._pending = self._pending[:size], self._pending[size:]
        return out


def copy_pending(*, session: Session, settings: Settings) -> Copied:
    """One round: up to ``node_copy_batch`` objects not copied yet, oldest first. Nothing on other nodes."""
    if settings.node_role != "center" or not settings.node_central_storage_url:
        return Copied()
    conn = session.connection()
    rows = list(conn.execute(_waiting().order_by("at", "key").limit(settings.node_copy_batch)))
    session.rollback()  # no transaction held open while objects travel
    if not rows:
        return Copied()
    local, central = store_for(settings), central_store(settings)
    copied = present = failed = 0
    for row in rows:
        try:
            if central.exists(row.key) and _holds(central, row.key, row.sha256):
                present += 1
            elif _copy(local, central, row.key, row.sha256, row.content_type):
                copied += 1
            else:
                failed += 1
                continue
        except StorageError as exc:  # central's store (or ours) cannot be reached: the next round goes on
            log.warning("node copy: %s stopped the round: %s", row.key, exc)
            return Copied(copied=copied, present=present, failed=failed + 1)
        session.execute(_COPIED.insert().values(storage_key=row.key, sha256=row.sha256))
        session.commit()
    return Copied(copied=copied, present=present, failed=failed)


def _holds(central: ObjectStore, key: str, sha256: str) -> bool:
    """Whether central's object under ``key`` is the one recorded; one that is not (a copy that did not match,
    whose removal a cut line or a killed process stopped) is removed, to be copied again."""
    if sha256_of(central.open(key)) == sha256:
        return True
    log.error("node copy: central's %s does not match its recorded SHA-256; removed to be copied again", key)
    central.delete(key)
    return False


def _copy(local: ObjectStore, central: ObjectStore, key: str, sha256: str, content_type: str) -> bool:
    """Copy one object, checking its content on the way; False (and nothing left at central) when it does not
    match its recorded SHA-256 or is missing here."""
    try:
        download = local.open(key)
    except ObjectMissing:
        log.error("node copy: %s is recorded but not stored on this node", key)
        return False
    try:
        reader = _Hashing(download)
        central.put(key, reader, content_type=content_type, size_hint=download.size)
    finally:
        download.close()
    if reader.digest.hexdigest() != sha256:
        log.error("node copy: %s does not match its recorded SHA-256; removed from central's store", key)
        central.delete(key)
        return False
    return True
