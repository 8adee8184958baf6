"""Scanned papers of a case: upload (streamed to the document store), list, and read back (checked).

An upload is read as a form of parts (``kind`` and ``file``, in either order). The file's bytes go straight
from the request to the store a chunk at a time, hashed and counted on the way; its type is decided by its
first bytes before anything is stored. The database row and the audit event are written only once the store
holds the whole file, in one transaction; any failure before that commit removes what was stored.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlmodel import Session, col

from engine.bpmn.compiler import CompiledProcess
from engine.cases import workflows
from engine.cases.lifecycle import load_case
from engine.catalog import processes
from engine.core import files
from engine.core.errors import Conflict, Corrupted, Forbidden, Invalid, NotFound, TooLarge
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from storage.db import write_lock
from storage.documents import Download, ObjectMissing, ObjectStore, StoreConfig, sha256_of
from storage.documents import store_for as _store_for
from storage.models.cases import Case, Document

log = logging.getLogger(__name__)
_MAX_FIELD_BYTES = 200


def store_for(settings: Settings) -> ObjectStore:
    return _store_for(StoreConfig(
        url=settings.storage_url, access_key=settings.storage_access_key, secret_key=settings.storage_secret_key,
        ca_file=str(settings.storage_ca_file) if settings.storage_ca_file else None,
        chunk_bytes=settings.document_chunk_bytes, part_bytes=settings.document_part_bytes,
        single_put_bytes=settings.document_single_put_bytes))


class FormPart(Protocol):
    """One part of an upload form, read as it arrives (``read`` returns b"" at its end)."""

    name: str
    filename: str | None
    content_type: str | None

    def read(self, size: int = -1, /) -> bytes: ...


def may_read(actor: Actor, process: CompiledProcess, settings: Settings, uploaded_by: str | None = None) -> bool:
    """Who may see a case's scans (the policy's ``case.papers``, engine/people/policy.py), and the uploader. Admins
    administer: they read scans only if they hold a lane."""
    return (policy.may(actor, "case.papers", settings, lanes=process.lanes)
            or (uploaded_by is not None and actor.username == uploaded_by))


def _readable_case(session: Session, case_id: int, actor: Actor, settings: Settings,
                   uploaded_by: str | None = None) -> CompiledProcess:
    row = session.execute(select(col(Case.process_version_id), col(Case.center_id))
                          .where(col(Case.id) == case_id)).first()
    if row is None:
        raise NotFound("case.not_found", case_id=case_id)
    version_id, center_id = row
    policy.require_center(session, actor, center_id)
    process = processes.cache.get(session, version_id, settings)
    if not may_read(actor, process, settings, uploaded_by):
        raise Forbidden("documents.not_allowed")
    return process


@dataclass(frozen=True)
class Received:
    key: str
    size: int
    sha256: str
    content_type: str
    filename: str


def upload(*, session: Session, actor: Actor, settings: Settings, store: ObjectStore, case_id: int,
           parts: Iterable[FormPart], size_hint: int | None = None) -> Document:
    """Store the form's file as the next version of its kind; one commit. Refusals store nothing.

    ``size_hint``: the form's length when known, an upper bound of the file's size."""
    case = load_case(session, case_id)
    assert case.id is not None
    policy.check_case(session, actor, "case.scan", case, settings)
    process = processes.cache.get(session, case.process_version_id, settings)
    if case.status != "open":
        raise Conflict("documents.case_closed", status=case.status)
    session.rollback()  # end the read transaction: the file may take minutes to arrive
    with receive_form(store=store, settings=settings, case_id=case.id, parts=parts, kinds=kinds_of(process),
                      size_hint=size_hint) as form:
        return record(session, case.id, actor.username, form.kind, form.file)


def kinds_of(process: CompiledProcess) -> list[str]:
    """The document kinds of the case's service (its service.toml)."""
    return [d.kind for d in process.service.documents]


@dataclass(frozen=True)
class UploadForm:
    """An upload form read whole: its kind, its file (already in the store) and its other allowed fields."""

    kind: str
    file: Received
    fields: dict[str, str]


