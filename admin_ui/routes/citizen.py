"""The citizen's own pages, phone-sized and Arabic first: sign in by a code sent by SMS, then one's requests.

The citizen's cookie (``shubbak_citizen``) holds a citizen token (engine/citizen/signin.py): short-lived
(``citizen_token_minutes``), HttpOnly, SameSite=Lax, Secure in production, and apart from the staff's session
cookie, which it never opens. The forms carry the CSRF token like every other page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from admin_ui import documents as page_documents
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
from engine.cases import documents
from engine.citizen import apply, requests, returns, signin
from engine.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, RateLimited, Unauthorized
from engine.people import centers
from forms import fields as form_fields
from storage.bounds import DB_ID_MAX

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
    return _cases_page(request, viewer, db)


def _cases_page(request: Request, viewer: Viewer, db: SessionDep, *, nid_error: str | None = None,
                typed: str = "", status_code: int = 200) -> HTMLResponse:
    nid = request.state.citizen_national_id
    found = requests.list_cases(session=db, settings=settings_of(request), phone=request.state.citizen_phone,
                                national_id=nid)
    online = [{"code": o["code"], "name": viewer.lang.pick(o["name"], o["code"])} for o in apply.online_services(db)]
    return render(request, "citizen.html", status_code=status_code, step="cases", error=None,
                  cases=[_words(viewer, c) for c in found], case=None, online=online, national_id=nid,
                  nid_error=nid_error, nid_typed=typed)


@router.post("/citizen/national-id", dependencies=[allow("citizen.own")])
def add_national_id(request: Request, form: CheckedForm, viewer: CurrentViewer, db: SessionDep) -> Response:
    """The citizen adds their national ID to the session: from then on only the requests carrying it too (a
    shared family phone). The cookie gets the new token (engine/citizen/signin.py ``add_national_id``)."""
    settings = settings_of(request)
    typed = str(form.get("national_id", ""))[:40]
    _ = viewer.lang.gettext
    try:
        token, expires = signin.add_national_id(request.cookies.get(CITIZEN_COOKIE), settings, typed)
    except Invalid as exc:
        said = "; ".join(str(d.get("msg_ar") if viewer.lang.code == "ar" else d.get("msg")) for d in exc.details)
        return _cases_page(request, viewer, db, nid_error=said, typed=typed, status_code=exc.status)
    except Conflict as exc:
        return _cases_page(request, viewer, db, status_code=exc.status,
                           nid_error=_("Your sign-in already carries another national ID: sign out and sign in "
                                       "again to use a different one."))
    response = redirect("/citizen/cases")
    left = max(1, int((expires - datetime.now(UTC)).total_seconds()))
    response.set_cookie(CITIZEN_COOKIE, token, max_age=left, httponly=True, samesite="lax",
                        secure=settings.environment == "production", path="/citizen")
    return response


def _case_number(text: str) -> int:
    """A case number typed in an address or posted by a form; 0 (no case) for anything else, a number of
    thousands of digits included."""
    number = int(text) if text.isascii() and text.isdecimal() and len(text) <= 19 else 0
    return number if number <= DB_ID_MAX else 0


@router.get("/citizen/cases/{case_id}", dependencies=[allow("citizen.own")])
def my_case(request: Request, case_id: str, viewer: CurrentViewer, db: SessionDep) -> HTMLResponse:
    number = _case_number(case_id)
    _ = viewer.lang.gettext
    notices = {("answered", "1"): _("Your paper was sent. The department continues with your request."),
               ("applied", "1"): _("Your application was received. Keep its tracking number."),
               ("applied", "papers"): _("Your application was received, but a required paper is missing: bring it "
                                        "to the center.")}
    said = [words for (key, value), words in notices.items() if request.query_params.get(key) == value]
    return _case_page(request, viewer, db, number, notice=said[0] if said else None)


def _case_page(request: Request, viewer: CurrentViewer, db: SessionDep, number: int, *, error: str | None = None,
               notice: str | None = None, status_code: int = 200) -> HTMLResponse:
    settings = settings_of(request)
    try:
        found = requests.read_case(session=db, settings=settings, phone=request.state.citizen_phone, case_id=number,
                                   national_id=request.state.citizen_national_id)
    except NotFound:
        return render(request, "error.html", status_code=404, message=N_("You have no request with this number."),
                      heading=ERROR_HEADINGS.get(404, ERROR_DEFAULT))
    return render(request, "citizen.html", status_code=status_code, step="case", error=error, notice=notice,
                  cases=[], case=_words(viewer, found), note_max=settings.citizen_note_max_chars)


@router.post("/citizen/tasks/{task_id}/answer", dependencies=[allow("citizen.own")])
async def answer_return(request: Request, task_id: str, form: CheckedForm, viewer: CurrentViewer,
                        db: SessionDep) -> Response:
    """The citizen's answer to a return: the paper photographed or chosen on the phone, and a note. Refusals
    show the request again with the reason; the answer leads back to the request."""
    settings = settings_of(request)
    _ = viewer.lang.gettext
    file = form.get("file")
    case_id = _case_number(str(form.get("case", "")))

    def answer() -> int:
        if not isinstance(file, UploadFile) or not file.filename:
            raise Invalid("documents.upload_incomplete")
        parts = page_documents.form_parts(str(form.get("kind", ""))[:200], file,
                                          note=str(form.get("note", ""))[:settings.citizen_note_max_chars + 1])
        done = returns.answer(session=db, settings=settings, store=documents.store_for(settings),
                              phone=request.state.citizen_phone, task_id=task_id[:64], parts=parts,
                              national_id=request.state.citizen_national_id)
        assert done.case.id is not None
        return done.case.id

    try:
        answered = await run_in_threadpool(answer)
    except NotFound:
        return render(request, "error.html", status_code=404, message=N_("You have no request with this number."),
                      heading=ERROR_HEADINGS.get(404, ERROR_DEFAULT))
    except DomainError as exc:
        return await run_in_threadpool(_case_page, request, viewer, db, case_id, error=_refusal(viewer, exc),
                                       status_code=exc.status)
    return redirect(f"/citizen/cases/{answered}?answered=1")


def _refusal(viewer: Viewer, exc: DomainError) -> str:
    """The reason an answer was refused, in the reader's words."""
    _ = viewer.lang.gettext
    words = {
        "documents.upload_incomplete": _("Photograph the paper or choose its file first."),
        "documents.file_empty": _("The file is empty: photograph the paper again."),
        "documents.type_not_accepted": _("Only a photo (JPEG, PNG) or a PDF of the paper is accepted."),
        "documents.type_mismatch": _("Only a photo (JPEG, PNG) or a PDF of the paper is accepted."),
        "documents.file_too_large": _("The file is too large: photograph the paper again, or send a smaller PDF."),
        "documents.not_a_kind_of_service": _("Choose which paper you are sending."),
        "citizen.note_too_long": _("The note is too long."),
        "form.has_errors": _("Write a note for the department (at least a few words)."),
        "citizen.not_your_step": _("This step is with the department, not with you."),
        "citizen.not_a_return": _("This step is not answered with a paper."),
        "citizen.return_answered": _("This step was already answered, or your request has moved on."),
    }
    return words.get(exc.message_id or "", _("Your paper could not be sent. Try again."))


