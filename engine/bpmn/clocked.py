"""SpiffWorkflow's timers read the engine's clock (``engine/core/clock.py``) instead of the system time.

SpiffWorkflow 3.2 asks ``datetime.now(timezone.utc)`` in its timer module when it arms a duration timer and
when it checks whether a timer has fired. That module's ``datetime`` is replaced by a subclass whose
``now()`` answers the engine's clock: the real time, unless a command or a replay froze a moment. Nothing else
changes: every other ``datetime`` method is the standard one.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer

from engine.core import clock


class EngineDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> EngineDatetime:
        moment = clock.now()
        local = moment.astimezone(tz) if tz is not None else moment.astimezone().replace(tzinfo=None)
        return cls.combine(local.date(), local.timetz())


def install() -> None:
    """Idempotent; runner.py calls it on import, before any workflow runs."""
    _spiff_timer.datetime = EngineDatetime  # type: ignore[misc]
