"""The citizen's own pages, phone-sized and Arabic first: sign in by a code sent by SMS, then one's requests.

The citizen's cookie (``shubbak_citizen``) holds a citizen token (engine/citizen/signin.py): short-lived
(``citizen_token_minutes``), HttpOnly, SameSite=Lax, Secure in production, and apart from the staff's session
cookie, which it never opens. The forms carry the CSRF token like every other page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from admin_ui.i18n import ERROR_DEFAULT, ERROR_HEADINGS, N_
from admin_ui.pages import (
    CITIZEN_COOKIE,
    CheckedForm,
    CitizenSignInRequired,
    CurrentViewer,
    PageRoute,
    Viewer,
    allow,
    citizen_phone_of,
    client_of,
    redirect,
    render,
)
from api.deps import SessionDep, settings_of
from engine.citizen import requests, signin
from engine.core.errors import Invalid, NotFound, RateLimited, Unauthorized

router = APIRouter(route_class=PageRoute)


@router.get("/citizen", dependencies=[allow("public")])
def sign_in_page(request: Request, _viewer: CurrentViewer) -> Response:
    try:
        citizen_phone_of(request)
    except CitizenSignInRequired:
        return render(request, "citizen.html", step="phone", phone="", error=None)
    return redirect("/citizen/cases")


@router.post("/citizen/code", dependencies=[allow("public")])
def ask_code(request: Request, form: CheckedForm, viewer: CurrentViewer, db: SessionDep) -> HTMLResponse:
    phone = str(form.get("phone", ""))[:40]
    _ = viewer.lang.gettext
    try:
        signin.request_code(session=db, settings=settings_of(request), phone=phone, client=client_of(request))
    except Invalid as exc:
        return render(request, "citizen.html", status_code=exc.status, step="phone", phone=phone,
                      error=_("Type your mobile number, for example 01001234567."))
    except RateLimited as exc:
        return render(request, "citizen.html", status_code=exc.status, step="phone", phone=phone,
                      error=_("Too many codes were asked for. Try again later."))
    return render(request, "citizen.html", status_code=202, step="code", phone=phone, error=None)


@router.post("/citizen/token", dependencies=[allow("public")])
def use_code(request: Request, form: CheckedForm, viewer: CurrentViewer, db: SessionDep) -> Response:
    phone = str(form.get("phone", ""))[:40]
    _ = viewer.lang.gettext
    settings = settings_of(request)
    try:
        token = signin.exchange(session=db, settings=settings, phone=phone, code=str(form.get("code", ""))[:16],
                                client=client_of(request))
    except (Invalid, Unauthorized, RateLimited) as exc:
        return render(request, "citizen.html", status_code=exc.status, step="code", phone=phone,
                      error=_("This code is wrong, expired or used up. Ask for a new one."))
    response = redirect("/citizen/cases")
    response.set_cookie(CITIZEN_COOKIE, token, max_age=settings.citizen_token_minutes * 60, httponly=True,
                        samesite="lax", secure=settings.environment == "production", path="/citizen")
    return response


@router.post("/citizen/sign-out", dependencies=[allow("public")])
def sign_out(request: Request, _form: CheckedForm, _viewer: CurrentViewer) -> Response:
    """The sign-in page again, the citizen's cookie gone (the staff's session, if any, is not touched)."""
    response = render(request, "citizen.html", step="phone", phone="", error=None)
    response.delete_cookie(CITIZEN_COOKIE, path="/citizen")
    return response


@router.get("/citizen/cases", dependencies=[allow("citizen.own")])
def my_cases(request: Request, viewer: CurrentViewer, db: SessionDep) -> HTMLResponse:
    found = requests.list_cases(session=db, settings=settings_of(request), phone=request.state.citizen_phone)
    return render(request, "citizen.html", step="cases", error=None,
                  cases=[_words(viewer, c) for c in found], case=None)


@router.get("/citizen/cases/{case_id}", dependencies=[allow("citizen.own")])
def my_case(request: Request, case_id: str, viewer: CurrentViewer, db: SessionDep) -> HTMLResponse:
    number = int(case_id) if case_id.isascii() and case_id.isdecimal() and len(case_id) < 10 else 0
    try:
        found = requests.read_case(session=db, settings=settings_of(request), phone=request.state.citizen_phone,
                                   case_id=number)
    except NotFound:
        return render(request, "error.html", status_code=404, message=N_("You have no request with this number."),
                      heading=ERROR_HEADINGS.get(404, ERROR_DEFAULT))
    return render(request, "citizen.html", step="case", error=None, cases=[],
                  case=_words(viewer, found))


def _words(viewer: Viewer, case: dict[str, Any]) -> dict[str, Any]:
    """A case in the reader's language."""
    pick = viewer.lang.pick
    return {**case, "service": pick(case["service"]["name"], case["service"]["code"]),
            "status_text": pick(case["status_words"]), "steps": [pick(s) for s in case["current_step"]],
            "documents": [{**d, "title": pick(d["title"])} for d in case.get("documents", [])]}