def _words(viewer: Viewer, case: dict[str, Any]) -> dict[str, Any]:
    """A case in the reader's language."""
    pick = viewer.lang.pick
    return {**case, "service": pick(case["service"]["name"], case["service"]["code"]),
            "status_text": pick(case["status_words"]), "steps": [pick(s) for s in case["current_step"]],
            "documents": [{**d, "title": pick(d["title"])} for d in case.get("documents", [])],
            "returns": [{**r, "title": pick(r["title"]),
                         "kinds": [{"kind": k["kind"], "label": pick({"ar": k["ar"], "en": k["en"]})}
                                   for k in r["kinds"]]} for r in case.get("returns", [])]}


def _apply_page(request: Request, viewer: Viewer, db: SessionDep, code: str, *, values: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, who: dict[str, str] | None = None, error: str | None = None,
                status_code: int = 200) -> HTMLResponse:
    """The online application of a service: the intake form drawn from its JSON Schema, the papers, the fee."""
    settings = settings_of(request)
    pick = viewer.lang.pick
    try:
        found = apply.service_form(session=db, settings=settings, service_code=code[:100])
    except NotFound:
        return render(request, "error.html", status_code=404, message=N_("No service has this code."),
                      heading=ERROR_HEADINGS.get(404, ERROR_DEFAULT))
    except Forbidden:
        return render(request, "error.html", status_code=403,
                      message=N_("This service cannot be applied for online: apply at the center."),
                      heading=ERROR_HEADINGS.get(403, ERROR_DEFAULT))
    return render(request, "citizen_apply.html", status_code=status_code, service=found,
                  service_name=pick(found["name"], found["code"]), error=error, who=who or {},
                  fields=form_fields.schema_fields(found["form"], viewer.lang, values or {}, errors or {}),
                  papers=[{**p, "label": pick({"ar": p["ar"], "en": p["en"]}),
                           "field": page_documents.FIELD_PREFIX + p["kind"]} for p in found["papers"]],
                  centers=[{"code": c.code, "name": c.name_ar if viewer.lang.code == "ar" else c.name_en}
                           for c in centers.list_centers(db)])


