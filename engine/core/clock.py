"""The engine's clock: one moment per command, so that a replay can run the same step at the same time.

A command takes its moment once (``clock.now()``) and runs the workflow at that moment: BPMN scripts'
``today()``/``now()`` helpers and SpiffWorkflow's timers (when a duration timer falls due, whether a timer
has fired) read it, and the command's audit events carry it as their ``at``. Replay
(``engine/cases/replay.py``) runs each recorded step frozen at the event's ``at`` and so computes the same dates,
the same timer due times and the same data, without excluding "volatile" keys.

Frozen per context (a ``ContextVar``): the threads serving other requests keep reading the real time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_frozen: ContextVar[datetime | None] = ContextVar("shubbak_clock", default=None)


def now() -> datetime:
    """The frozen moment inside ``frozen()``, else the real time; always timezone-aware UTC."""
    moment = _frozen.get()
    return moment if moment is not None else datetime.now(UTC)


def iso(moment: datetime) -> str:
    """How a moment is written in audit events (and read back by ``parse``), to the microsecond."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@contextmanager
def frozen(moment: datetime | None = None) -> Iterator[datetime]:
    """Run the block at ``moment``; without one, at the enclosing frozen moment or else the real time now."""
    chosen = (moment or now()).astimezone(UTC)
    token = _frozen.set(chosen)
    try:
        yield chosen
    finally:
        _frozen.reset(token)
