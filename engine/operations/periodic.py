"""What runs on a clock, without anyone asking: the one list of periodic jobs.

Three runners read :data:`JOBS` and nothing else: the API process's embedded loops (api/app.py, the default
without a broker: one loop per job), ``shubbak tick`` (every job once, for cron or by hand) and Celery beat
(cli/worker.py, with ``SHUBBAK_BROKER_URL``). Add a job here and all three run it.

A round of a job takes the job's turn first (storage/leader.py): however many API processes (``serve
--workers N``) or ``shubbak tick`` runs share a database, one at a time runs a job's round; the others skip it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.audit import ledger
from engine.cases import distribution, escalation, incidents, sent_messages, timers, undelivered
from engine.citizen import signin
from engine.core import idempotency, throttle
from engine.core.settings import Settings
from engine.messages import send
from engine.operations import node_copy, node_link, orphans
from engine.outputs import issue as outputs_issue
from engine.payments import reconcile
from engine.queue import booking_rounds
from engine.reports import projector
from storage import leader
from storage.db import session_for

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    """``every(settings)``: seconds between rounds (0 turns the job off in the embedded loops; beat then uses
    ``beat_default``); ``run(settings)``: one round; ``says(result)``: the round in a line for ``shubbak tick``."""

    name: str
    every: Callable[[Settings], float]
    beat_default: float
    run: Callable[[Settings], Any]
    says: Callable[[Any], str]


def _in_a_session(work: Callable[..., T]) -> Callable[[Settings], T]:
    """A job's round that is ``work(session=…, settings=…)`` in a session of its own."""
    def round_(settings: Settings) -> T:
        with session_for(settings.database_url) as session:
            return work(session=session, settings=settings)

    return round_


def _advance_timers(settings: Settings) -> int:
    with session_for(settings.database_url) as session:
        moved = timers.tick(session=session, settings=settings)
        incidents.close_passed(session)  # incidents whose case went past the failure (engine/cases/incidents.py)
        return moved


def _send_due(settings: Settings) -> list[send.Attempt]:
    attempts = send.drain(settings=settings)
    with session_for(settings.database_url) as session:
        undelivered.open_incidents(session, settings)  # what failed for good is an incident on its case
    return attempts


def _tick(settings: Settings) -> float:
    return settings.timer_tick_seconds