@contextmanager
def receive_form(*, store: ObjectStore, settings: Settings, case_id: int, parts: Iterable[FormPart],
                 kinds: list[str], size_hint: int | None = None,
                 fields: Mapping[str, int] | None = None) -> Iterator[UploadForm]:
    """Read an upload form (``kind``, ``file`` and the ``fields`` named, each at most its number of bytes) and
    stream its file to the store, checked by its first bytes and counted against the size limit. The caller's
    block records it; if the form is refused or the block raises (nothing committed), the stored file goes."""
    allowed = dict(fields or {})
    kind: str | None = None
    received: Received | None = None
    extra: dict[str, str] = {}
    try:
        for part in parts:
            if part.name == "kind" and kind is None:
                kind = _check_kind(_field_text(part), kinds)
            elif part.name == "file" and received is None:
                received = _receive(store=store, settings=settings, case_id=case_id, part=part,
                                    size_hint=size_hint)
            elif part.name in allowed and part.name not in extra:
                extra[part.name] = _field_text(part, allowed[part.name])
            else:
                names = " and one ".join(f"'{name}'" for name in ("kind", "file", *allowed))
                raise Invalid("documents.unexpected_form_field", [_problem(part.name, f"send one {names}")])
        if kind is None or received is None:
            missing = [name for name, got in (("kind", kind), ("file", received)) if got is None]
            raise Invalid("documents.upload_incomplete", [_problem(name, "this field is required") for name in missing])
        yield UploadForm(kind, received, extra)
    except BaseException:
        if received is not None:
            store.delete(received.key)
        raise


def _problem(field: str, msg: str, kind: str = "value_error") -> dict[str, object]:
    return {"loc": ["body", field], "field": field, "msg": msg, "type": kind}


def _field_text(part: FormPart, limit: int = _MAX_FIELD_BYTES) -> str:
    raw = part.read(limit + 1)
    while len(raw) <= limit and (more := part.read(limit + 1 - len(raw))):
        raw += more
    if len(raw) > limit:
        raise Invalid("documents.field_too_long", [_problem(part.name, f"at most {limit} bytes")])
    return raw.decode("utf-8", errors="replace").strip()


def _check_kind(kind: str, kinds: list[str]) -> str:
    if kind not in kinds:
        allowed = ", ".join(kinds) or "none (its service.toml lists no documents)"
        raise Invalid("documents.not_a_kind_of_service", [_problem("kind", f"one of: {allowed}")])
    return kind


class _Intake:
    """The file's bytes on their way to the store: counted, hashed, and stopped over the size limit."""

    def __init__(self, head: bytes, part: FormPart, limit: int, chunk: int) -> None:
        self._pending, self._part, self._limit, self._chunk = head, part, limit, chunk
        self.size = 0
        self.hash = hashlib.sha256()

    def read(self, size: int = -1, /) -> bytes:
        # Fill the whole request: the MinIO SDK asks for a part at a time and joins short reads by copying.
        want = size if size > 0 else self._chunk
        pieces, got = [], 0
        if self._pending:
            pieces.append(self._pending[:want])
            got, self._pending = len(pieces[0]), self._pending[want:]
        while got < want and (piece := self._part.read(want - got)):
            pieces.append(piece)
            got += len(piece)
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self.size += len(data)
        if self.size > self._limit:
            raise TooLarge("documents.file_too_large", limit=self._limit)
        self.hash.update(data)
        return data


def _receive(*, store: ObjectStore, settings: Settings, case_id: int, part: FormPart,
             size_hint: int | None) -> Received:
    head = b""
    while len(head) < files.SNIFF_BYTES and (piece := part.read(settings.document_chunk_bytes)):
        head += piece
    if not head:
        raise Invalid("documents.file_empty", [_problem("file", "the file has no content: scan it again", "empty")])
    found = files.detect(head)
    if found is None or found.mime not in settings.document_types:
        allowed = ", ".join(files.KNOWN_TYPES[t].label for t in settings.document_types)
        raise Invalid("documents.type_not_accepted",
                      [_problem("file", f"the file is {files.describe(head)}; accepted: {allowed}", "file_type")])
    wrong = files.mismatch(found, part.filename, part.content_type)
    if wrong is not None:
        raise Invalid("documents.type_mismatch", [_problem("file", wrong, "file_type_mismatch")])
    filename = files.clean_filename(part.filename, max_chars=settings.max_filename_chars,
                                    fallback_extension=found.extensions[0])
    key = f"cases/{case_id}/{uuid.uuid4().hex}"
    intake = _Intake(head, part, settings.max_document_bytes, settings.document_chunk_bytes)
    try:
        store.put(key, intake, content_type=found.mime, size_hint=size_hint)
    except BaseException:
        store.delete(key)
        raise
    return Received(key=key, size=intake.size, sha256=intake.hash.hexdigest(), content_type=found.mime,
                    filename=filename)


