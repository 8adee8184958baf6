"""Booked visits' calendar: each center's hours and weekend for visits, the slots of a queue category at a
center (their length and places), and the free places of a day.

A slot is not a stored row until somebody books it: a day's slots are the plan's length laid from the center's
opening time to its closing time (the last slot ends by then), in the center's clock
(``SHUBBAK_DISPLAY_TIMEZONE``). No slot on the center's weekend days, on the installation's public holidays
(the SLA calendar, ``SHUBBAK_SLA_HOLIDAYS``), on the center's own holidays and those of the centers above it
(``PUT /api/centers/{code}/holidays``), or on the days the calendar for visits closes
(``PUT /api/appointments/calendar``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from engine.core import calendars
from engine.core.errors import Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import centers, policy
from engine.people.users import Actor
from engine.queue import config
from engine.queue.ordering import aware
from forms.digits import ascii_digits
from storage.db import write_lock
from storage.models.booking import BookingCalendar, BookingPlan, BookingSlot

_DAY = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")


def key_of(center_id: int | None) -> int:
    """The center's key in the booking tables: its id, 0 for the installation without centers."""
    return center_id or 0


def zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.display_timezone)


def local_day(moment: datetime, settings: Settings) -> date:
    return moment.astimezone(zone(settings)).date()


def local_time(moment: datetime, settings: Settings) -> str:
    """``09:15`` in the center's clock."""
    return aware(moment).astimezone(zone(settings)).strftime("%H:%M")


@dataclass(frozen=True)
class Hours:
    """When a center takes visits: opening and closing (local), weekend (Monday 0), the days it is closed."""

    opens: time
    closes: time
    weekend: frozenset[int]
    closed: frozenset[date]

    def closed_because(self, day: date) -> str | None:
        """``weekend``, ``holiday`` or None (open)."""
        if day.weekday() in self.weekend:
            return "weekend"
        return "holiday" if day in self.closed else None


def hours(session: Session, settings: Settings, center_id: int | None) -> Hours:
    row = session.get(BookingCalendar, key_of(center_id))
    own = frozenset(date.fromisoformat(d) for d in (row.holidays if row else []))
    public = calendars.calendar_for(settings).holidays | centers.holidays_of(session.connection(), center_id)
    weekend = row.weekend if row is not None else settings.booking_weekend_days
    return Hours(opens=row.opens if row else settings.booking_opens,
                 closes=row.closes if row else settings.booking_closes, weekend=calendars.parse_weekend(weekend),
                 closed=own | public)


def parse_day(text: Any, field: str = "day") -> date:
    """``2026-12-08`` typed in either digits; Invalid naming ``field`` otherwise."""
    found = _DAY.fullmatch(ascii_digits(text.strip())) if isinstance(text, str) else None
    try:
        if found is None:
            raise ValueError
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        raise Invalid("booking.day_invalid", [problem(field, "field.booking_day_shape")]) from None


def parse_time(text: Any, field: str = "time") -> time:
    """``09:15`` (or ``٠٩:١٥``) in the center's clock; Invalid naming ``field`` otherwise."""
    found = _TIME.fullmatch(ascii_digits(text.strip())) if isinstance(text, str) else None
    try:
        if found is None:
            raise ValueError
        return time(int(found.group(1)), int(found.group(2)))
    except ValueError:
        raise Invalid("booking.time_invalid", [problem(field, "field.booking_time_shape")]) from None


def check_range(day: date, settings: Settings, now: datetime) -> None:
    """A day a citizen may book: from today to ``booking_days_ahead`` days ahead (422 otherwise)."""
    first = local_day(now, settings)
    last = first + timedelta(days=settings.booking_days_ahead)
    if not first <= day <= last:
        raise Invalid("booking.day_out_of_range", [problem("day", "field.booking_day_range", first=first.isoformat(),
                                                           last=last.isoformat())])


def plan_of(session: Session, center_id: int | None, category_code: str) -> BookingPlan:
    """The active plan of the category at the center; NotFound when visits of it cannot be booked there."""
    category = config.category(session, category_code)
    found = session.exec(select(BookingPlan).where(BookingPlan.center_key == key_of(center_id),
                                                   BookingPlan.category_code == category.code)).first()
    if found is None or not found.active:
        raise NotFound("booking.no_plan", category=category.code)
    return found


def plans(session: Session) -> Sequence[BookingPlan]:
    return session.exec(select(BookingPlan).order_by(col(BookingPlan.center_key), col(BookingPlan.category_code))).all()