JOBS: list[Job] = [
    # Messages due (new, or their retry fell due). The tick's interval too when the fast loop is off.
    Job("outbox", lambda s: s.message_poll_seconds or s.timer_tick_seconds, 2.0, _send_due,
        lambda r: f"{sum(1 for a in r if a.status == 'sent')} message(s) sent, {len(r)} tried"),
    Job("timers", _tick, 30.0, _advance_timers, lambda r: f"{r} case(s) advanced by due timers"),
    # Messages between cases that a crash left undelivered after their sender's commit, delivered (or held by
    # an incident) exactly once (engine/cases/sent_messages.py).
    Job("case_messages", _tick, 30.0, _in_a_session(sent_messages.deliver_pending),
        lambda r: f"{r} message(s) between cases delivered or held after a crash"),
    # SLA reminders of tasks near their due time, and escalation of overdue ones (engine/cases/escalation.py).
    Job("escalation", _tick, 30.0, _in_a_session(escalation.tick),
        lambda r: f"{r.reminded} task(s) reminded, {r.escalated} escalated"),
    # Absences that started hand their officers' tasks over, those that ended give them back; waiting tasks of
    # automatic lanes find an officer present (engine/cases/distribution.py).
    Job("assignment", _tick, 30.0, _in_a_session(distribution.tick),
        lambda r: f"{r.handed_over} task(s) of absent officers handed over, {r.given_back} given back after "
                  f"their absence, {r.assigned} waiting task(s) given out"),
    # The seal of every case's chain head, when SHUBBAK_SEAL_INTERVAL_HOURS have passed (engine/audit/ledger.py).
    Job("ledger_seal", _tick, 30.0, _in_a_session(ledger.seal_if_due),
        lambda r: f"ledger sealed ({r.changed} case(s) changed)" if r is not None else "ledger seal not due"),
    # Answers kept for retried requests, once older than SHUBBAK_IDEMPOTENCY_HOURS (engine/core/idempotency.py).
    Job("idempotency_keys", _tick, 30.0, _in_a_session(idempotency.forget_expired),
        lambda r: f"{r} kept answer(s) forgotten"),
    # Expired counters of failed attempts (docs/security.md).
    Job("throttle_counters", _tick, 30.0, throttle.purge, lambda r: f"{r} expired throttle counter(s) removed"),
    # Citizens' sign-in codes expired or used more than SHUBBAK_CITIZEN_CODE_KEEP_HOURS ago (engine/citizen/signin.py;
    # their counters are throttle counters, removed by the job above).
    Job("citizen_codes", _tick, 30.0, _in_a_session(signin.forget_codes), lambda r: f"{r} old sign-in code(s) deleted"),
    # The report aggregates, counted from the audit events after they commit (engine/reports/projector.py).
    Job("reports", lambda s: s.report_project_seconds, 2.0, projector.catch_up,
        lambda r: f"{r} event(s) counted into the reports"),
    # The documents steps owed, rendered, signed, stored and chained after their step's commit (engine/outputs).
    Job("outputs", lambda s: s.document_issue_seconds, 2.0, _in_a_session(outputs_issue.issue_pending),
        lambda r: f"{r} document(s) issued"),
    # Stored objects no row names once SHUBBAK_ORPHAN_GRACE_HOURS old (a process killed between writing a scan
    # or a document and committing its row), deleted (engine/operations/orphans.py).
    Job("orphans", lambda s: s.orphan_sweep_seconds, 86_400.0, _in_a_session(orphans.sweep),
        lambda r: (f"{r.held} stored objects no row names: too many, none deleted (docs/operations.md)" if r.held
                   else f"{r.deleted} stored object(s) no row names deleted of {r.looked_at} old enough, "
                        f"{r.abandoned} cut-short write(s) removed")),
    # Payment references still pending past SHUBBAK_PAYMENT_RECONCILE_AFTER_MINUTES, asked about at their
    # provider: settled as their callback would, or expired (engine/payments/reconcile.py).
    Job("payment_reconciliation", lambda s: s.payment_reconcile_seconds, 300.0, _in_a_session(reconcile.reconcile),
        lambda r: f"{r.asked} payment reference(s) asked: {r.paid} paid, {r.late} late, {r.expired} expired, "
                  f"{r.pending} still pending, {r.failed} without an answer, {r.mismatch} flagged (another amount)"),
    # Booked visits: the day-before SMS reminders (once per booking), the arrivals recorded at center nodes
    # written into their bookings, and the no-shows, whose places are given back (engine/queue/booking_rounds.py).
    Job("bookings", lambda s: s.booking_round_seconds, 60.0, _in_a_session(booking_rounds.run),
        lambda r: f"{r.reminded} visit reminder(s) written, {r.no_shows} no-show(s) released, "
                  f"{r.arrivals} arrival(s) at center nodes written"),
    # A center node's documents, copied to central's document store (engine/operations/node_copy.py).
    Job("node_copy", lambda s: s.node_copy_seconds, 30.0, _in_a_session(node_copy.copy_pending),
        lambda r: f"{r.copied} document(s) copied to central, {r.present} already there, {r.failed} failed"),
    # What each subscription between nodes last heard, and since when a line is down (engine/operations/node_link.py).
    Job("node_link", lambda s: s.node_link_seconds, 10.0, _in_a_session(node_link.record),
        lambda r: f"{r} line(s) between nodes down"),
]


def job(name: str) -> Job:
    """The job called ``name``; LookupError for another name."""
    for found in JOBS:
        if found.name == name:
            return found
    raise LookupError(f"no periodic job called {name!r}")


def run_round(found: Job, settings: Settings) -> tuple[bool, Any]:
    """One round of a job, if this process gets the job's turn: (ran, result). A round whose turn is lost
    in the middle (its lock's connection died: another process may have taken the turn) stops at its next
    ``leader.check()`` and counts as not run; the next round takes the turn afresh."""
    with leader.turn(settings.database_url, found.name, leader_url=settings.leader_database_url,
                     check_seconds=settings.leader_check_seconds) as mine:
        if not mine:
            return False, None
        try:
            return True, found.run(settings)
        except leader.LostTurn:
            log.warning("periodic job %s: lost its turn in the middle of a round; stopped there", found.name)
            return False, None


def run_all(settings: Settings) -> list[tuple[Job, bool, Any]]:
    """Every job once, in the list's order (``shubbak tick``): (job, ran, result)."""
    return [(found, *run_round(found, settings)) for found in JOBS]
