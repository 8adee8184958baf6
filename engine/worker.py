"""The Celery app of production: workers send the outbox, beat runs the periodic work (docs/messages.md).

``shubbak worker`` and ``shubbak beat`` start it with ``SHUBBAK_BROKER_URL`` (``redis://...``). The embedded
default has no broker: the API process plays both parts (api/app.py).

Periodic work is one list, ``PERIODIC``: each entry is run by the task ``shubbak.periodic`` at its own
interval, which beat's schedule is built from. Add an entry to add a periodic job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from celery import Celery

from engine import escalation, idempotency, ledger, timers
from engine.messages import send
from engine.reports import projector
from engine.settings import Settings, get_settings
from storage.db import session_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    """A job beat runs every ``every(settings)`` seconds, inside a worker."""

    name: str
    every: Callable[[Settings], float]
    run: Callable[[Settings], Any]


def _advance_timers(settings: Settings) -> int:
    with session_for(settings.database_url) as session:
        return timers.tick(session=session, settings=settings)


def _remind_and_escalate(settings: Settings) -> Any:
    with session_for(settings.database_url) as session:
        return escalation.tick(session=session, settings=settings)


def _seal(settings: Settings) -> Any:
    with session_for(settings.database_url) as session:
        return ledger.seal_if_due(session=session, settings=settings)


def _dispatch_outbox(settings: Settings) -> int:
    """Hand every due message to a ``send_message`` task (any worker takes it; the claim makes a message
    handed out twice harmless)."""
    send.give_up_abandoned(settings=settings)
    ids = send.due_ids(settings=settings)
    for message_id in ids:
        send_message.delay(message_id)
    return len(ids)


def _forget_idempotency_keys(settings: Settings) -> int:
    with session_for(settings.database_url) as session:
        return idempotency.forget_expired(session=session, settings=settings)


PERIODIC: list[Periodic] = [
    Periodic("outbox", lambda s: s.message_poll_seconds or 2.0, _dispatch_outbox),
    Periodic("timers", lambda s: s.timer_tick_seconds or 30.0, _advance_timers),
    # SLA reminders of tasks near their due time, and escalation of overdue ones (engine/escalation.py).
    Periodic("escalation", lambda s: s.timer_tick_seconds or 30.0, _remind_and_escalate),
    Periodic("ledger_seal", lambda s: s.timer_tick_seconds or 30.0, _seal),
    # Answers kept for retried requests, once older than SHUBBAK_IDEMPOTENCY_HOURS (engine/idempotency.py).
    Periodic("idempotency_keys", lambda s: s.timer_tick_seconds or 30.0, _forget_idempotency_keys),
    # The report aggregates, counted from the audit events after they commit (engine/reports/projector.py).
    Periodic("reports", lambda s: s.report_project_seconds or 2.0, projector.catch_up),
]


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {f"shubbak-{job.name}": {"task": "shubbak.periodic", "schedule": job.every(settings),
                                    "args": (job.name,)} for job in PERIODIC}


def make_app(settings: Settings) -> Celery:
    celery = Celery("shubbak", broker=settings.broker_url or "memory://", set_as_current=True)
    celery.conf.update(
        task_acks_late=True,  # a task whose worker died is handed out again
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(settings),
    )
    return celery


app = make_app(get_settings())


@app.task(name="shubbak.send_message")
def send_message(message_id: int) -> str:
    """One attempt at one message; a retryable failure is tried again after its backoff."""
    settings = get_settings()
    attempt = send.send_one(message_id=message_id, settings=settings)
    if attempt.status == "pending" and attempt.retry_at is not None:
        send_message.apply_async((message_id,), eta=attempt.retry_at)
    return attempt.status


@app.task(name="shubbak.periodic")
def periodic(name: str) -> Any:
    for job in PERIODIC:
        if job.name == name:
            started = datetime.now(UTC)
            result = job.run(get_settings())
            log.debug("periodic %s done in %s", name, datetime.now(UTC) - started)
            return None if result is None else str(result)
    raise LookupError(f"no periodic job called {name!r}")
