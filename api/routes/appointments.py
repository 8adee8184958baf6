"""Booked visits (engine/queue/appointments.py, bookings.py, arrivals.py): the citizen lists free slots, books
and cancels (``/api/citizen/appointments``, a citizen's token); administrators set the slots and the centers'
hours; the front desk reads a day's bookings; the kiosk turns a booking into a ticket (no sign-in)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from api.deps import CitizenPhone, ClientAddress, CurrentActor, SessionDep, SettingsDep, allow, central_only
from api.routes.queue import TicketPublic, ticket_view
from engine.core import clock
from engine.core.settings import Settings
from engine.people import policy
from engine.people.centers import list_centers
from engine.queue import appointments, arrivals, bookings, config
from storage.models.booking import Booking

router = APIRouter()

CenterCode = Annotated[str | None, Query(max_length=32, description="the center's code, if there are centers")]
Status = Literal["booked", "cancelled", "arrived", "no_show"]


class BookingAsked(BaseModel):
    model_config = ConfigDict(extra="forbid")
    center: str | None = Field(default=None, max_length=32, description="the center's code, if there are centers")
    category: str = Field(min_length=1, max_length=40, description="the queue category, e.g. permits")
    day: str = Field(max_length=16, description="2026-12-08 (Arabic-Indic digits too)")
    time: str = Field(max_length=8, description="the slot's start in the center's clock, 09:15")
    language: Literal["ar", "en"] = "ar"


class BookingPublic(BaseModel):
    code: str
    status: Status
    category: str
    category_name: dict[str, str] | None
    center: dict[str, str] | None
    day: date
    time: str
    starts_at: datetime
    ends_at: datetime
    ticket: str | None
    reminded: bool


class SlotPublic(BaseModel):
    starts_at: datetime
    ends_at: datetime
    time: str
    free: int


class DaySlots(BaseModel):
    day: date
    category: str
    closed: Literal["weekend", "holiday"] | None
    slots: list[SlotPublic]


class PlaceInfo(BaseModel):
    center: str | None
    center_name: dict[str, str] | None
    category: str
    category_name: dict[str, str]
    slot_minutes: int
    capacity: int
    active: bool


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    center: str | None = Field(default=None, max_length=32)
    # Left out: SHUBBAK_BOOKING_SLOT_MINUTES and SHUBBAK_BOOKING_SLOT_CAPACITY.
    slot_minutes: int | None = Field(default=None, ge=5, le=240)
    capacity: int | None = Field(default=None, ge=1, le=500)
    active: bool = True


class CalendarIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    center: str | None = Field(default=None, max_length=32)
    opens: str = Field(max_length=8, description="09:00")
    closes: str = Field(max_length=8, description="14:00")
    weekend: list[str] = Field(max_length=6, description="days without visits: fri, sat...")
    holidays: list[str] = Field(default_factory=list, max_length=366, description="days without visits, 2026-12-25")


class CalendarPublic(BaseModel):
    center: str | None
    opens: str
    closes: str
    weekend: list[str]
    holidays: list[str]


class DayBookings(BaseModel):
    day: date
    counts: dict[str, int]
    bookings: list[BookingPublic]


class Redeem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str | None = Field(default=None, max_length=20, description="the booking code, 12345678 or 1234-5678")
    phone: str | None = Field(default=None, max_length=40, description="or the phone the booking was made with")
    center: str | None = Field(default=None, max_length=32, description="the kiosk's center (its code)")
    priority: str = Field(default="normal", max_length=16)


class Redeemed(BaseModel):
    booking: BookingPublic
    ticket: TicketPublic


def _names(session: Session) -> tuple[dict[int, dict[str, str]], dict[str, dict[str, str]]]:
    centers = {c.id or 0: {"code": c.code, "ar": c.name_ar, "en": c.name_en} for c in list_centers(session)}
    categories = {c.code: {"ar": c.name_ar, "en": c.name_en} for c in config.categories(session, active_only=False)}
    return centers, categories


def _views(session: Session, settings: Settings, rows: list[Booking]) -> list[BookingPublic]:
    centers, categories = _names(session)
    return [BookingPublic(**bookings.view(b, settings, centers, categories)) for b in rows]


@router.get("/api/citizen/appointments", dependencies=[allow("citizen.own")], response_model=list[BookingPublic],
            tags=["citizen"])
def my_bookings(phone: CitizenPhone, session: SessionDep, settings: SettingsDep) -> list[BookingPublic]:
    """The citizen's visits, the latest slot first."""
    return _views(session, settings, list(bookings.mine(session=session, settings=settings, phone=phone)))


@router.get("/api/citizen/appointments/places", dependencies=[allow("citizen.own")],
            response_model=list[PlaceInfo], tags=["citizen"])
def places(session: SessionDep) -> list[PlaceInfo]:
    """Where and for what a visit can be booked."""
    return [PlaceInfo(**p) for p in _places(session)]


def _places(session: Session, *, active_only: bool = True) -> list[dict[str, Any]]:
    centers, categories = _names(session)
    out = []
    for plan in appointments.plans(session):
        if (active_only and not plan.active) or plan.category_code not in categories:
            continue
        center = centers.get(plan.center_key) if plan.center_key else None
        out.append({"center": center["code"] if center else None,
                    "center_name": {"ar": center["ar"], "en": center["en"]} if center else None,
                    "category": plan.category_code, "category_name": categories[plan.category_code],
                    "slot_minutes": plan.slot_minutes, "capacity": plan.capacity, "active": plan.active})
    return out


@router.get("/api/citizen/appointments/slots", dependencies=[allow("citizen.own")], response_model=DaySlots,
            tags=["citizen"])