def record(session: Session, case_id: int, uploaded_by: str, kind: str, received: Received) -> Document:
    """Write a received file as the next version of its kind, with its event on the chain; one commit."""
    with write_lock(session):
        case = workflows.lock_case(session, case_id)
        if case.status != "open":
            session.rollback()
            raise Conflict("documents.case_closed_meanwhile", status=case.status)
        doc, event = add_document(session, case_id, uploaded_by, kind, received)
        workflows.append_to_chain(session, case, actor=uploaded_by, events=[event])
        workflows.commit_or_conflict(session)
    return doc


def add_document(session: Session, case_id: int, uploaded_by: str, kind: str,
                 received: Received) -> tuple[Document, tuple[str, str | None, dict[str, Any]]]:
    """Write the received file's row as the next version of its kind, inside the caller's transaction (the
    case locked), and return it with its ``document_uploaded`` event for the caller to put on the chain."""
    latest = session.execute(select(func.max(Document.version)).where(
        col(Document.case_id) == case_id, col(Document.kind) == kind)).scalar()
    doc = Document(case_id=case_id, kind=kind, version=(latest or 0) + 1, filename=received.filename,
                   content_type=received.content_type, size=received.size, sha256=received.sha256,
                   storage_key=received.key, uploaded_by=uploaded_by)
    session.add(doc)
    session.flush()
    return doc, ("document_uploaded", None, {
        "document_id": doc.id, "kind": kind, "version": doc.version, "filename": doc.filename,
        "content_type": doc.content_type, "size": doc.size, "sha256": doc.sha256})


def list_documents(*, session: Session, actor: Actor, settings: Settings, case_id: int) -> list[Document]:
    """Every version of every scan of the case, by kind, oldest version first."""
    _readable_case(session, case_id, actor, settings)
    return list(session.execute(select(Document).where(col(Document.case_id) == case_id)
                                .order_by(col(Document.kind), col(Document.version))).scalars())


def open_content(*, session: Session, actor: Actor, settings: Settings, store: ObjectStore, document_id: int,
                 verify: bool = False) -> tuple[Document, Iterator[bytes]]:
    """The document and its bytes. With ``verify`` the stored file is hashed before anything is sent; without,
    it is hashed as it is sent and the transfer is broken off at the end if it does not match."""
    doc = session.get(Document, document_id)
    if doc is None:
        raise NotFound("document.not_found", document_id=document_id)
    _readable_case(session, doc.case_id, actor, settings, uploaded_by=doc.uploaded_by)
    if settings.node_role == "central":
        _arrived(session, store, doc)
    if verify:
        _check(doc, sha256_of(_open(store, doc)))
    download = _open(store, doc)
    return doc, _checked(download, doc)


def _arrived(session: Session, store: ObjectStore, doc: Document) -> None:
    """At central, a scan recorded at a center node is served once its object was copied here
    (engine/operations/node_copy.py): until then the row is here and the bytes are not, which is not damage."""
    node = session.execute(select(col(Case.node)).where(col(Case.id) == doc.case_id)).scalar()
    if node is not None and not store.exists(doc.storage_key):
        raise Conflict("documents.not_copied_yet", center=node, document_id=doc.id)


def _open(store: ObjectStore, doc: Document) -> Download:
    try:
        download = store.open(doc.storage_key)
    except ObjectMissing as exc:
        log.error("document %s: stored file %s is missing", doc.id, doc.storage_key)
        raise Corrupted("documents.stored_file_missing", document_id=doc.id) from exc
    if download.size != doc.size:
        download.close()
        _check(doc, "size differs")
    return download


def _check(doc: Document, sha256: str) -> None:
    if sha256 != doc.sha256:
        log.error("document %s: stored file %s does not match its recorded sha256", doc.id, doc.storage_key)
        raise Corrupted("documents.stored_file_altered", document_id=doc.id, sha256=doc.sha256)


def _checked(download: Download, doc: Document) -> Iterator[bytes]:
    # One chunk is held back until the next arrives, and the last one until the hash is checked: a file that
    # does not match arrives short of its Content-Length, which every client reports as a failed transfer.
    digest = hashlib.sha256()
    held: bytes | None = None
    try:
        for chunk in download:
            digest.update(chunk)
            if held is not None:
                yield held
            held = chunk
    finally:
        download.close()
    try:
        _check(doc, digest.hexdigest())
    except Corrupted as exc:  # the response has started: breaking the connection is all that is left to do
        raise OSError(exc.message) from None
    if held is not None:
        yield held
