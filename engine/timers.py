"""The periodic tick: fire due BPMN timers of every case that waits on one."""

from __future__ import annotations

import logging

from sqlmodel import Session, col, select

from engine import processes, workflows
from engine.bpmn import runner
from engine.cases import load_case
from engine.errors import Conflict
from engine.settings import Settings
from engine.users import SYSTEM
from storage.models import Case

log = logging.getLogger(__name__)


def tick(*, session: Session, settings: Settings, batch: int = 500) -> int:
    """Advance every open case that waits on a timer; returns how many cases moved."""
    moved = 0
    ids = session.exec(select(Case.id).where(col(Case.waiting_timers).is_(True), Case.status == "open")
                       .order_by(col(Case.id)).limit(batch)).all()
    for case_id in ids:
        assert case_id is not None
        case = load_case(session, case_id)
        process = processes.cache.get(session, case.process_version_id, settings)
        workflow = workflows.load(case, process, settings)
        before = runner.dump(workflow)
        try:
            runner.advance(workflow, workflows.limits(settings))
        except runner.ProcessFailed as exc:
            log.warning("case %s: timer step failed at %s: %s", case.tracking_number, exc.element_id, exc.message)
            continue
        if runner.dump(workflow) == before:
            workflows.workflow_cache(settings).give_back(settings.database_url, case_id, case.version,
                                                         workflow)
            continue
        try:
            workflows.save(session, case, workflow, process, actor=SYSTEM.username, settings=settings,
                           events=[("timer_fired", None, {})])
        except Conflict:
            continue  # a person moved the case meanwhile; the next tick looks again
        moved += 1
    return moved
