"""Signing in and out, the reader's language and calendar, and the way in to the pages of their roles."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from admin_ui import session as cookie
from admin_ui.pages import CheckedForm, CurrentViewer, PageRoute, Viewer, allow, client_of, redirect, render, safe_next
from api.deps import SessionDep, settings_of
from engine.core import nodes
from engine.core.errors import Unauthorized
from engine.core.throttle import Throttled
from engine.people import accounts, users

router = APIRouter(route_class=PageRoute)


def home_of(viewer: Viewer) -> str:
    """Where a user starts: the first page of their roles (front desk, inbox, cases)."""
    return viewer.nav[0][0] if viewer.nav else "/cases"


@router.get("/", dependencies=[allow("public")])
def home(viewer: CurrentViewer) -> Response:
    return redirect(home_of(viewer) if viewer.actor else "/login")


@router.get("/login", dependencies=[allow("public")])
def login_page(request: Request, viewer: CurrentViewer, next: str = "") -> Response:  # noqa: A002 - the usual name
    if viewer.actor is not None:
        return redirect(safe_next(next, home_of(viewer)))
    return render(request, "login.html", next=safe_next(next, ""), error=None, username="")


@router.post("/login", dependencies=[allow("public")])
def login(request: Request, form: CheckedForm, db: SessionDep, viewer: CurrentViewer) -> Response:
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")), "")
    try:
        user = users.authenticate(session=db, username=username, password=password, settings=settings_of(request),
                                  client=client_of(request))
    except Unauthorized:
        return render(request, "login.html", status_code=401, next=target, username=username,
                      error=viewer.lang.gettext("Wrong username or password. Check both and try again."))
    except Throttled as exc:
        page = render(request, "login.html", status_code=429, next=target, username=username,
                      error=viewer.lang.gettext("Too many wrong passwords. Wait %(seconds)s seconds and try again.",
                                                seconds=viewer.lang.number(exc.retry_after)))
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    cookie.sign_in(request, user.username, users.session_version(db, user.username, user.session_version),
                   settings_of(request).node_center)
    return redirect(target or "/")


@router.post("/logout", dependencies=[allow("public")])
def logout(request: Request, _form: CheckedForm, viewer: CurrentViewer, db: SessionDep) -> Response:
    """Sign out: this cookie, and every other token and cookie of the user, stop working at once."""
    if viewer.user is not None:
        accounts.sign_out(session=db, username=viewer.user.username)
    cookie.sign_out(request)
    cookie.flash(request, viewer.lang.gettext("You have signed out."))
    return redirect("/login")


@router.post("/preferences", dependencies=[allow("public")])
def preferences(request: Request, form: CheckedForm, viewer: CurrentViewer, db: SessionDep) -> Response:
    """The language switch (and calendar): remembered on the user, or in the session before signing in."""
    language = str(form.get("language", "")) or None
    calendar = str(form.get("calendar", "")) or None
    if viewer.user is not None and not nodes.is_center(db):
        users.set_preferences(session=db, username=viewer.user.username, language=language, calendar=calendar)
    elif language in users.LANGUAGES:  # before signing in, or on a center node, which does not write the users
        # (central's rows, storage/nodes.py): remembered in the session
        cookie.choose_language(request, language)
    return redirect(safe_next(str(form.get("next", "")), "/"))
