"""The engine's clock: a command's moment is what scripts and SpiffWorkflow's timers see."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer

from engine.bpmn import scripts
from engine.core import clock

MOMENT = datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)


def test_frozen_moment_is_what_helpers_and_timers_read() -> None:
    with clock.frozen(MOMENT):
        assert clock.now() == MOMENT
        assert scripts.today() == "2026-03-01"
        assert scripts.now() == "2026-03-01T23:59:59.999999+00:00"
        assert spiff_timer.datetime.now(UTC) == MOMENT
        with clock.frozen():  # no moment of its own: the enclosing one
            assert clock.now() == MOMENT
        with clock.frozen(MOMENT + timedelta(days=1)):
            assert scripts.today() == "2026-03-02"
        assert clock.now() == MOMENT
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
    assert abs(spiff_timer.datetime.now(UTC) - datetime.now(UTC)) < timedelta(seconds=5)


def test_moment_is_per_thread() -> None:
    seen: list[datetime] = []
    with clock.frozen(MOMENT):
        other = threading.Thread(target=lambda: seen.append(clock.now()))
        other.start()
        other.join()
    assert seen[0] != MOMENT


def test_events_times_round_trip() -> None:
    assert clock.parse(clock.iso(MOMENT)) == MOMENT
    assert clock.iso(MOMENT.replace(microsecond=0)) == "2026-03-01T23:59:59.000000+00:00"
