"""Cases: open, read, search, cancel, and the audit trail."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response

from api.deps import CurrentActor, SessionDep, SettingsDep, allow
from api.params import Limit, Offset, RowId
from api.schemas import CaseCancel, CaseCreate, CasePage, CasePublic, CaseSummary, CitizenCorrection, EventPublic
from api.views import answer, case_view
from engine.audit import auditors
from engine.cases import citizen_correction
from engine.cases import lifecycle as cases
from engine.core import chain as audit

router = APIRouter(prefix="/api/cases", tags=["cases"])


@router.post("", dependencies=[allow("case.open")], response_model=CasePublic, status_code=201)
def open_case(body: CaseCreate, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> Response:
    opened = cases.open_case(session=session, service_code=body.service_code, citizen=body.citizen.model_dump(),
                             data=body.data, actor=actor, settings=settings, ticket=body.ticket)
    # As the command wrote it: no second trip.
    return answer(CasePublic.of(opened.case, opened.tasks, opened.version), status_code=201)


@router.get("", dependencies=[allow("cases.list")], response_model=CasePage)
def list_cases(session: SessionDep, settings: SettingsDep, actor: CurrentActor,
               status: Literal["open", "completed", "cancelled"] | None = None,
               service_code: str | None = None, tracking_number: str | None = None,
               national_id: str | None = None,
               limit: Limit = 50, offset: Offset = 0) -> CasePage:
    limit = min(limit, settings.max_page_size)
    rows, total = cases.list_cases(session=session, actor=actor, settings=settings, filters=cases.CaseFilter(
        status=status, service_code=service_code, tracking_number=tracking_number, national_id=national_id,
        limit=limit, offset=offset))
    return CasePage(items=[CaseSummary.of(c) for c in rows], total=total, limit=limit, offset=offset)


@router.get("/{case_id}", dependencies=[allow("case.read")], response_model=CasePublic)
def get_case(case_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> Response:
    case = cases.get_case(session=session, case_id=case_id, actor=actor, settings=settings)
    view = case_view(session, case, settings)
    auditors.note_read(session=session, actor=actor, action="case", case_id=case_id)
    return answer(view)


@router.post("/{case_id}/cancel", dependencies=[allow("case.cancel")], response_model=CasePublic)
def cancel_case(case_id: RowId, body: CaseCancel, session: SessionDep, settings: SettingsDep,
                actor: CurrentActor) -> CasePublic:
    case = cases.cancel_case(session=session, case_id=case_id, reason=body.reason, actor=actor, settings=settings)
    return case_view(session, case, settings)


@router.post("/{case_id}/citizen-correction", dependencies=[allow("case.correct")],
             response_model=CasePublic)
def correct_citizen(case_id: RowId, body: CitizenCorrection, session: SessionDep, settings: SettingsDep,
                    actor: CurrentActor) -> CasePublic:
    """Correct the citizen's contact details (front desk or supervisor, with a reason; docs/security.md)."""
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    case = citizen_correction.correct(session=session, case_id=case_id, changes=changes, reason=body.reason,
                                      actor=actor, settings=settings)
    return case_view(session, case, settings)


@router.get("/{case_id}/events", dependencies=[allow("case.read")], response_model=list[EventPublic])
def events(case_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> list[EventPublic]:
    cases.get_case(session=session, case_id=case_id, actor=actor, settings=settings)
    rows = audit.events_of(session, case_id)
    out = [EventPublic.of(ev) for ev in rows]
    auditors.note_read(session=session, actor=actor, action="events", case_id=case_id)
    return out
