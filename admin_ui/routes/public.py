"""The citizen's tracking page: no sign-in; tracking number and the phone's last four digits give the status
and the current step, and nothing personal."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from admin_ui.pages import CheckedForm, CurrentViewer, DbSession, PageRoute, render, settings_of
from engine import public
from engine.errors import NotFound, RateLimited

router = APIRouter(route_class=PageRoute)


@router.get("/track")
def track_page(request: Request, _viewer: CurrentViewer, number: str = "") -> HTMLResponse:
    return render(request, "track.html", number=number[:40], result=None, error=None)


@router.post("/track")
def track(request: Request, form: CheckedForm, viewer: CurrentViewer, db: DbSession) -> HTMLResponse:
    number = str(form.get("number", "")).strip()[:40]
    last4 = str(form.get("phone_last4", "")).strip()
    _ = viewer.lang.gettext
    try:
        found = public.track(session=db, tracking_number=number, phone_last4=last4, settings=settings_of(request))
    except RateLimited:
        return render(request, "track.html", status_code=429, number=number, result=None,
                      error=_("Too many attempts for this tracking number. Try again later."))
    except NotFound:
        return render(request, "track.html", status_code=404, number=number, result=None,
                      error=_("No request matches this tracking number and phone. Check both and try again."))
    names = {"ar": found.get("current_step_ar") or found.get("current_step"), "en": found.get("current_step")}
    return render(request, "track.html", number=found["tracking_number"], error=None, result={
        "number": found["tracking_number"], "status": found["status"],
        "service": viewer.lang.pick((found.get("service") or {}).get("name"), (found.get("service") or {})
                                    .get("code", "")),
        "step": viewer.lang.pick(names) if found.get("current_step") else "", "updated_at": found["updated_at"]})
