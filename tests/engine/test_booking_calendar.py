"""The booked visits' calendar, without the API: a day's slots, closed days, the settings' checks, and the
category weight in the calling order."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.queue.appointments import Hours, starts
from engine.queue.ordering import Waiting, calling_order
from harness.settings import make_settings
from storage.models.booking import BookingPlan


def test_slots_fill_the_hours_and_none_on_closed_days(tmp_path: Path) -> None:
    settings = make_settings("sqlite://", tmp_path)
    hours = Hours(opens=time(9), closes=time(14), weekend=frozenset({4, 5}), closed=frozenset({date(2026, 12, 24)}))
    plan = BookingPlan(category_code="permits", slot_minutes=40, capacity=2)
    sunday = date(2026, 12, 6)
    moments = starts(hours, plan, sunday, settings)
    # 09:00 to 14:00 in 40-minute slots: the last starts at 13:00 (13:40 would end after closing). Cairo is UTC+2.
    assert len(moments) == 7 and moments[0] == datetime(2026, 12, 6, 7, 0, tzinfo=UTC)
    assert moments[-1] + timedelta(minutes=40) <= datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert starts(hours, plan, date(2026, 12, 11), settings) == []  # a Friday
    assert hours.closed_because(date(2026, 12, 12)) == "weekend"
    assert hours.closed_because(date(2026, 12, 24)) == "holiday"
    assert hours.closed_because(sunday) is None


def test_the_settings_refuse_hours_that_close_before_they_open(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        make_settings("sqlite://", tmp_path, booking_opens=time(14), booking_closes=time(9))
    with pytest.raises(ValidationError):
        make_settings("sqlite://", tmp_path, booking_weekend_days=["noday"])
    with pytest.raises(ValidationError):
        make_settings("sqlite://", tmp_path, booking_weekend_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"])


def test_the_category_weight_multiplies_the_effective_wait() -> None:
    now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    weights = {"normal": 1.0, "elderly": 3.0, "disabled": 3.0, "pregnant": 2.0}
    walk_in = Waiting(1, "normal", now - timedelta(minutes=9))
    booked = Waiting(2, "normal", now - timedelta(minutes=5), weight=2.0)
    assert [w.id for w in calling_order([walk_in, booked], now, weights)] == [2, 1]
    longer = Waiting(3, "normal", now - timedelta(minutes=11))
    assert [w.id for w in calling_order([booked, longer], now, weights)] == [3, 2]
