"""The inbox and the actions on a task."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentActor, SessionDep, SettingsDep
from api.params import Limit, Offset
from api.routes.cases import case_view
from api.schemas import CasePublic, TaskComplete, TaskDetail, TaskPublic
from engine import cases, processes, tasks
from engine.errors import Forbidden, NotFound
from storage.models import Task

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.get("", response_model=list[TaskPublic])
def inbox(session: SessionDep, settings: SettingsDep, actor: CurrentActor, service_code: str | None = None,
          lane: str | None = None, limit: Limit = 100,
          offset: Offset = 0) -> list[TaskPublic]:
    rows = tasks.inbox(session=session, actor=actor, service_code=service_code, lane=lane,
                       limit=min(limit, settings.max_page_size), offset=offset)
    return [TaskPublic.of(t) for t in rows]


@router.get("/{task_id}", response_model=TaskDetail)
def task_detail(task_id: str, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> TaskDetail:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    if task.lane not in actor.roles and not actor.reads_everything:
        raise Forbidden(f"this task belongs to the lane '{task.lane}', which is not one of your roles")
    case = cases.get_case(session=session, case_id=task.case_id, actor=actor, settings=settings)
    process = processes.cache.get(session, case.process_version_id, settings)
    schema = process.forms.get(task.form) if task.form else None
    return TaskDetail(**TaskPublic.of(task).model_dump(), form_schema=schema)


@router.post("/{task_id}/claim", response_model=TaskPublic)
def claim(task_id: str, session: SessionDep, actor: CurrentActor) -> TaskPublic:
    return TaskPublic.of(tasks.claim(session=session, task_id=task_id, actor=actor))


@router.post("/{task_id}/unclaim", response_model=TaskPublic)
def unclaim(task_id: str, session: SessionDep, actor: CurrentActor) -> TaskPublic:
    return TaskPublic.of(tasks.unclaim(session=session, task_id=task_id, actor=actor))


@router.post("/{task_id}/complete", response_model=CasePublic)
def complete(task_id: str, body: TaskComplete, session: SessionDep, settings: SettingsDep,
             actor: CurrentActor) -> CasePublic:
    case = tasks.complete(session=session, task_id=task_id, data=body.data, actor=actor, settings=settings)
    return case_view(session, case, settings)