def starts(open_hours: Hours, plan: BookingPlan, day: date, settings: Settings) -> list[datetime]:
    """The day's slot starts (UTC), none on a closed day."""
    if open_hours.closed_because(day) is not None:
        return []
    tz, length = zone(settings), timedelta(minutes=plan.slot_minutes)
    at, end = datetime.combine(day, open_hours.opens), datetime.combine(day, open_hours.closes)
    out = []
    while at + length <= end:
        out.append(at.replace(tzinfo=tz).astimezone(UTC))
        at += length
    return out


def taken(session: Session, center_id: int | None, category_code: str,
          moments: Sequence[datetime]) -> dict[datetime, int]:
    if not moments:
        return {}
    rows = session.exec(select(BookingSlot).where(BookingSlot.center_key == key_of(center_id),
                                                  BookingSlot.category_code == category_code,
                                                  col(BookingSlot.starts_at).in_(list(moments)))).all()
    return {aware(r.starts_at): r.taken for r in rows}


def free_slots(*, session: Session, settings: Settings, center_id: int | None, category_code: str, day: Any,
               now: datetime) -> dict[str, Any]:
    """The day's slots still to come with their free places, or why the center is closed that day."""
    wanted = parse_day(day)
    check_range(wanted, settings, now)
    plan = plan_of(session, center_id, category_code)
    open_hours = hours(session, settings, center_id)
    moments = [m for m in starts(open_hours, plan, wanted, settings) if m > now]
    used = taken(session, center_id, plan.category_code, moments)
    length = timedelta(minutes=plan.slot_minutes)
    return {"day": wanted, "category": plan.category_code, "closed": open_hours.closed_because(wanted),
            "slots": [{"starts_at": m, "ends_at": m + length, "time": local_time(m, settings),
                       "free": max(plan.capacity - used.get(m, 0), 0)} for m in moments]}


def save_plan(*, session: Session, actor: Actor, center_id: int | None, category_code: str, slot_minutes: int,
              capacity: int, active: bool = True) -> BookingPlan:
    """Create or change the slots of a category at a center. Places already taken stay taken."""
    policy.require(actor, "queue.configure")
    category = config.category(session, category_code)
    problems = []
    if not 5 <= slot_minutes <= 240:
        problems.append(problem("slot_minutes", "field.booking_slot_minutes"))
    if not 1 <= capacity <= 500:
        problems.append(problem("capacity", "field.booking_capacity"))
    if problems:
        raise Invalid("booking.plan_invalid", problems)
    with write_lock(session):
        row = session.exec(select(BookingPlan).where(BookingPlan.center_key == key_of(center_id),
                                                     BookingPlan.category_code == category.code)).first()
        row = row or BookingPlan(center_key=key_of(center_id), category_code=category.code, slot_minutes=slot_minutes,
                                 capacity=capacity)
        row.slot_minutes, row.capacity, row.active = slot_minutes, capacity, active
        session.add(row)
        session.commit()
        session.refresh(row)
    return row


def save_calendar(*, session: Session, actor: Actor, center_id: int | None, opens: Any, closes: Any,
                  weekend: list[str], holidays: list[str]) -> BookingCalendar:
    """Set a center's hours, weekend and days without visits (bookings already made stay)."""
    policy.require(actor, "queue.configure")
    start, end = parse_time(opens, "opens"), parse_time(closes, "closes")
    problems = []
    if start >= end:
        problems.append(problem("closes", "field.booking_hours_order"))
    try:
        days = calendars.parse_weekend(weekend)
    except ValueError:
        problems.append(problem("weekend", "field.booking_weekend_days"))
        days = frozenset()
    if len(days) >= 7:
        problems.append(problem("weekend", "field.booking_weekend_days"))
    closed = []
    for i, text in enumerate(holidays):
        try:
            closed.append(parse_day(text, f"holidays.{i}").isoformat())
        except Invalid as exc:
            problems.extend(exc.details)
    if problems:
        raise Invalid("booking.calendar_invalid", problems)
    with write_lock(session):
        row = session.get(BookingCalendar, key_of(center_id)) or BookingCalendar(center_key=key_of(center_id),
                                                                                 opens=start, closes=end)
        row.opens, row.closes = start, end
        row.weekend = [calendars.DAY_NAMES[d] for d in sorted(days)]
        row.holidays = sorted(set(closed))
        session.add(row)
        session.commit()
        session.refresh(row)
    return row


def own_calendar(session: Session, settings: Settings, center_id: int | None) -> dict[str, Any]:
    """The center's hours for visits as an administrator set them (the settings' defaults until then)."""
    row = session.get(BookingCalendar, key_of(center_id))
    return {"opens": (row.opens if row else settings.booking_opens).strftime("%H:%M"),
            "closes": (row.closes if row else settings.booking_closes).strftime("%H:%M"),
            "weekend": list(row.weekend if row else settings.booking_weekend_days),
            "holidays": list(row.holidays if row else [])}
