"""``shubbak backup DIR`` and ``shubbak restore DIR``: everything an installation needs to come back.

A backup folder holds:

* the database (storage/backup.py): a ``pg_dump`` custom-format dump, or a SQLite online backup;
* every scanned document, copied object by object from the store (a folder or MinIO/S3) under its storage key,
  each checked against the hash its row records, and their list with hashes (``documents.jsonl``); at central,
  a center node's objects not copied here yet are counted by center (``not_copied_yet``), not as problems;
* the ledger's anchor file as it was (engine/audit/ledger.py) and the last seal the database held;
* the settings that are not secrets (``settings.json``), to compare with the new host's;
* ``backup.json``: what is where, with the hash of every file, written last (a folder without it is unfinished).

A restore goes only into an empty database (refused otherwise), and checks before writing anything every file
against ``backup.json``, every listed key (one the store takes, naming a file inside the backup) and every
object the store already holds under one of them; then it puts the documents first and the database last, and
adds the backup's anchor lines to the target's anchor file without removing any. When that file names a seal
newer than the backup's last one, the restore says so, and so does ``shubbak audit verify`` afterwards: the
database is older than the last seal.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import literal, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

from engine.audit import ledger
from engine.cases import documents
from engine.core import clock, refusals
from engine.core.errors import Conflict, Invalid
from engine.core.settings import Settings
from storage import backup as database
from storage.db import dispose, session_for
from storage.documents import check_key, sha256_of
from storage.models.audit import AuditSeal
from storage.models.base import tables
from storage.models.cases import Case, Document
from storage.models.outputs import IssuedOutput

FORMAT = 1
MANIFEST = "backup.json"
DOCUMENT_LIST = "documents.jsonl"
DOCUMENTS = "documents"
ANCHOR = "ledger-anchor.jsonl"
SETTINGS = "settings.json"
_DOCS, _OUTPUTS, _SEALS, _CASES = tables(Document, IssuedOutput, AuditSeal, Case)
_SECRET = re.compile(r"secret|password|token|signing_key|access_key|_options$")
# A query parameter of a URL that may carry a credential (``?password=``, ``?token=``, ``?sslkey=``, ``?auth=``…).
_CREDENTIAL_PARAMETER = re.compile(r"pass|pwd|secret|token|key|auth|cred|sign|sig$", re.IGNORECASE)
_CHUNK = 1024 * 1024


@dataclass
class Made:
    folder: Path
    database_file: str
    documents: int = 0
    document_bytes: int = 0
    last_seal: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    # The objects of another node's cases (a center node's, at central) not copied to this store yet: not in this
    # backup and not damage (that node's own backup holds them; the next one here, once copied). By center code.
    not_copied_yet: dict[str, int] = field(default_factory=dict)


@dataclass
class Restored:
    documents: int = 0
    last_seal: dict[str, Any] | None = None
    newest_anchored: int = 0
    revision: str | None = None

    @property
    def older_than_last_seal(self) -> bool:
        return self.newest_anchored > (self.last_seal or {}).get("seq", 0)


def public_settings(settings: Settings) -> dict[str, Any]:
    """The settings without secrets: keys, passwords, tokens and gateway options left out, URLs without the
    credentials they may carry."""
    out: dict[str, Any] = {}
    for name, value in settings.model_dump(mode="json").items():
        if _SECRET.search(name):
            continue
        out[name] = _without_credentials(value)
    return out


def _without_credentials(value: Any) -> Any:
    """``value`` with every URL in it parsed and written again without its user, password and credential-like
    query parameters (a user and password become ``***@``). A URL that cannot be parsed but may hold one is
    replaced whole by ``***``."""
    if isinstance(value, list):
        return [_without_credentials(item) for item in value]
    if isinstance(value, dict):
        return {key: _without_credentials(item) for key, item in value.items()}
    if not isinstance(value, str) or "://" not in value:
        return value
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        return "***" if ("@" in value or "?" in value) else value
    hidden = [name for name in url.query if _CREDENTIAL_PARAMETER.search(name)]
    had_user = url.username is not None or url.password is not None
    if not had_user and not hidden:
        return value
    bare = URL.create(url.drivername, host=url.host, port=url.port, database=url.database, query=url.query)
    rendered = bare.difference_update_query(hidden).render_as_string(hide_password=False)
    return rendered.replace("://", "://***@", 1) if had_user else rendered


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _last_seal(session: Session) -> dict[str, Any] | None:
    row = session.connection().execute(select(_SEALS.c.seq, _SEALS.c.hash, _SEALS.c.sealed_at)
                                       .order_by(_SEALS.c.seq.desc()).limit(1)).first()
    return None if row is None else {"seq": row.seq, "hash": row.hash, "sealed_at": row.sealed_at}


def _revision(session: Session) -> str | None:
    try:
        return session.connection().execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # noqa: BLE001 - no migrations table: an unmigrated database
        return None


def _node_of(case_id: Any) -> Any:
    """The node that owns the case ``case_id`` (NULL: central or a single node), as a column of the row."""
    return select(_CASES.c.node).where(_CASES.c.id == case_id).scalar_subquery().label("node")


def _document_rows(session: Session) -> Iterator[Any]:
    """Every stored object with its recorded hash and its case's node: the scanned papers, then the issued
    documents' PDFs."""
    yield from session.connection().execute(
        select(_DOCS.c.id, _DOCS.c.case_id, _DOCS.c.kind, _DOCS.c.version, _DOCS.c.storage_key, _DOCS.c.size,
               _DOCS.c.sha256, _DOCS.c.content_type, _node_of(_DOCS.c.case_id)).order_by(_DOCS.c.id))
    yield from session.connection().execute(
        select(_OUTPUTS.c.id, _OUTPUTS.c.case_id, _OUTPUTS.c.kind, literal(0).label("version"),
               _OUTPUTS.c.storage_key, _OUTPUTS.c.size, _OUTPUTS.c.sha256,
               literal("application/pdf").label("content_type"), _node_of(_OUTPUTS.c.case_id))
        .where(_OUTPUTS.c.storage_key.is_not(None)).order_by(_OUTPUTS.c.id))


