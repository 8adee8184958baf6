"""Accounts on the pages: everyone changes their own password; admins list, change and deactivate users."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from admin_ui import session as cookie
from admin_ui.pages import CheckedForm, PageRoute, SignedIn, Viewer, allow, client_of, redirect, render
from api.deps import SessionDep, central_only, settings_of
from engine.core.errors import Forbidden, Invalid, Unauthorized
from engine.people import accounts, centers

router = APIRouter(route_class=PageRoute)


def _admin(viewer: Viewer) -> None:
    if not viewer.signed_in.has("admin"):
        raise Forbidden("pages.admins_only")


def _password_page(request: Request, status_code: int = 200, errors: list[str] | None = None,
                   error: str | None = None) -> HTMLResponse:
    return render(request, "password.html", status_code=status_code, errors=errors or [], error=error,
                  min_chars=settings_of(request).password_min_chars)


@router.get("/account/password", dependencies=[allow("me")])
def password_page(request: Request, viewer: SignedIn) -> HTMLResponse:
    return _password_page(request)


@router.post("/account/password", dependencies=[allow("me"), central_only()])
def change_password(request: Request, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    """A new password for the reader. Every other sign-in of theirs ends; this browser is signed in afresh."""
    settings = settings_of(request)
    try:
        user = accounts.change_password(session=db, actor=viewer.signed_in,
                                        current_password=str(form.get("current_password", "")),
                                        new_password=str(form.get("new_password", "")), settings=settings,
                                        client=client_of(request))
    except Unauthorized:
        return _password_page(request, 401, error=viewer.lang.gettext("The current password is wrong."))
    except Invalid as exc:
        return _password_page(request, 422, errors=[str(d.get("msg", "")) for d in exc.details])
    cookie.sign_in(request, user.username, user.session_version, settings.node_center)
    cookie.flash(request, viewer.lang.gettext("Your password was changed. Every other sign-in has ended."))
    return redirect("/")


def _filters(role: str, center: str, active: str) -> dict[str, Any]:
    return {"role": role.strip()[:100] or None, "center_code": center.strip()[:32] or None,
            "active": {"yes": True, "no": False}.get(active)}


@router.get("/admin/users", dependencies=[allow("users.manage")])
def users_page(request: Request, viewer: SignedIn, db: SessionDep, role: str = "", center: str = "",
               active: str = "", page: int = 1) -> HTMLResponse:
    _admin(viewer)
    size = min(50, settings_of(request).max_page_size)
    page = max(1, min(page, 10_000))
    found = accounts.list_users(db, **_filters(role, center, active), limit=size, offset=(page - 1) * size)
    codes = {c.id: c.code for c in centers.list_centers(db)}
    return render(request, "users.html", users=found.users, total=found.total, page=page,
                  pages=max(1, -(-found.total // size)), codes=codes, centers=sorted(codes.values()),
                  role=role, center=center, active=active)


@router.get("/admin/users/{username}", dependencies=[allow("users.manage")])
def user_page(request: Request, username: str, viewer: SignedIn, db: SessionDep) -> HTMLResponse:
    _admin(viewer)
    return _user(request, db, username)


def _user(request: Request, db: SessionDep, username: str, status_code: int = 200,
          errors: list[str] | None = None) -> HTMLResponse:
    user = accounts.by_username(db, username)
    events, _total = accounts.events(db, user.username, limit=settings_of(request).max_page_size)
    codes = {c.id: c.code for c in centers.list_centers(db)}
    return render(request, "user.html", status_code=status_code, user=user, events=events, codes=codes,
                  centers=sorted(codes.values()), errors=errors or [])


@router.post("/admin/users/{username}", dependencies=[allow("users.manage"), central_only()])
def update_user(request: Request, username: str, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    """The edit form (name, roles, center, a new password) or the one-button activate/deactivate form."""
    _admin(viewer)
    changes: dict[str, Any] = {}
    if "active" in form:
        changes["active"] = form.get("active") == "yes"
    if "full_name" in form:
        changes["full_name"] = str(form.get("full_name", ""))
        changes["roles"] = [r.strip() for r in str(form.get("roles", "")).split(",") if r.strip()]
        changes["center_code"] = str(form.get("center", "")).strip() or None
    password = str(form.get("password", ""))
    if password:
        changes["password"] = password
    try:
        accounts.update_user(session=db, username=username, changes=changes, actor=viewer.signed_in,
                             settings=settings_of(request))
    except Invalid as exc:
        db.rollback()
        return _user(request, db, username, status_code=422,
                     errors=[f"{d.get('field')}: {d.get('msg')}" for d in exc.details])
    cookie.flash(request, viewer.lang.gettext("The user %(name)s was saved.", name=username))
    return redirect(f"/admin/users/{username}")
