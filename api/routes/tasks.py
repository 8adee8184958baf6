"""The inbox and the actions on a task."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import CurrentActor, SessionDep, SettingsDep, allow
from api.params import Limit, Offset
from api.schemas import CasePublic, TaskComplete, TaskDetail, TaskPublic
from api.views import answer, tasks_answer
from engine.cases import tasks

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.get("", dependencies=[allow("inbox")], response_model=list[TaskPublic])
def inbox(session: SessionDep, settings: SettingsDep, actor: CurrentActor, service_code: str | None = None,
          lane: str | None = None, limit: Limit = 100,
          offset: Offset = 0) -> Response:
    rows = tasks.inbox(session=session, actor=actor, service_code=service_code, lane=lane,
                       limit=min(limit, settings.max_page_size), offset=offset)
    return tasks_answer([TaskPublic.of(t) for t in rows])


@router.get("/{task_id}", dependencies=[allow("task.read")], response_model=TaskDetail)
def task_detail(task_id: str, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> TaskDetail:
    step = tasks.step_for(session=session, task_id=task_id, actor=actor, settings=settings, action="task.read")
    return TaskDetail(**TaskPublic.of(step.task).model_dump(), form_schema=step.schema)


@router.post("/{task_id}/claim", dependencies=[allow("task.act")], response_model=TaskPublic)
def claim(task_id: str, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> TaskPublic:
    return TaskPublic.of(tasks.claim(session=session, task_id=task_id, actor=actor, settings=settings))


@router.post("/{task_id}/unclaim", dependencies=[allow("task.act")], response_model=TaskPublic)
def unclaim(task_id: str, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> TaskPublic:
    return TaskPublic.of(tasks.unclaim(session=session, task_id=task_id, actor=actor, settings=settings))


@router.post("/{task_id}/complete", dependencies=[allow("task.act")], response_model=CasePublic)
def complete(task_id: str, body: TaskComplete, session: SessionDep, settings: SettingsDep,
             actor: CurrentActor) -> Response:
    done = tasks.complete(session=session, task_id=task_id, data=body.data, actor=actor, settings=settings)
    return answer(CasePublic.of(done.case, done.tasks, done.version))  # as the command wrote it: no second trip