def _not_copied_yet(store: Any, row: Any, settings: Settings) -> bool:
    """An object of another node's case (a center node's, at central) that is not in this store yet: its node
    copies it here (engine/operations/node_copy.py), so until then the row is here and the bytes are not, which
    is not damage (as engine/cases/documents.py answers ``documents.not_copied_yet``). A store that cannot say
    leaves it to the copy, which reports what it cannot read."""
    if row.node is None or row.node == settings.node_center:
        return False
    try:
        return not store.exists(row.storage_key)
    except Exception:  # noqa: BLE001 - the copy below reports an unreadable store
        return False


def take(*, settings: Settings, folder: Path) -> Made:
    """Write a backup of the installation into ``folder`` (new, or empty), readable by its owner only: the folder
    (and any parent it makes) 0700, every file 0600. The process's umask is 077 while it runs (so ``pg_dump`` and
    SQLite create their files so too), and the modes are set once more at the end."""
    if folder.exists() and any(folder.iterdir()):
        raise Conflict("backup.folder_not_empty", folder=str(folder))
    previous = os.umask(0o077)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)  # it may have existed, empty, with a wider mode
        made = _take(settings, folder)
        for path in folder.rglob("*"):
            path.chmod(0o700 if path.is_dir() else 0o600)
        return made
    finally:
        os.umask(previous)


def _take(settings: Settings, folder: Path) -> Made:
    with session_for(settings.database_url) as session:
        seal = _last_seal(session)  # read before the dump: the dump holds at least this seal
        session.rollback()
        db_file = database.dump(settings.database_url, folder, bin_dir=settings.postgres_bin_dir)
        made = Made(folder=folder, database_file=db_file.name, last_seal=seal)
        revision = _revision(session)
        # Documents are only ever added, and their objects are stored before their rows commit: listed after
        # the dump, they include every document the dump names.
        rows = list(_document_rows(session))
        session.rollback()
    store = documents.store_for(settings)
    with (folder / DOCUMENT_LIST).open("w", encoding="utf-8") as listing:
        for row in rows:
            if _not_copied_yet(store, row, settings):
                made.not_copied_yet[row.node] = made.not_copied_yet.get(row.node, 0) + 1
                continue
            problem = _copy_out(store, row, folder / DOCUMENTS / row.storage_key)
            if problem:
                made.problems.append(problem)
                continue
            made.documents += 1
            made.document_bytes += row.size
            listing.write(json.dumps({"key": row.storage_key, "sha256": row.sha256, "size": row.size,
                                      "content_type": row.content_type, "case_id": row.case_id, "kind": row.kind,
                                      "version": row.version}) + "\n")
    if settings.anchor_file.exists():
        (folder / ANCHOR).write_bytes(settings.anchor_file.read_bytes())
    (folder / SETTINGS).write_text(json.dumps(public_settings(settings), indent=1, ensure_ascii=False),
                                   encoding="utf-8")
    files = {p.name: _sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}
    manifest = {"format": FORMAT, "created_at": clock.iso(clock.now()), "database": database.kind(
        settings.database_url), "database_file": db_file.name, "revision": revision, "last_seal": seal,
        "documents": made.documents, "document_bytes": made.document_bytes, "files": files,
        "problems": made.problems, "not_copied_yet": made.not_copied_yet}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return made


