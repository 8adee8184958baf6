"""Auditors: search every case, replay one, step through its history, export it; the published key.

Every read here is recorded in the access log by the engine (engine/audit/auditors.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import CurrentActor, SessionDep, SettingsDep, allow
from api.params import IsoDate, Limit, Offset, OptionalRowId, RowId
from api.schemas import (
    AccessPublic,
    AuditCasePage,
    AuditCaseSummary,
    CaseSummary,
    DivergencePublic,
    HistoryPublic,
    HistoryStep,
    ReplayPublic,
    utc,
)
from engine.audit import auditors, signing
from engine.cases.replay import ReplayResult

router = APIRouter(tags=["audit"])


def _replay(result: ReplayResult) -> ReplayPublic:
    d = result.divergence
    return ReplayPublic(consistent=result.consistent, events_replayed=result.events_replayed,
                        divergence=DivergencePublic(seq=d.seq, expected=d.expected, actual=d.actual) if d else None)


@router.get("/api/cases/{case_id}/replay", dependencies=[allow("audit.case")], response_model=ReplayPublic)
def replay(case_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> ReplayPublic:
    return _replay(auditors.replay_case(session=session, case_id=case_id, actor=actor, settings=settings))


@router.get("/api/cases/{case_id}/history", dependencies=[allow("audit.case")], response_model=HistoryPublic)
def history(case_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> HistoryPublic:
    found = auditors.case_history(session=session, case_id=case_id, actor=actor, settings=settings)
    assert found.result is not None
    return HistoryPublic(case_id=found.case_id, tracking_number=found.tracking_number,
                         steps=[HistoryStep(**{k: v for k, v in step.as_dict().items() if k != "process_version_id"})
                                for step in found.steps],
                         replay=_replay(found.result))


@router.get("/api/cases/{case_id}/export", dependencies=[allow("audit.case")],
            responses={200: {"content": {"application/zip": {}}, "description": "the signed case file"}})
def export(case_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> Response:
    name, data = auditors.export_case(session=session, case_id=case_id, actor=actor, settings=settings)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/api/audit/cases", dependencies=[allow("audit.search")], response_model=AuditCasePage)
def search(session: SessionDep, settings: SettingsDep, actor: CurrentActor,
           tracking_number: str | None = None, national_id: str | None = None, service_code: str | None = None,
           officer: str | None = None, status: str | None = None,
           center: Annotated[str | None, Query(description="a center's code: its cases and those of the "
                                                "centers below it")] = None,
           date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
           date_to: Annotated[IsoDate | None, Query(alias="to")] = None,
           limit: Limit = 50, offset: Offset = 0) -> AuditCasePage:
    limit = min(limit, settings.max_page_size)
    found, total = auditors.search(session=session, actor=actor, settings=settings, query=auditors.Search(
        tracking_number=tracking_number, national_id=national_id, service_code=service_code, officer=officer,
        status=status, center=center, date_from=date_from, date_to=date_to, limit=limit, offset=offset))
    items = [AuditCaseSummary(**CaseSummary.of(f.case).model_dump(), outcome=f.case.outcome,
                              completed_at=utc(f.case.completed_at), officers=f.officers) for f in found]
    return AuditCasePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/api/audit/reads", dependencies=[allow("audit.search")], response_model=list[AccessPublic])
def reads(session: SessionDep, settings: SettingsDep, actor: CurrentActor, case_id: OptionalRowId = None,
          limit: Limit = 100, offset: Offset = 0) -> list[AccessPublic]:
    """The access log, newest first: who read what, when (reading it is recorded as well)."""
    rows = auditors.reads(session=session, actor=actor, settings=settings, case_id=case_id,
                          limit=min(limit, settings.max_page_size), offset=offset)
    return [AccessPublic(seq=r.seq, at=r.at, actor=r.actor, action=r.action, case_id=r.case_id, detail=r.detail)
            for r in rows]


@router.get("/api/audit/public-key", dependencies=[allow("public")])
def public_key(settings: SettingsDep) -> dict[str, Any]:
    """The installation's published signing key: case files and ledger seals must be signed with it."""
    return {"algorithm": "Ed25519", "public_key": signing.installation_public_key(settings)}
