"""The periodic tick: fire the BPMN timers that have fallen due, in every open case.

Each case keeps ``timer_due_at``, the due time of the earliest timer it waits on (written with its state),
so a tick reads only the cases whose time has come, whatever the number of cases waiting on later timers.

A case moves at one moment (engine/core/clock.py): its timers are checked at that moment and its ``timer_fired``
event records it, with the ids of the timers that fired, so that a replay fires the same ones.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from engine.bpmn import runner
from engine.cases import incidents, workflows
from engine.cases.lifecycle import load_case
from engine.catalog import processes
from engine.core import clock, nodes
from engine.core.errors import Conflict
from engine.core.settings import Settings
from engine.people.users import SYSTEM
from storage import leader
from storage.models.cases import Case

log = logging.getLogger(__name__)


def tick(*, session: Session, settings: Settings, batch: int = 500, now: datetime | None = None) -> int:
    """Advance every open case with a due timer once; returns how many cases moved.

    ``now`` is the moment the tick runs at (the real time, taken case by case, when not given)."""
    due_by = now or datetime.now(UTC)
    moved = 0
    last_id = 0
    while True:
        # Keyset pages by id: each due case is visited once per tick, even one whose timer does not fire.
        ids = session.exec(select(Case.id).where(col(Case.timer_due_at) <= due_by, Case.status == "open",
                                                 col(Case.id) > last_id, nodes.mine(Case.node, settings))
                           .order_by(col(Case.id)).limit(batch)).all()
        session.rollback()  # end the read transaction before the commands open their own
        if not ids:
            return moved
        for case_id in ids:
            assert case_id is not None
            leader.check()  # stop when another process may have taken the tick's turn
            moved += _advance(session, case_id, settings, now)
        last_id = ids[-1] or last_id


def _advance(session: Session, case_id: int, settings: Settings, at: datetime | None) -> int:
    case = load_case(session, case_id)
    process = processes.cache.get(session, case.process_version_id, settings)
    workflow = workflows.load(case, process, settings)
    moment = at or clock.now()
    waiting = runner.waiting_timers(workflow)
    try:
        runner.advance(workflow, runner.limits(settings), at=moment)
    except runner.ProcessFailed as exc:
        log.warning("case %s: timer step failed at %s: %s", case.tracking_number, exc.element_id, exc.message)
        if exc.limit != "busy":
            incidents.record(session, case_id=case_id, exc=exc, actor=SYSTEM.username, kind="timer_failed",
                             timer=True, chain_repeats=False)
        return 0
    if runner.dump(workflow) == case.state:
        workflows.workflow_cache(settings).give_back(settings.database_url, case_id, case.version, workflow)
        return 0
    fired: dict[str, object] = {"timers": runner.fired_timers(workflow, waiting)}
    failed_before = incidents.open_timer_incidents(session, case_id)
    if failed_before:  # the case goes past the failure its incidents recorded (e.g. moved to a fixed version)
        fired["incidents"] = failed_before
    try:
        workflows.save(session, case, workflow, process, actor=SYSTEM.username, settings=settings, at=moment,
                       events=[("timer_fired", None, fired)])
    except Conflict:
        return 0  # a person moved the case meanwhile; the next tick looks again
    incidents.close_timer_incidents(session, failed_before)
    return 1