@router.get("/citizen/apply/{service_code}", dependencies=[allow("citizen.own")])
def apply_page(request: Request, service_code: str, viewer: CurrentViewer, db: SessionDep) -> HTMLResponse:
    return _apply_page(request, viewer, db, service_code)


@router.post("/citizen/apply/{service_code}", dependencies=[allow("citizen.own")])
async def apply_online(request: Request, service_code: str, form: CheckedForm, viewer: CurrentViewer,
                       db: SessionDep) -> Response:
    """Apply: the form checked like the desk's, the papers checked by their first bytes before the case opens;
    then each paper stored and, where the front desk needs no originals, the request registered."""
    return await run_in_threadpool(_apply, request, service_code[:100], form, viewer, db)


def _apply(request: Request, code: str, form: Any, viewer: Viewer, db: SessionDep) -> Response:
    settings = settings_of(request)
    lang = viewer.lang
    _ = lang.gettext
    phone = request.state.citizen_phone
    nid = request.state.citizen_national_id
    who = {key: str(form.get(key, "")).strip()[:200] for key in ("full_name", "national_id", "center")}
    try:
        schema = apply.service_form(session=db, settings=settings, service_code=code)["form"]
    except DomainError:
        return _apply_page(request, viewer, db, code)
    data, raw = form_fields.parse(schema, form)
    scans = page_documents.uploads(form)
    refused = page_documents.precheck(scans, settings, lang)
    if refused:
        return _apply_page(request, viewer, db, code, values=raw, who=who, error="; ".join(refused.values()),
                           status_code=422)
    try:
        outcome, _fee = apply.apply(session=db, settings=settings, phone=phone, service_code=code,
                                    center=who["center"], citizen={"full_name": who["full_name"],
                                                                   "national_id": who["national_id"]}, data=data,
                                    national_id=nid)
    except Invalid as exc:
        errors = form_fields.messages(exc.details, schema, lang)
        said = "; ".join(str(d.get("msg_ar") if lang.code == "ar" else d.get("msg")) for d in exc.details
                         if str(d.get("field", "")).split(".")[-1] in ("full_name", "national_id", "center", "phone"))
        return _apply_page(request, viewer, db, code, values=raw, errors=errors, who=who,
                           error=said or errors.get("") or _("Check the form: some answers are missing or wrong."),
                           status_code=422)
    case_id = outcome.case.id
    assert case_id is not None
    store = documents.store_for(settings)
    for scan in scans:
        try:
            apply.add_paper(session=db, settings=settings, store=store, phone=phone, case_id=case_id,
                            parts=page_documents.form_parts(scan.kind, scan.file), national_id=nid)
        except DomainError:  # the case is open: say which paper is missing rather than fail the whole answer
            return redirect(f"/citizen/cases/{case_id}?applied=papers")
    if not apply.verifies(db, settings, outcome.case):
        try:
            apply.submit(session=db, settings=settings, phone=phone, case_id=case_id, national_id=nid)
        except DomainError:
            return redirect(f"/citizen/cases/{case_id}?applied=papers")
    return redirect(f"/citizen/cases/{case_id}?applied=1")
