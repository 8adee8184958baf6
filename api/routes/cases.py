"""Cases: open, read, search, cancel, and the audit trail."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from sqlmodel import Session, col, select

from api.deps import CurrentActor, SessionDep, SettingsDep
from api.params import Limit, Offset, RowId
from api.schemas import CaseCancel, CaseCreate, CasePage, CasePublic, CaseSummary, EventPublic
from engine import auditors, cases, processes
from engine.settings import Settings
from storage.models import AuditEvent, Case

router = APIRouter(prefix="/api/cases", tags=["cases"])


def case_view(session: Session, case: Case, settings: Settings) -> CasePublic:
    assert case.id is not None
    version = processes.cache.get(session, case.process_version_id, settings).version
    return CasePublic.of(case, cases.ready_tasks(session, case.id), version)


@router.post("", response_model=CasePublic, status_code=201)
def open_case(body: CaseCreate, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> CasePublic:
    case = cases.open_case(session=session, service_code=body.service_code, citizen=body.citizen.model_dump(),
                           data=body.data, actor=actor, settings=settings, ticket=body.ticket)
    return case_view(session, case, settings)


@router.get("", response_model=CasePage)
def list_cases(session: SessionDep, settings: SettingsDep, actor: CurrentActor,
               status: Literal["open", "completed", "cancelled"] | None = None,
               service_code: str | None = None, tracking_number: str | None = None,
               national_id: str | None = None,
               limit: Limit = 50, offset: Offset = 0) -> CasePage:
    limit = min(limit, settings.max_page_size)
    rows, total = cases.list_cases(session=session, actor=actor, filters=cases.CaseFilter(
        status=status, service_code=service_code, tracking_number=tracking_number, national_id=national_id,
        limit=limit, offset=offset))
    return CasePage(items=[CaseSummary.of(c) for c in rows], total=total, limit=limit, offset=offset)


@router.get("/{case_id}", response_model=CasePublic)
def get_case(case_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> CasePublic:
    case = cases.get_case(session=session, case_id=case_id, actor=actor, settings=settings)
    view = case_view(session, case, settings)
    auditors.note_read(session=session, actor=actor, action="case", case_id=case_id)
    return view


@router.post("/{case_id}/cancel", response_model=CasePublic)
def cancel_case(case_id: RowId, body: CaseCancel, session: SessionDep, settings: SettingsDep,
                actor: CurrentActor) -> CasePublic:
    case = cases.cancel_case(session=session, case_id=case_id, reason=body.reason, actor=actor, settings=settings)
    return case_view(session, case, settings)


@router.get("/{case_id}/events", response_model=list[EventPublic])
def events(case_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> list[EventPublic]:
    cases.get_case(session=session, case_id=case_id, actor=actor, settings=settings)
    rows = session.exec(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(col(AuditEvent.seq)))
    out = [EventPublic.of(ev) for ev in rows]
    auditors.note_read(session=session, actor=actor, action="events", case_id=case_id)
    return out
