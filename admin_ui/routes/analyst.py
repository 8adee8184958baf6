"""Analysts' pages: the services, a service's versions (who published them, when, retired or not), what
changed between two versions, retiring, and moving open cases to a new version (dry run first)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, select

from admin_ui import session as cookie
from admin_ui.i18n import N_
from admin_ui.labels import load as load_labels
from admin_ui.pages import CheckedForm, PageRoute, SignedIn, Viewer, allow, analyst, redirect, render
from admin_ui.params import VersionChosen, VersionNumber
from api.deps import SessionDep, central_only, settings_of
from engine.cases import version_moves
from engine.catalog import processes, versions
from engine.core.errors import NotFound
from engine.core.refusals import in_language
from storage.bounds import DB_INT_MAX
from storage.models.catalog import ProcessVersion
from storage.models.drafts import ServiceDraft

router = APIRouter(route_class=PageRoute)


def _versions(db: Session, code: str) -> list[ProcessVersion]:
    rows = processes.list_versions(db, service_code=code)
    if not rows:
        raise NotFound(N_("No such service."))
    return rows


@router.get("/services", dependencies=[allow("services.deploy")])
def service_list(request: Request, viewer: SignedIn, db: SessionDep) -> HTMLResponse:
    analyst(viewer)
    newest: dict[str, ProcessVersion] = {}
    live: dict[str, int] = {}
    for row in processes.list_versions(db):
        newest[row.service_code] = row
        if not row.retired:
            live[row.service_code] = row.version
    draft_codes = set(db.exec(select(ServiceDraft.service_code)).all())
    return render(request, "services.html", rows=list(newest.values()), live=live, drafts=draft_codes,
                  labels=load_labels(db))


@router.get("/services/{code}", dependencies=[allow("services.deploy")])
def service_page(request: Request, code: str, viewer: SignedIn, db: SessionDep, a: VersionChosen = None,
                 b: VersionChosen = None) -> HTMLResponse:
    analyst(viewer)
    rows = _versions(db, code)
    diff: dict[str, Any] | None = None
    if a is not None and b is not None:
        diff = versions.diff_versions(session=db, service_code=code, a=a, b=b, actor=viewer.signed_in,
                                      settings=settings_of(request))
    draft = db.exec(select(ServiceDraft).where(ServiceDraft.service_code == code)).first()
    numbers = [r.version for r in rows]
    return render(request, "service.html", code=code, rows=rows, diff=diff, draft=draft,
                  a=a if a is not None else (numbers[-2] if len(numbers) > 1 else numbers[-1]),
                  b=b if b is not None else numbers[-1], labels=load_labels(db))


@router.post("/services/{code}/versions/{version}/retire", dependencies=[allow("services.deploy"), central_only()])
def retire_version(request: Request, code: str, version: VersionNumber, form: CheckedForm, viewer: SignedIn,
                   db: SessionDep) -> Response:
    analyst(viewer)
    versions.retire_version(session=db, service_code=code, version=version, actor=viewer.signed_in)
    cookie.flash(request, viewer.lang.gettext("Version %(version)s is retired: it takes no new cases.",
                                              version=viewer.lang.number(version)))
    return redirect(f"/services/{code}")


@router.post("/services/{code}/retire", dependencies=[allow("services.deploy"), central_only()])
def retire_service(request: Request, code: str, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    analyst(viewer)
    versions.retire_service(session=db, service_code=code, actor=viewer.signed_in)
    cookie.flash(request, viewer.lang.gettext("The service is retired: it takes no new cases; open ones go on."))
    return redirect(f"/services/{code}")


@router.get("/services/{code}/migrations", dependencies=[allow("services.deploy")])
def migration_page(request: Request, code: str, viewer: SignedIn, db: SessionDep,
                   to: VersionChosen = None) -> HTMLResponse:
    """The dry run: every open case of an older version, movable or not and why."""
    analyst(viewer)
    rows = _versions(db, code)
    target = to if to is not None else max(r.version for r in rows if not r.retired) if any(
        not r.retired for r in rows) else rows[-1].version
    moves = version_moves.dry_run(session=db, service_code=code, to_version=target, actor=viewer.signed_in,
                                   settings=settings_of(request))
    return render(request, "migration.html", code=code, rows=rows, to=target, moves=moves, done=False,
                  labels=load_labels(db), why=_why(viewer))


@router.post("/services/{code}/migrations", dependencies=[allow("services.deploy")])
def migrate(request: Request, code: str, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> HTMLResponse:
    """Move every movable case, each in its own transaction; the page shows each case's result."""
    analyst(viewer)
    rows = _versions(db, code)
    typed = str(form.get("to", ""))
    target = int(typed) if typed.isascii() and typed.isdecimal() and len(typed) < 19 else 0
    if not 0 < target <= DB_INT_MAX:
        raise NotFound(N_("No such version."))
    moves = version_moves.migrate(session=db, service_code=code, to_version=target, actor=viewer.signed_in,
                                   settings=settings_of(request))
    return render(request, "migration.html", code=code, rows=rows, to=target, moves=moves, done=True,
                  labels=load_labels(db), why=_why(viewer))


def _why(viewer: Viewer) -> Callable[[str | None], str]:
    """Why a case cannot move, in the reader's language (Arabic where the sentence is a known one)."""
    def why(reason: str | None) -> str:
        if not reason:
            return ""
        return in_language(reason, viewer.lang.code)
    return why
