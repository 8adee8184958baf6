"""Answers that several routes give: a case as the API shows it, and the citizen's tracking answer.

Routes never import each other's handlers; what two routes answer alike is built here.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel, TypeAdapter
from sqlmodel import Session

from api.schemas import CasePublic, TaskPublic, TrackPublic, utc
from engine.cases import lifecycle as cases
from engine.cases import public
from engine.catalog import processes
from engine.core.settings import Settings
from storage.models.cases import Case


def answer(model: BaseModel, status_code: int = 200) -> Response:
    """A route's model as its JSON answer, made in the route's own thread: the bytes FastAPI would write for the
    route's ``response_model`` (the same serializer), without FastAPI checking an already checked model again
    in another trip to the thread pool (a plain ``def`` route's answer is validated there). For the hot
    routes; ``response_model`` stays on the route for the OpenAPI document."""
    return Response(content=model.model_dump_json(), media_type="application/json", status_code=status_code)


_TASK_LIST: TypeAdapter[list[TaskPublic]] = TypeAdapter(list[TaskPublic])


def tasks_answer(tasks: list[TaskPublic]) -> Response:
    """:func:`answer` for a list of tasks (the inbox)."""
    return Response(content=_TASK_LIST.dump_json(tasks), media_type="application/json")


def case_view(session: Session, case: Case, settings: Settings) -> CasePublic:
    assert case.id is not None
    version = processes.cache.get(session, case.process_version_id, settings).version
    return CasePublic.of(case, cases.ready_tasks(session, case.id), version)


def track_view(session: Session, settings: Settings, *, tracking_number: str, phone_last4: str,
               client: str | None) -> TrackPublic:
    found = public.track(session=session, tracking_number=tracking_number, phone_last4=phone_last4,
                         settings=settings, client=client)
    found["updated_at"] = utc(found["updated_at"])
    found["reopen_until"] = utc(found["reopen_until"])
    return TrackPublic(**found)
