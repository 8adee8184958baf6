"""Working-day calendars: SLAs count working days, not calendar days.

A calendar is the weekend (per country: Egypt and Saudi Arabia rest on Friday and Saturday, the UAE on
Saturday and Sunday), a list of public holidays, and the time zone whose days are counted. The installation's
calendar comes from the settings (``sla_country``, ``sla_weekend_days``, ``sla_holidays``,
``sla_holidays_file``, ``sla_timezone``); a center adds its own holidays and those of the centers above it
(a governorate's national day, say: engine/people/centers.py ``holidays_of``).

How a due time is computed (``add_working_days``), documented for leadership in docs/leadership.md:

* Time is counted only on working days, as whole local days (00:00 to 24:00); there are no office hours.
* A start on a weekend day or holiday counts from 00:00 of the next working day.
* N working days from a start at local time T on a working day end at time T on the Nth working day after it:
  a case opened on Thursday 10:00 in Cairo with a 1-day SLA is due on Sunday 10:00.
* Fractions are fractions of a working day's 24 hours: 0.5 is 12 hours of working time, carried past midnight
  into the next working day when the day runs out.
* No SLA (None or 0) means no due time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from hijridate import Gregorian

from engine.core.settings import Settings

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: country code -> (weekend days, time zone). Others are set with ``sla_weekend_days`` and ``sla_timezone``.
COUNTRIES: dict[str, tuple[tuple[str, ...], str]] = {
    "EG": (("fri", "sat"), "Africa/Cairo"),
    "SA": (("fri", "sat"), "Asia/Riyadh"),
    "AE": (("sat", "sun"), "Asia/Dubai"),
    "JO": (("fri", "sat"), "Asia/Amman"),
    "KW": (("fri", "sat"), "Asia/Kuwait"),
    "QA": (("fri", "sat"), "Asia/Qatar"),
    "BH": (("fri", "sat"), "Asia/Bahrain"),
    "OM": (("fri", "sat"), "Asia/Muscat"),
    "MA": (("sat", "sun"), "Africa/Casablanca"),
    "TN": (("sat", "sun"), "Africa/Tunis"),
}


@dataclass(frozen=True)
class WorkCalendar:
    weekend: frozenset[int]  # Python weekdays: Monday 0 .. Sunday 6
    holidays: frozenset[date]
    tz: ZoneInfo

    def __post_init__(self) -> None:
        if len(self.weekend) >= 7:
            raise ValueError("a calendar needs at least one working day in the week")

    def with_holidays(self, extra: frozenset[date]) -> WorkCalendar:
        """This calendar plus a center's own holidays."""
        return self if extra <= self.holidays else replace(self, holidays=self.holidays | extra)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def next_working_day(self, day: date) -> date:
        """The first working day after ``day``."""
        day += timedelta(days=1)
        for _ in range(3660):  # ten years of holidays in a row would be a mistake in the list
            if self.is_working_day(day):
                return day
            day += timedelta(days=1)
        raise ValueError("no working day within ten years: check the holiday list")

    def add_working_days(self, start: datetime, days: float) -> datetime:
        """The moment ``days`` working days after ``start`` (aware; the answer is in UTC). See the module doc."""
        local = start.astimezone(self.tz)
        day, clock_time = local.date(), local.time().replace(tzinfo=None)
        if not self.is_working_day(day):
            day, clock_time = self.next_working_day(day), time(0)
        whole = int(days)
        rest = timedelta(days=days - whole)
        for _ in range(whole):
            day = self.next_working_day(day)
        # The fraction: what is left of the current day, then on into the next working day.
        into_day = timedelta(hours=clock_time.hour, minutes=clock_time.minute, seconds=clock_time.second,
                             microseconds=clock_time.microsecond)
        if into_day + rest > timedelta(days=1):
            rest -= timedelta(days=1) - into_day
            day, into_day = self.next_working_day(day), timedelta(0)
        return self._at(day, into_day + rest)

    def working_days_between(self, start: datetime, end: datetime) -> float:
        """Working time from ``start`` to ``end`` in working days (negative when ``end`` is earlier)."""
        if end < start:
            return -self.working_days_between(end, start)
        a, b = start.astimezone(self.tz), end.astimezone(self.tz)
        total = timedelta(0)
        day = a.date()
        while day <= b.date():
            if self.is_working_day(day):
                lo = a if day == a.date() else self._at(day, timedelta(0)).astimezone(self.tz)
                hi = b if day == b.date() else self._at(day + timedelta(days=1), timedelta(0)).astimezone(self.tz)
                total += _wall(hi) - _wall(lo)
            day += timedelta(days=1)
        return total / timedelta(days=1)

    def _at(self, day: date, offset: timedelta) -> datetime:
        """Local wall-clock ``offset`` after 00:00 of ``day``, in UTC (days are wall-clock days across DST)."""
        wall = datetime.combine(day, time(0)) + offset
        return wall.replace(tzinfo=self.tz).astimezone(UTC)


