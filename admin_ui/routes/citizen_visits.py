"""The citizen's booked visits in pages (engine/queue/bookings.py): one's visits with a button to cancel, then
a place and a day, then the day's free slots, each a button that books it. Plain forms: no JavaScript needed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from admin_ui.i18n import Lang
from admin_ui.pages import CheckedForm, CurrentViewer, PageRoute, allow, redirect, render
from api.deps import SessionDep, settings_of
from engine.core import clock
from engine.core.errors import DomainError, Invalid
from engine.core.settings import Settings
from engine.people.centers import list_centers
from engine.queue import appointments, bookings, config

router = APIRouter(route_class=PageRoute)

STATUS_WORDS = {"booked": {"ar": "محجوز", "en": "Booked"}, "cancelled": {"ar": "ملغى", "en": "Cancelled"},
                "arrived": {"ar": "تم الحضور", "en": "Arrived"}, "no_show": {"ar": "لم يحضر", "en": "Missed"}}


def _said(exc: DomainError, lang: Lang) -> str:
    """A refusal in the reader's language, with what each field lacked."""
    words = [exc.text(lang.code)]
    for d in exc.details if isinstance(exc, Invalid) else []:
        words.append(str(d.get("msg_ar") if lang.code == "ar" and d.get("msg_ar") else d.get("msg")))
    return " — ".join(w for w in words if w)


def _places(db: Session, lang: Lang) -> list[dict[str, str]]:
    centers = {c.id: c for c in list_centers(db)}
    names = {c.code: c for c in config.categories(db)}
    out = []
    for plan in appointments.plans(db):
        category = names.get(plan.category_code)
        if not plan.active or category is None:
            continue
        center = centers.get(plan.center_key) if plan.center_key else None
        label = lang.pick({"ar": category.name_ar, "en": category.name_en}, category.code)
        if center is not None:
            label += " — " + lang.pick({"ar": center.name_ar, "en": center.name_en}, center.code)
        out.append({"value": f"{center.code if center else ''}:{category.code}", "label": label})
    return out


def _place(value: str) -> tuple[str | None, str]:
    center, _, category = value.partition(":")
    return (center or None), category


def _days(settings: Settings, lang: Lang) -> list[dict[str, str]]:
    today = appointments.local_day(clock.now(), settings)
    return [{"value": (today + timedelta(days=n)).isoformat(), "label": lang.date(today + timedelta(days=n))}
            for n in range(settings.booking_days_ahead + 1)]


def _page(request: Request, db: Session, lang: Lang, *, status_code: int = 200, error: str | None = None,
          place: str = "", day: str = "", slots: dict[str, Any] | None = None,
          booked: dict[str, Any] | None = None) -> HTMLResponse:
    settings = settings_of(request)
    mine = bookings.mine(session=db, settings=settings, phone=request.state.citizen_phone)
    names = {c.code: c for c in config.categories(db, active_only=False)}
    visits = [{**bookings.view(b, settings), "status_text": lang.pick(STATUS_WORDS.get(b.status, {})) or b.status,
               "category_text": lang.pick({"ar": names[b.category_code].name_ar, "en": names[b.category_code].name_en})
               if b.category_code in names else b.category_code} for b in mine]
    return render(request, "citizen_visits.html", status_code=status_code, error=error, visits=visits,
                  places=_places(db, lang), days=_days(settings, lang), place=place, day=day, slots=slots,
                  booked=booked)


@router.get("/citizen/appointments", dependencies=[allow("citizen.own")])
def visits_page(request: Request, viewer: CurrentViewer, db: SessionDep) -> HTMLResponse:
    return _page(request, db, viewer.lang)


@router.get("/citizen/appointments/slots", dependencies=[allow("citizen.own")])
def slots_page(request: Request, viewer: CurrentViewer, db: SessionDep, place: str = "", day: str = "") -> HTMLResponse:
    place, day = place[:80], day[:16]
    center, category = _place(place)
    try:
        found = appointments.free_slots(session=db, settings=settings_of(request),
                                        center_id=config.center_id_of(db, center), category_code=category, day=day,
                                        now=clock.now())
    except DomainError as exc:
        return _page(request, db, viewer.lang, status_code=exc.status, error=_said(exc, viewer.lang), place=place,
                     day=day)
    return _page(request, db, viewer.lang, place=place, day=day, slots=found)


@router.post("/citizen/appointments", dependencies=[allow("citizen.own")])
def book(request: Request, form: CheckedForm, viewer: CurrentViewer, db: SessionDep) -> HTMLResponse:
    place, day, at = str(form.get("place", ""))[:80], str(form.get("day", ""))[:16], str(form.get("time", ""))[:8]
    center, category = _place(place)
    settings = settings_of(request)
    try:
        booking, _new = bookings.book(session=db, settings=settings, phone=request.state.citizen_phone,
                                      center_id=config.center_id_of(db, center), category_code=category, day=day,
                                      at=at, language=viewer.lang.code)
    except DomainError as exc:
        return _page(request, db, viewer.lang, status_code=exc.status, error=_said(exc, viewer.lang), place=place,
                     day=day)
    return _page(request, db, viewer.lang, booked=bookings.view(booking, settings))


@router.post("/citizen/appointments/{code}/cancel", dependencies=[allow("citizen.own")])
def cancel(request: Request, code: str, _form: CheckedForm, viewer: CurrentViewer, db: SessionDep) -> Response:
    try:
        bookings.cancel(session=db, settings=settings_of(request), phone=request.state.citizen_phone, code=code[:20])
    except DomainError as exc:
        return _page(request, db, viewer.lang, status_code=exc.status, error=_said(exc, viewer.lang))
    return redirect("/citizen/appointments")
