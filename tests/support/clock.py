"""Make a case's waiting timers due now, without sleeping: rewrite their due time in the stored state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import update
from sqlmodel import Session, col

from engine.bpmn import runner
from engine.cases import workflows
from engine.catalog import processes
from engine.core.settings import Settings
from storage.db import engine_for
from storage.models.cases import Case


def make_timers_due(settings: Settings, case_id: int) -> int:
    """Move every waiting timer of the case one second into the past; returns how many were moved."""
    with Session(engine_for(settings.database_url)) as session:
        case = session.get(Case, case_id)
        assert case is not None
        process = processes.cache.get(session, case.process_version_id, settings)
        workflow = runner.load(process, case.state)
        moved = 0
        past = datetime.now(UTC) - timedelta(seconds=1)
        for task in workflow.get_tasks(state=TaskState.WAITING):
            if isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
                task.internal_data["event_value"] = past.isoformat()
                moved += 1
        session.execute(update(Case).where(col(Case.id) == case_id).values(state=runner.dump(workflow),
                                                                         timer_due_at=past))
        session.commit()
    workflows.workflow_cache(settings).clear()
    return moved
