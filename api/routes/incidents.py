"""Incidents: the cases whose step failed, and what supervisors and analysts do about them
(engine/cases/incidents.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentActor, SessionDep, SettingsDep, allow
from api.params import Limit, Offset, RowId
from api.schemas import CasePublic
from api.views import answer, case_view
from engine.cases import incidents
from storage.models.incidents import Incident

router = APIRouter(prefix="/api/incidents", tags=["incidents"])


class IncidentPublic(BaseModel):
    id: int
    case_id: int
    center_id: int | None
    service_code: str
    version: int
    element_id: str
    reason: str
    message: str
    task_name: str | None
    status: str
    count: int
    opened_at: datetime
    last_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    close_reason: str | None

    @classmethod
    def of(cls, row: Incident) -> IncidentPublic:
        return cls.model_validate(row, from_attributes=True)


class IncidentSkip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=255)  # the element the case goes on from
    reason: str = Field(min_length=1, max_length=1000)


class IncidentCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


Name = Annotated[str | None, Query(min_length=1, max_length=255)]


@router.get("", dependencies=[allow("incidents.read")], response_model=list[IncidentPublic])
def list_incidents(session: SessionDep, settings: SettingsDep, actor: CurrentActor,
                   service: Name = None, version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
                   element: Name = None, reason: Literal[incidents.REASONS] | None = None,  # type: ignore[valid-type]
                   status: Literal[incidents.STATUSES] | None = "open",  # type: ignore[valid-type]
                   limit: Limit = 50, offset: Offset = 0) -> list[IncidentPublic]:
    """The incidents of the caller's centers (open ones unless ``status`` says otherwise), latest failure first."""
    rows = incidents.list_incidents(session=session, actor=actor, filters=incidents.IncidentFilter(
        service_code=service, version=version, element_id=element, reason=reason, status=status,
        limit=min(limit, settings.max_page_size), offset=offset))
    return [IncidentPublic.of(r) for r in rows]


# retry, skip and cancel look like the queue's ticket routes: each is a thin route over its own command and body.
@router.post("/{incident_id}/retry", dependencies=[allow("incidents.act")], response_model=CasePublic)
def retry(incident_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> Response:
    """Run the failed step again on the case as it is now (e.g. after it moved to a corrected version)."""
    done = incidents.retry(session=session, incident_id=incident_id, actor=actor, settings=settings)
    return answer(CasePublic.of(done.case, done.tasks, done.version))


@router.post("/{incident_id}/skip", dependencies=[allow("incidents.skip")], response_model=CasePublic)
def skip(incident_id: RowId, body: IncidentSkip, session: SessionDep, settings: SettingsDep,
         actor: CurrentActor) -> Response:
    """Move the case past the failed element to ``to``, one of the elements it leads to, without running it."""
    done = incidents.skip(session=session, incident_id=incident_id, to_element=body.to, reason=body.reason,
                          actor=actor, settings=settings)
    return answer(CasePublic.of(done.case, done.tasks, done.version))


# A thin route over its own command and the case's view, alike in shape to api/routes/queue.py's call_ticket
# (a route over a queue command): the shape of every command route, the logic is the engine's.
@router.post("/{incident_id}/cancel", dependencies=[allow("incidents.act")], response_model=CasePublic)
def cancel(incident_id: RowId, body: IncidentCancel, session: SessionDep, settings: SettingsDep,
           actor: CurrentActor) -> CasePublic:
    """Cancel the incident's case, with a reason."""
    case = incidents.cancel(session=session, incident_id=incident_id, reason=body.reason, actor=actor,
                            settings=settings)
    return case_view(session, case, settings)
