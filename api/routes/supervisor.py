"""The supervisors' overdue queue and reassignment (engine/cases/escalation.py, docs/leadership.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentActor, SessionDep, SettingsDep, allow
from api.params import Limit, Offset
from api.schemas import TaskPublic
from engine.cases import escalation
from engine.core import calendars, clock

router = APIRouter(prefix="/api/supervisor", tags=["supervisor"])


class OverdueTask(TaskPublic):
    center_id: int | None
    escalated_at: datetime | None
    # Working days past the due time at the moment of the request (engine/core/calendars.py).
    overdue_days: float


class Reassign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # A username of the task's lane, or null to give the task back to the whole lane.
    to: str | None = Field(default=None, max_length=64)


def _overdue(row: Any, now: datetime, calendar: calendars.WorkCalendar) -> OverdueTask:
    due_at = escalation.aware(row.due_at)
    return OverdueTask(**TaskPublic.of(row).model_dump(), center_id=row.center_id, escalated_at=row.escalated_at,
                       overdue_days=round(calendar.working_days_between(due_at, now), 3))


@router.get("/overdue", dependencies=[allow("tasks.overdue")], response_model=list[OverdueTask])
def overdue(session: SessionDep, settings: SettingsDep, actor: CurrentActor, service_code: str | None = None,
            limit: Limit = 100,
            offset: Offset = 0) -> list[OverdueTask]:
    now = clock.now()
    rows = escalation.overdue(session=session, actor=actor, settings=settings, now=now, service_code=service_code,
                              limit=min(limit, settings.max_page_size), offset=offset)
    calendar = escalation.center_calendars(session, settings)
    return [_overdue(row, now, calendar(row.center_id)) for row in rows]


@router.post("/tasks/{task_id}/reassign", dependencies=[allow("task.reassign")], response_model=TaskPublic)
def reassign(task_id: str, body: Reassign, session: SessionDep, settings: SettingsDep,
             actor: CurrentActor) -> TaskPublic:
    return TaskPublic.of(escalation.reassign(session=session, task_id=task_id, to=body.to, actor=actor,
                                             settings=settings))
