"""Working-day arithmetic: weekends per country, public holidays, fractions, year ends (engine/core/calendars.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.core import calendars
from engine.core.calendars import WorkCalendar, parse_weekend
from engine.core.settings import Settings

CAIRO = ZoneInfo("Africa/Cairo")
EGYPT = WorkCalendar(weekend=parse_weekend(["fri", "sat"]), holidays=frozenset(), tz=CAIRO)


def cairo(*args: int) -> datetime:
    return datetime(*args, tzinfo=CAIRO)  # type: ignore[misc]


def test_whole_days_skip_the_weekend() -> None:
    thursday = cairo(2026, 11, 26, 10, 0)
    assert EGYPT.add_working_days(thursday, 1) == cairo(2026, 11, 29, 10, 0)  # Sunday, same hour
    assert EGYPT.add_working_days(thursday, 5) == cairo(2026, 12, 3, 10, 0)  # the next Thursday
    assert EGYPT.add_working_days(cairo(2026, 11, 22, 9, 30), 4) == cairo(2026, 11, 26, 9, 30)  # Sun -> Thu
    assert EGYPT.add_working_days(thursday, 1).tzinfo == UTC


def test_a_start_on_a_rest_day_counts_from_the_next_working_morning() -> None:
    friday_noon = cairo(2026, 11, 27, 12, 0)
    assert EGYPT.add_working_days(friday_noon, 1) == cairo(2026, 11, 30, 0, 0)  # all of Sunday
    assert EGYPT.add_working_days(cairo(2026, 11, 28, 23, 59), 2) == cairo(2026, 12, 1, 0, 0)


def test_fractions_are_hours_of_working_days_carried_over_the_weekend() -> None:
    assert EGYPT.add_working_days(cairo(2026, 11, 26, 20, 0), 0.5) == cairo(2026, 11, 29, 8, 0)
    assert EGYPT.add_working_days(cairo(2026, 11, 25, 6, 0), 0.25) == cairo(2026, 11, 25, 12, 0)
    assert EGYPT.add_working_days(cairo(2026, 11, 26, 12, 0), 0.5) == cairo(2026, 11, 27, 0, 0)  # Thursday's end


def test_public_holidays_are_skipped() -> None:
    with_holiday = WorkCalendar(weekend=EGYPT.weekend, holidays=frozenset({date(2026, 11, 29)}), tz=CAIRO)
    assert with_holiday.add_working_days(cairo(2026, 11, 26, 10, 0), 1) == cairo(2026, 11, 30, 10, 0)
    assert with_holiday.add_working_days(cairo(2026, 11, 29, 10, 0), 1) == cairo(2026, 12, 1, 0, 0)


def test_across_the_year_end() -> None:
    holidays = frozenset({date(2027, 1, 3), date(2027, 1, 7)})
    cal = WorkCalendar(weekend=EGYPT.weekend, holidays=holidays, tz=CAIRO)
    # Wed 30 Dec + 3: Thu 31 Dec, (Fri 1 Jan, Sat 2 Jan weekend, Sun 3 Jan holiday) Mon 4 Jan, Tue 5 Jan.
    assert cal.add_working_days(cairo(2026, 12, 30, 10, 0), 3) == cairo(2027, 1, 5, 10, 0)
    # Tue 5 Jan + 2: Wed 6, (Thu 7 holiday, weekend) Sun 10.
    assert cal.add_working_days(cairo(2027, 1, 5, 10, 0), 2) == cairo(2027, 1, 10, 10, 0)
    assert cal.working_days_between(cairo(2026, 12, 30, 10, 0), cairo(2027, 1, 5, 10, 0)) == 3


def test_uae_rests_on_saturday_and_sunday() -> None:
    dubai = ZoneInfo("Asia/Dubai")
    uae = WorkCalendar(weekend=parse_weekend(["sat", "sun"]), holidays=frozenset(), tz=dubai)
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=dubai)
    assert uae.add_working_days(friday, 1) == datetime(2026, 11, 30, 10, 0, tzinfo=dubai)  # Monday
    assert uae.add_working_days(datetime(2026, 11, 26, 10, 0, tzinfo=dubai), 1) == friday  # Thu -> Fri


def test_working_days_between() -> None:
    thursday = cairo(2026, 11, 26, 10, 0)
    assert EGYPT.working_days_between(thursday, cairo(2026, 11, 29, 10, 0)) == 1
    assert EGYPT.working_days_between(thursday, cairo(2026, 11, 28, 10, 0)) == pytest.approx(14 / 24)
    assert EGYPT.working_days_between(cairo(2026, 11, 29, 10, 0), thursday) == -1
    for days in (0.25, 1, 2.5, 7, 23):
        assert EGYPT.working_days_between(thursday, EGYPT.add_working_days(thursday, days)) == pytest.approx(days)


def test_settings_select_the_calendar(tmp_path: Path) -> None:
    holidays = tmp_path / "holidays.txt"
    holidays.write_text("# Egypt 2026\n2026-11-29  # a holiday for the test\n\n2026-12-24\n", encoding="utf-8")
    egypt = calendars.calendar_for(Settings(sla_holidays_file=holidays, sla_holidays=[date(2027, 1, 7)]))
    assert egypt.weekend == {4, 5} and str(egypt.tz) == "Africa/Cairo"
    assert egypt.holidays == {date(2026, 11, 29), date(2026, 12, 24), date(2027, 1, 7)}
    uae = calendars.calendar_for(Settings(sla_country="AE"))
    assert uae.weekend == {5, 6} and str(uae.tz) == "Asia/Dubai"
    saudi = calendars.calendar_for(Settings(sla_country="sa"))
    assert saudi.weekend == {4, 5}
    custom = calendars.calendar_for(Settings(sla_country="XX", sla_weekend_days=["Sunday"], sla_timezone="UTC"))
    assert custom.weekend == {6}
    with pytest.raises(ValueError, match="unknown country"):
        calendars.calendar_for(Settings(sla_country="XX"))
    holidays.write_text("29/11/2026\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1"):
        calendars.read_holidays(holidays)
    with pytest.raises(ValueError, match="not a day"):
        parse_weekend(["friyay"])


def test_no_sla_no_due_date() -> None:
    settings = Settings()
    assert calendars.due(cairo(2026, 11, 26, 10, 0), None, settings) is None
    assert calendars.due(cairo(2026, 11, 26, 10, 0), 0, settings) is None
    assert calendars.due(cairo(2026, 11, 26, 10, 0), 1, settings) == cairo(2026, 11, 29, 10, 0)
