"""Analysts' drafts of a service: open, save (overwriting, with who and when), validate, publish.

A draft is files in a table (storage/models/drafts.py) and nothing else: no case ever starts on one, since
cases start on ``processes.latest_version``, which reads only published versions. Publishing goes through
``processes.deploy``, the command line's own path: the same content gives the same version, and the
analyst's test cases (``paths.json``) run first, so a failing case refuses the publish by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.bpmn.compiler import PackageRefused, compile_package, content_hash, plain_file_name
from engine.catalog import processes
from engine.core import clock
from engine.core.errors import Conflict, Invalid, NotFound, TooLarge
from engine.core.refusals import say, with_arabic
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from storage.models.catalog import ProcessVersion
from storage.models.drafts import ServiceDraft


@dataclass(frozen=True)
class Draft:
    """What the modeler edits: the files, where they came from, and whether they are a saved draft."""

    service_code: str
    files: dict[str, bytes]
    revision: int  # 0: nothing saved yet, the files are the latest published version's
    base_version: int | None
    saved_by: str | None
    saved_at: datetime | None
    published_version: int | None  # the published version with exactly these files, if any

    @property
    def saved(self) -> bool:
        return self.revision > 0


def _check(actor: Actor) -> None:
    policy.require(actor, "services.deploy")


def _newest(session: Session, service_code: str) -> ProcessVersion | None:
    return session.exec(select(ProcessVersion).where(ProcessVersion.service_code == service_code)
                        .order_by(col(ProcessVersion.version).desc()).limit(1)).first()


def _row(session: Session, service_code: str) -> ServiceDraft | None:
    return session.exec(select(ServiceDraft).where(ServiceDraft.service_code == service_code)).first()


def _published(session: Session, files: dict[str, bytes]) -> int | None:
    found = session.exec(select(ProcessVersion.version)
                         .where(ProcessVersion.sha256 == content_hash(files))).first()
    return found


def open_draft(*, session: Session, service_code: str, actor: Actor) -> Draft:
    """The saved draft, or else the newest published version's files (revision 0)."""
    _check(actor)
    row = _row(session, service_code)
    if row is not None:
        files = processes.decode_files(row.files)
        return Draft(service_code, files, row.revision, row.base_version, row.saved_by, row.saved_at,
                     _published(session, files))
    newest = _newest(session, service_code)
    if newest is None:
        raise NotFound("service.unknown", service_code=service_code)
    return Draft(service_code, processes.decode_files(newest.files), 0, newest.version, None, None,
                 newest.version)


def check_files(files: dict[str, bytes], settings: Settings) -> None:
    """Names and sizes a draft may hold: the limits of a deploy."""
    if len(files) > settings.max_files_per_deploy:
        raise TooLarge("draft.too_many_files", max_files_per_deploy=settings.max_files_per_deploy)
    bad = [{"file": name, "element_id": None, "message": say("deploy.file_names")} for name in files
           if not plain_file_name(name)]
    if bad:
        raise Invalid("draft.file_names", bad)
    if not any(name.lower().endswith(".bpmn") for name in files):
        raise Invalid("draft.needs_diagram", [{"file": None, "element_id": None,
                                                    "message": say("deploy.no_bpmn_file")}])
    for name, content in files.items():
        if len(content) > settings.max_xml_bytes:
            raise TooLarge("draft.file_too_large", name=name, max_xml_bytes=settings.max_xml_bytes)


def save_draft(*, session: Session, service_code: str, files: dict[str, bytes], revision: int, actor: Actor,
               settings: Settings) -> Draft:
    """Overwrite the service's draft. ``revision`` is the one the analyst opened (0: none was saved); when
    someone saved since, the save is refused (Conflict) rather than losing their work."""
    _check(actor)
    check_files(files, settings)
    row = _row(session, service_code)
    newest = _newest(session, service_code)
    if row is None and newest is None:
        raise NotFound("service.unknown", service_code=service_code)
    current = row.revision if row is not None else 0
    if revision != current:
        who = f" by {row.saved_by}" if row is not None else ""
        raise Conflict("draft.saved_since_opened", who=who, current=current, revision=revision)
    # Saving acknowledges the versions published so far: publishing then will not undo one unseen.
    values: dict[str, Any] = {"base_version": newest.version if newest else None, "saved_by": actor.username,
                              "files": processes.encode_files(files), "revision": current + 1,
                              "saved_at": clock.now()}
    same_moment = Conflict("draft.saved_at_same_moment")
    if row is None:
        row = ServiceDraft(service_code=service_code, **values)
        session.add(row)
    else:  # only if the row still has the revision read above: a save in between is refused, not overwritten
        changed = session.execute(update(ServiceDraft).where(col(ServiceDraft.id) == row.id,
                                                             col(ServiceDraft.revision) == current).values(**values))
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            raise same_moment
    try:
        session.commit()
    except IntegrityError as exc:  # two first saves at the same moment
        session.rollback()
        raise same_moment from exc
    session.refresh(row)
    return Draft(service_code, files, row.revision, row.base_version, row.saved_by, row.saved_at,
                 _published(session, files))


def publish_draft(*, session: Session, service_code: str, actor: Actor,
                  settings: Settings) -> tuple[ProcessVersion, bool]:
    """Deploy the saved draft as the service's next version (or find the version with the same content).

    Conflict when a newer version was published after the draft was started from an older one (the draft
    would silently undo it); Invalid when the files name another service, or fail to compile or to pass
    their test cases (``PackageRefused``, every failing case named)."""
    _check(actor)
    row = _row(session, service_code)
    if row is None:
        raise NotFound("draft.none_saved", service_code=service_code)
    files = processes.decode_files(row.files)
    newest = _newest(session, service_code)
    same = _published(session, files)
    if same is None and newest is not None and row.base_version is not None and newest.version > row.base_version:
        raise Conflict("draft.newer_version_published", version=newest.version,
                       base_version=row.base_version)
    try:
        code = compile_package(files, max_xml_bytes=settings.max_xml_bytes, default_lane=settings.default_lane,
                               max_files=settings.max_files_per_deploy).service.code
    except PackageRefused as exc:
        exc.details = with_arabic(exc.details)
        raise
    if code != service_code:
        raise Invalid("draft.other_service",
                      [{"file": "service.toml", "element_id": None,
                        "message": say("draft.service_toml_names_other", code=code, service_code=service_code)}])
    version, created = processes.deploy(session=session, files=files, actor=actor, settings=settings)
    if row.base_version is None or row.base_version < version.version:
        row.base_version = version.version
        session.add(row)
        session.commit()
    return version, created