def _wall(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def parse_weekend(names: list[str] | tuple[str, ...]) -> frozenset[int]:
    days = set()
    full = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    for name in names:
        key = name.strip().lower()
        key = DAY_NAMES[full.index(key)] if key in full else key
        if key not in DAY_NAMES:
            raise ValueError(f"'{name}' is not a day of the week (mon, tue, wed, thu, fri, sat, sun)")
        days.add(DAY_NAMES.index(key))
    return frozenset(days)


def read_holidays(path: Path) -> set[date]:
    """One ISO date a line; blank lines and text after '#' are ignored."""
    found = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            found.add(date.fromisoformat(text))
        except ValueError as exc:
            raise ValueError(f"{path.name} line {number}: '{text}' is not a date (YYYY-MM-DD)") from exc
    return found


def calendar_for(settings: Settings) -> WorkCalendar:
    """The installation's working-day calendar (built once per distinct configuration)."""
    return _calendar(settings.sla_country.upper(), tuple(settings.sla_weekend_days or ()), settings.sla_timezone,
                     tuple(sorted(settings.sla_holidays)), settings.sla_holidays_file)


@lru_cache(maxsize=8)
def _calendar(country: str, weekend: tuple[str, ...], tz: str | None, holidays: tuple[date, ...],
              holidays_file: Path | None) -> WorkCalendar:
    known = COUNTRIES.get(country)
    if known is None and (not weekend or not tz):
        raise ValueError(f"unknown country '{country}': set sla_weekend_days and sla_timezone, or one of "
                         f"{', '.join(sorted(COUNTRIES))}")
    days = set(holidays)
    if holidays_file is not None:
        days |= read_holidays(holidays_file)
    return WorkCalendar(weekend=parse_weekend(weekend or (known[0] if known else ())),
                        holidays=frozenset(days), tz=ZoneInfo(tz or (known[1] if known else "UTC")))


def due(start: datetime, days: float | None, settings: Settings,
        holidays: frozenset[date] = frozenset()) -> datetime | None:
    """When something started at ``start`` with an SLA of ``days`` working days falls due (None: no SLA).

    ``holidays``: the center's own, on top of the installation's (engine/people/centers.py ``holidays_of``)."""
    if not days:
        return None
    return calendar_for(settings).with_holidays(holidays).add_working_days(start, days)


def hijri(day: date, language: str) -> str | None:
    """``day`` in the Umm al-Qura calendar, spelled in ``language`` ("ar" or "en"); None outside its tables
    (1343–1500 AH, 1924–2077). The pages' dates (admin_ui/i18n.py) and the issued documents both use it."""
    try:
        h = Gregorian.fromdate(day).to_hijri()
    except OverflowError:
        return None
    words: Literal["ar", "en"] = "ar" if language == "ar" else "en"
    return f"{h.day} {h.month_name(words)} {h.year} {h.notation(words)}"
