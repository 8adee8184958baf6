"""The rating screen: three faces and an optional reason. The citizen's link needs no sign-in; the counter's
tablet shows the same screen, full size, for a completed case the signed-in clerk may read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from admin_ui.i18n import N_
from admin_ui.pages import CheckedForm, CurrentViewer, PageRoute, SignedIn, allow, client_of, render
from admin_ui.params import PageId
from api.deps import SessionDep, settings_of
from engine.cases import lifecycle as cases
from engine.cases import ratings
from engine.catalog import processes
from engine.core.errors import Conflict, DomainError, Invalid, NotFound, RateLimited
from storage.models.cases import Case

router = APIRouter(route_class=PageRoute)

FACES = {"happy": N_("Satisfied"), "neutral": N_("Neither"), "unhappy": N_("Not satisfied")}
REASON_WORDS = {"waiting_time": N_("Waiting time"), "staff_courtesy": N_("Staff courtesy"),
                "clear_information": N_("Clear information"), "speed": N_("Speed of the service"),
                "fees": N_("Fees"), "documents_asked": N_("Papers asked for")}
NOT_FOUND = N_("No request matches this rating link. Check the link in your message.")
NOT_COMPLETED = N_("Only a completed request can be rated.")
ALREADY = N_("This request has already been rated. Thank you!")
TOO_MANY = N_("Too many attempts for this tracking number. Try again later.")


def _page(request: Request, db: SessionDep, case: Case | None, *, action: str, kiosk: bool,
          status_code: int = 200, error: str | None = None, done: bool = False, token: str = "",
          values: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> HTMLResponse:
    service: Any = None
    if case is not None:
        service = processes.cache.get(db, case.process_version_id, settings_of(request)).service.name
    return render(request, "rate.html", status_code=status_code, case=case, action=action, kiosk=kiosk,
                  service=service.model_dump() if service else None, error=error, done=done, token=token,
                  faces=FACES, reasons=[(code, REASON_WORDS[code]) for code in ratings.REASONS],
                  values=values or {}, errors=errors or {},
                  max_chars=settings_of(request).rating_reason_max_chars)


def _refused(request: Request, db: SessionDep, exc: DomainError, case: Case | None, *, action: str,
             kiosk: bool) -> HTMLResponse:
    if isinstance(exc, RateLimited):
        return _page(request, db, None, action=action, kiosk=kiosk, status_code=exc.status, error=TOO_MANY)
    if isinstance(exc, NotFound):
        return _page(request, db, None, action=action, kiosk=kiosk, status_code=exc.status, error=NOT_FOUND)
    if isinstance(exc, Conflict):
        already = exc.message_id == ratings.ALREADY_RATED
        return _page(request, db, case, action=action, kiosk=kiosk, status_code=exc.status,
                     error=ALREADY if already else NOT_COMPLETED)
    raise exc


def _given(form: CheckedForm) -> ratings.RatingInput:
    return ratings.RatingInput(score=str(form.get("score", "")), reason_code=str(form.get("reason_code", "")),
                               reason=str(form.get("reason", ""))[:20_000])


def _field_errors(exc: Invalid) -> dict[str, str]:
    words = {"score": N_("Choose one of the three faces."), "reason_code": N_("Choose one of the reasons listed."),
             "reason": N_("The reason is too long.")}
    return {str(d.get("field")): words.get(str(d.get("field")), str(d.get("msg"))) for d in exc.details}


@router.get("/rate/{number}", dependencies=[allow("public")])
def rate_page(request: Request, _viewer: CurrentViewer, db: SessionDep, number: str, t: str = "") -> HTMLResponse:
    action = f"/rate/{number[:40]}"
    case = None
    try:
        case = ratings.case_of_link(session=db, tracking_number=number[:40], token=t[:64],
                                    settings=settings_of(request), client=client_of(request))
        ratings.check_rateable(db, case)
    except DomainError as exc:
        return _refused(request, db, exc, case, action=action, kiosk=False)
    return _page(request, db, case, action=action, kiosk=False, token=t[:64])


@router.post("/rate/{number}", dependencies=[allow("public")])
def rate(request: Request, form: CheckedForm, _viewer: CurrentViewer, db: SessionDep, number: str) -> HTMLResponse:
    action = f"/rate/{number[:40]}"
    token = str(form.get("t", ""))[:64]
    given = _given(form)
    case = None
    try:
        case = ratings.case_of_link(session=db, tracking_number=number[:40], token=token,
                                    settings=settings_of(request), client=client_of(request))
        ratings.rate(session=db, tracking_number=number[:40], token=token, rating=given,
                     settings=settings_of(request))
    except Invalid as exc:
        return _page(request, db, case, action=action, kiosk=False, status_code=422, token=token,
                     values=_values(given), errors=_field_errors(exc))
    except DomainError as exc:
        return _refused(request, db, exc, case, action=action, kiosk=False)
    return _page(request, db, case, action=action, kiosk=False, done=True)


@router.get("/desk/rate/{case_id}", dependencies=[allow("rating.desk")])
def desk_rate_page(request: Request, viewer: SignedIn, db: SessionDep, case_id: PageId) -> HTMLResponse:
    action = f"/desk/rate/{case_id}"
    case = cases.get_case(session=db, case_id=case_id, actor=viewer.signed_in, settings=settings_of(request),
                          action="rating.desk")
    try:
        ratings.check_rateable(db, case)
    except DomainError as exc:
        return _refused(request, db, exc, case, action=action, kiosk=True)
    return _page(request, db, case, action=action, kiosk=True)


@router.post("/desk/rate/{case_id}", dependencies=[allow("rating.desk")])
def desk_rate(request: Request, form: CheckedForm, viewer: SignedIn, db: SessionDep, case_id: PageId) -> HTMLResponse:
    action = f"/desk/rate/{case_id}"
    given = _given(form)
    case = cases.get_case(session=db, case_id=case_id, actor=viewer.signed_in, settings=settings_of(request),
                          action="rating.desk")
    try:
        ratings.rate_at_desk(session=db, case_id=case_id, rating=given, actor=viewer.signed_in,
                             settings=settings_of(request))
    except Invalid as exc:
        return _page(request, db, case, action=action, kiosk=True, status_code=422, values=_values(given),
                     errors=_field_errors(exc))
    except DomainError as exc:
        return _refused(request, db, exc, case, action=action, kiosk=True)
    return _page(request, db, case, action=action, kiosk=True, done=True)


def _values(given: ratings.RatingInput) -> dict[str, str]:
    return {"score": given.score, "reason_code": given.reason_code or "", "reason": given.reason or ""}
