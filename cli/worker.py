"""The Celery app of production: workers send the outbox, beat runs the periodic work (docs/messages.md).

``shubbak worker`` and ``shubbak beat`` start it with ``SHUBBAK_BROKER_URL`` (``redis://...``). The embedded
default has no broker: the API process plays both parts (api/app.py).

Periodic work is the one list of engine/operations/periodic.py (also run by the API process's embedded loops and by
``shubbak tick``): beat's schedule is built from it, and each job is run by the task ``shubbak.periodic``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from celery import Celery

from engine.core.settings import Settings, get_settings
from engine.messages import send
from engine.operations import periodic as periodic_jobs

log = logging.getLogger(__name__)


def _dispatch_outbox(settings: Settings) -> int:
    """Hand every due message to a ``send_message`` task (any worker takes it; the claim makes a message
    handed out twice harmless)."""
    send.give_up_abandoned(settings=settings)
    ids = send.due_ids(settings=settings)
    for message_id in ids:
        send_message.delay(message_id)
    return len(ids)


# How a worker runs a job differently from the others: the outbox's messages go to send_message tasks, so that
# every worker sends, instead of being sent one by one by the worker that took the beat's task.
IN_A_WORKER: dict[str, Callable[[Settings], Any]] = {"outbox": _dispatch_outbox}


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Beat's schedule: every job of engine/operations/periodic.py at its interval (its default when the setting
    is 0)."""
    return {f"shubbak-{job.name}": {"task": "shubbak.periodic", "schedule": job.every(settings) or job.beat_default,
                                    "args": (job.name,)} for job in periodic_jobs.JOBS}


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
    job = periodic_jobs.job(name)  # LookupError for a name that is not in the list
    started = datetime.now(UTC)
    result = IN_A_WORKER.get(name, job.run)(get_settings())
    log.debug("periodic %s done in %s", name, datetime.now(UTC) - started)
    return None if result is None else str(result)
