"""Deploying services: immutable, content-addressed process versions, and the cache of compiled specs."""

from __future__ import annotations

import base64
import binascii
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.bpmn import runner
from engine.bpmn.compiler import PATHS_FILE, CompiledProcess, PackageRefused, compile_package, content_hash
from engine.catalog import analyst_tests, output_templates
from engine.core.errors import Conflict, Invalid, NotFound
from engine.core.refusals import say, with_arabic
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from storage.models.catalog import ProcessVersion


class ProcessCache:
    """Compiled processes by version id. Versions never change, so an entry never goes stale."""

    def __init__(self, size: int = 256) -> None:
        # Keyed by database too: ids are only unique within one database (tests use many).
        self._items: OrderedDict[tuple[str, int], CompiledProcess] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, database: str, version_id: int, process: CompiledProcess) -> None:
        key = (database, version_id)
        with self._lock:
            self._items[key] = process
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, session: Session, version_id: int, settings: Settings) -> CompiledProcess:
        with self._lock:
            found = self._items.get((settings.database_url, version_id))
        if found is not None:
            return found
        row = session.get(ProcessVersion, version_id)
        if row is None:
            raise NotFound("service.no_process_version", version_id=version_id)
        process = compile_package(decode_files(row.files), max_xml_bytes=settings.max_xml_bytes,
                                  default_lane=settings.default_lane, max_files=settings.max_files_per_deploy)
        process.version = row.version
        self.put(settings.database_url, version_id, process)
        return process


cache = ProcessCache()


def encode_files(files: dict[str, bytes]) -> dict[str, str]:
    out = {}
    for name, content in files.items():
        try:
            out[name] = content.decode("utf-8")
        except UnicodeDecodeError:
            out[name] = "base64:" + base64.b64encode(content).decode("ascii")
    return out


def decode_files(files: dict[str, str]) -> dict[str, bytes]:
    """Names to bytes; Invalid naming the file when its text is not base64 (after ``base64:``) or not UTF-8."""
    out = {}
    for name, text in files.items():
        try:
            out[name] = base64.b64decode(text[7:]) if text.startswith("base64:") else text.encode("utf-8")
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise Invalid("deploy.content_unreadable", [{"file": name, "element_id": None, "message": say(
                "deploy.not_base64" if text.startswith("base64:") else "deploy.not_unicode")}]) from exc
    return out


def deploy(*, session: Session, files: dict[str, bytes], actor: Actor, settings: Settings
           ) -> tuple[ProcessVersion, bool]:
    """Store a new version, or return the existing one with the same content. ``(version, created)``."""
    policy.require(actor, "services.deploy")
    sha = content_hash(files)
    existing = session.exec(select(ProcessVersion).where(ProcessVersion.sha256 == sha)).first()
    if existing is not None:
        return existing, False
    try:
        compiled = compile_package(files, max_xml_bytes=settings.max_xml_bytes, default_lane=settings.default_lane,
                                   max_files=settings.max_files_per_deploy)
        check_tests(compiled, files, settings)
        output_templates.check(compiled, files, budget=settings.document_template_budget)
    except PackageRefused as exc:
        exc.details = with_arabic(exc.details)
        raise
    code = compiled.service.code
    latest = session.exec(select(func.max(ProcessVersion.version))
                          .where(ProcessVersion.service_code == code)).one()
    row = ProcessVersion(service_code=code, process_id=compiled.process_id, version=(latest or 0) + 1,
                         sha256=sha, files=encode_files(files),
                         service=compiled.service.model_dump(mode="json"), meta=compiled.meta(),
                         created_by=actor.username)
    session.add(row)
    try:
        session.commit()
    except IntegrityError as exc:
        # Someone deployed at the same moment: the same content is theirs to return, a new one must retry.
        session.rollback()
        again = session.exec(select(ProcessVersion).where(ProcessVersion.sha256 == sha)).first()
        if again is not None:
            return again, False
        raise Conflict("deploy.deployed_at_same_moment") from exc
    assert row.id is not None
    compiled.version = row.version
    cache.put(settings.database_url, row.id, compiled)
    return row, True


def check_tests(process: CompiledProcess, files: dict[str, bytes], settings: Settings) -> None:
    """Run the package's ``paths.json`` cases in memory; PackageRefused naming every failing case."""
    content = files.get(PATHS_FILE)
    if content is None:
        return
    limits = runner.Limits(max_steps=settings.max_engine_steps, max_seconds=settings.max_engine_seconds)
    problems = analyst_tests.failures_as_problems(analyst_tests.run_all(process, content, limits))
    if problems:
        raise PackageRefused("deploy.tests_failed", problems, count=len(problems))


def _newest(*columns: Any) -> Any:
    """The newest version not retired of the service ``:code``: the version new cases start on."""
    return (select(*columns)
            .where(ProcessVersion.service_code == bindparam("code"), col(ProcessVersion.retired).is_(False))
            .order_by(col(ProcessVersion.version).desc()).limit(1))


# Built once: opening a case asks on every request. The reference is the columns a new case needs; the whole
# row carries the package's files (JSON), which opening a case does not read.
_NEWEST_ROW = _newest(ProcessVersion)
_NEWEST_REF = _newest(col(ProcessVersion.id), col(ProcessVersion.service_code), col(ProcessVersion.version),
                      col(ProcessVersion.sha256))


def _none_to_start(session: Session, service_code: str) -> Conflict | NotFound:
    if session.exec(select(ProcessVersion.id).where(ProcessVersion.service_code == service_code)).first():
        return Conflict("service.retired", service_code=service_code)
    return NotFound("service.unknown", service_code=service_code)


def latest_version(session: Session, service_code: str) -> ProcessVersion:
    """The version new cases start on: the newest not retired. Conflict when every version is retired."""
    row = session.exec(_NEWEST_ROW, params={"code": service_code}).first()
    if row is None:
        raise _none_to_start(session, service_code)
    return row


def latest_reference(session: Session, service_code: str) -> Any:
    """``latest_version``'s id, service_code, version and sha256 only (a read-only row), without the files."""
    row = session.connection().execute(_NEWEST_REF, {"code": service_code}).first()
    if row is None:
        raise _none_to_start(session, service_code)
    return row


def list_versions(session: Session, *, service_code: str | None = None) -> list[ProcessVersion]:
    query = select(ProcessVersion).order_by(col(ProcessVersion.service_code), col(ProcessVersion.version))
    if service_code:
        query = query.where(ProcessVersion.service_code == service_code)
    return list(session.exec(query).all())


def list_services(session: Session) -> list[dict[str, Any]]:
    """The newest live version of each service, with what the front desk shows about it."""
    out: dict[str, ProcessVersion] = {}
    for row in list_versions(session):
        if not row.retired:
            out[row.service_code] = row
    return [service_summary(row) for row in out.values()]


def service_summary(row: ProcessVersion) -> dict[str, Any]:
    info = row.service
    return {"service_code": row.service_code, "process_id": row.process_id, "version": row.version,
            "name": info.get("name"), "agency": info.get("agency"), "sla_days": info.get("sla_days"),
            "fee": info.get("fee"), "documents": info.get("documents", []),
            "lanes": row.meta.get("lanes", [])}