def _copy_out(store: Any, row: Any, target: Path) -> str | None:
    """Copy one object out of the store, checking it against its row; the problem, if any (a refusal by id:
    the manifest keeps its English, the command line says it in the operator's language)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        download = store.open(row.storage_key)
    except Exception as exc:  # noqa: BLE001 - a missing or unreadable object is reported, the backup goes on
        return refusals.say("backup.document_unreadable", document=row.id, case=row.case_id, kind=row.kind,
                            version=row.version, error=str(exc))
    try:
        with target.open("wb") as out:
            for chunk in download:
                digest.update(chunk)
                out.write(chunk)
    finally:
        download.close()
    if digest.hexdigest() != row.sha256:
        target.unlink()
        return refusals.say("backup.document_changed", document=row.id, case=row.case_id, kind=row.kind,
                            version=row.version)
    return None


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.exists():
        raise Invalid("backup.unfinished", folder=str(folder), manifest=MANIFEST)
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise Invalid("backup.format", found=repr(manifest.get("format")), known=FORMAT)
    return manifest


def _check_files(folder: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every file of the backup against its recorded hash, and every document against its own; the list.

    Every file the restore reads is listed with its hash, and is a plain file of the folder (a plain name, no
    link); a listed key is one the store would take (``check_key``) and names a file inside the backup's
    documents folder (no ``..``, no link leading out): a crafted backup cannot make the restore read a file of
    the host."""
    base = folder.resolve()
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise Invalid("backup.damaged_file", name=MANIFEST)
    dump = database.DUMP_SQLITE if manifest["database"] == "sqlite" else database.DUMP_POSTGRES
    read = {DOCUMENT_LIST, dump} | ({ANCHOR} if (base / ANCHOR).exists() or (base / ANCHOR).is_symlink() else set())
    for name in sorted(read - files.keys()):
        raise Invalid("backup.damaged_file", name=name)
    for name, expected in files.items():
        path = base / name
        if not _PLAIN_NAME.fullmatch(name) or path.is_symlink():
            raise Invalid("backup.bad_file_name", name=name)
        if not path.is_file() or _sha256_file(path) != expected:
            raise Invalid("backup.damaged_file", name=name)
    listed = [_entry(number, line) for number, line in
              enumerate((base / DOCUMENT_LIST).read_text(encoding="utf-8").splitlines(), start=1) if line.strip()]
    inside = base / DOCUMENTS  # not resolved: a documents folder that is itself a link leads out, and is refused
    for entry in listed:
        key = entry["key"]
        try:
            check_key(key)
        except ValueError:
            raise Invalid("backup.bad_document_key", key=key) from None
        path = (inside / key).resolve()
        if not path.is_relative_to(inside):
            raise Invalid("backup.bad_document_key", key=key)
        if not path.is_file() or _sha256_file(path) != entry["sha256"]:
            raise Invalid("backup.damaged_document", key=key)
    return listed


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ENTRY_FIELDS = {"key": str, "sha256": str, "size": int, "content_type": str}


def _entry(number: int, line: str) -> dict[str, Any]:
    """One line of ``documents.jsonl``, with the fields a restore uses and of their types; else a refusal."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        entry = None
    if not isinstance(entry, dict) or any(not isinstance(entry.get(name), kind)
                                          for name, kind in _ENTRY_FIELDS.items()):
        raise Invalid("backup.bad_document_entry", line=number, list=DOCUMENT_LIST)
    return entry


def restore(*, settings: Settings, folder: Path) -> Restored:
    """Restore the backup in ``folder`` into the (empty) database and the document store of ``settings``."""
    manifest = read_manifest(folder)
    url = settings.database_url
    if manifest["database"] != database.kind(url):
        raise Invalid("backup.database_kind", backup=manifest["database"], target=database.kind(url))
    present = database.tables(url)
    if present:
        raise Conflict("backup.database_not_empty", count=len(present), tables=", ".join(present[:3]))
    listed = _check_files(folder, manifest)
    store = documents.store_for(settings)
    store.prepare()
    # Every key the store already holds is checked before the first put: a refusal leaves the store as it was.
    missing = [entry for entry in listed if not _already_there(store, entry)]
    for entry in missing:
        with (folder / DOCUMENTS / entry["key"]).open("rb") as handle:
            store.put(entry["key"], handle, content_type=entry["content_type"], size_hint=entry["size"])
    dispose(url)
    database.load(url, folder, bin_dir=settings.postgres_bin_dir)
    dispose(url)  # the pool knew an empty database
    anchored = _merge_anchor(settings, folder / ANCHOR)
    return Restored(documents=len(listed), last_seal=manifest.get("last_seal"), revision=manifest.get("revision"),
                    newest_anchored=max((line.get("seq", 0) for line in anchored), default=0))


def _already_there(store: Any, entry: dict[str, Any]) -> bool:
    """Whether the store holds this document already (the same bytes); a different object there is refused."""
    if not store.exists(entry["key"]):
        return False
    if sha256_of(store.open(entry["key"])) != entry["sha256"]:
        raise Conflict("backup.store_differs", key=entry["key"])
    return True


def _merge_anchor(settings: Settings, saved: Path) -> list[dict[str, Any]]:
    """Add the backup's anchor lines the target's anchor file lacks; never remove one (it is the evidence that
    the database was newer). Returns the file's seals after the merge."""
    have = ledger.anchored(settings)
    seqs = {line.get("seq") for line in have}
    if saved.exists():
        target = settings.anchor_file
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as out:
            for line in saved.read_text(encoding="utf-8").splitlines():
                try:
                    seq = json.loads(line).get("seq") if line.strip() else None
                except json.JSONDecodeError:
                    seq = None
                if seq is not None and seq not in seqs:
                    out.write(line + "\n")
    return ledger.anchored(settings)