def free_slots(session: SessionDep, settings: SettingsDep,
               category: Annotated[str, Query(min_length=1, max_length=40)],
               day: Annotated[str, Query(max_length=16, description="2026-12-08 (Arabic-Indic digits too)")],
               center: CenterCode = None) -> dict[str, Any]:
    """A day's slots still to come with their free places (none on the center's weekend or holidays)."""
    return appointments.free_slots(session=session, settings=settings, center_id=config.center_id_of(session, center),
                                   category_code=category, day=day, now=clock.now())


@router.post("/api/citizen/appointments", dependencies=[allow("citizen.own")], response_model=BookingPublic,
             status_code=201, tags=["citizen"],
             responses={200: {"description": "the same visit was booked already (a retried request)"}})
def book(body: BookingAsked, phone: CitizenPhone, session: SessionDep, settings: SettingsDep,
         response: Response) -> BookingPublic:
    """Book a slot: 201 with the booking code; 200 with the same booking when it was booked already."""
    booking, new = bookings.book(session=session, settings=settings, phone=phone,
                                 center_id=config.center_id_of(session, body.center), category_code=body.category,
                                 day=body.day, at=body.time, language=body.language)
    if not new:
        response.status_code = 200
    return _views(session, settings, [booking])[0]


@router.post("/api/citizen/appointments/{code}/cancel", dependencies=[allow("citizen.own")],
             response_model=BookingPublic, tags=["citizen"])
def cancel(code: str, phone: CitizenPhone, session: SessionDep, settings: SettingsDep) -> BookingPublic:
    """Cancel one's visit before its slot starts (again: the cancelled booking); another's is a 404."""
    return _views(session, settings, [bookings.cancel(session=session, settings=settings, phone=phone, code=code)])[0]


@router.get("/api/appointments/plans", dependencies=[allow("queue.configure")], response_model=list[PlaceInfo],
            tags=["queue"])
def list_plans(session: SessionDep) -> list[PlaceInfo]:
    return [PlaceInfo(**p) for p in _places(session, active_only=False)]


@router.put("/api/appointments/plans/{category}", dependencies=[allow("queue.configure"), central_only()],
            response_model=PlaceInfo,
            tags=["queue"])
def save_plan(category: str, body: PlanIn, session: SessionDep, settings: SettingsDep,
              actor: CurrentActor) -> PlaceInfo:
    """The slots of a queue category at a center: their length (minutes) and places."""
    plan = appointments.save_plan(session=session, actor=actor, center_id=config.center_id_of(session, body.center),
                                  category_code=category,
                                  slot_minutes=body.slot_minutes or settings.booking_slot_minutes,
                                  capacity=body.capacity or settings.booking_slot_capacity, active=body.active)
    return next(PlaceInfo(**p) for p in _places(session, active_only=False)
                if p["category"] == plan.category_code and p["center"] == body.center)


@router.get("/api/appointments/calendar", dependencies=[allow("queue.configure")], response_model=CalendarPublic,
            tags=["queue"])
def get_calendar(session: SessionDep, settings: SettingsDep, center: CenterCode = None) -> CalendarPublic:
    center_id = config.center_id_of(session, center)
    found = appointments.own_calendar(session, settings, center_id)
    return CalendarPublic(center=center, **found)


@router.put("/api/appointments/calendar", dependencies=[allow("queue.configure"), central_only()],
            response_model=CalendarPublic,
            tags=["queue"])
def save_calendar(body: CalendarIn, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> CalendarPublic:
    """A center's hours for visits, its weekend days and the days it takes none (bookings made stay)."""
    center_id = config.center_id_of(session, body.center)
    appointments.save_calendar(session=session, actor=actor, center_id=center_id, opens=body.opens,
                               closes=body.closes, weekend=body.weekend, holidays=body.holidays)
    return CalendarPublic(center=body.center, **appointments.own_calendar(session, settings, center_id))


@router.get("/api/appointments", dependencies=[allow("queue.work")], response_model=DayBookings, tags=["queue"])
def day_bookings(session: SessionDep, settings: SettingsDep, actor: CurrentActor,
                 day: Annotated[str, Query(max_length=16, description="2026-12-08")],
                 center: CenterCode = None) -> DayBookings:
    """A center's bookings of a day (the clerk's own center unless another is named) and how many are in
    each status: booked, arrived, no_show, cancelled."""
    center_id = config.center_id_of(session, center) if center else actor.center_id
    policy.require_center(session, actor, center_id)
    rows, counts = bookings.of_day(session=session, center_id=center_id, day=day)
    return DayBookings(day=appointments.parse_day(day), counts=counts, bookings=_views(session, settings, list(rows)))


@router.post("/api/queue/bookings/redeem", dependencies=[allow("public")], response_model=Redeemed,
             tags=["public"], responses={429: {"description": "Too many codes that found no booking: wait"}})
def redeem(body: Redeem, session: SessionDep, settings: SettingsDep, client: ClientAddress) -> Redeemed:
    """The kiosk: a booking code (or the phone) becomes a ticket of the booked visits' category, at the
    booking's own center, from a little before its slot until the grace after its start."""
    booking, ticket = arrivals.redeem(session=session, settings=settings,
                                      center_id=config.center_id_of(session, body.center), code=body.code,
                                      phone=body.phone, priority=body.priority, client=client)
    view = ticket_view(session, ticket, settings).model_copy(update={"case_id": None})
    # The kiosk is public and takes a phone: its answer never hands the booking's code out (its last two
    # digits are enough for the citizen to recognise it).
    shown = _views(session, settings, [booking])[0]
    shown = shown.model_copy(update={"code": "•" * max(len(shown.code) - 2, 0) + shown.code[-2:]})
    return Redeemed(booking=shown, ticket=view)
