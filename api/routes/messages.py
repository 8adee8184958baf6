"""Messages to the citizen of a case, as staff see them (docs/messages.md)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentActor, SessionDep, SettingsDep, allow
from api.params import RowId
from api.schemas import MessagePublic
from engine.cases.message_log import case_messages

router = APIRouter(prefix="/api/cases", tags=["messages"])


@router.get("/{case_id}/messages", dependencies=[allow("case.read")], response_model=list[MessagePublic])
def list_messages(case_id: RowId, session: SessionDep, settings: SettingsDep,
                  actor: CurrentActor) -> list[MessagePublic]:
    rows = case_messages(session=session, case_id=case_id, actor=actor, settings=settings)
    return [MessagePublic.model_validate(row, from_attributes=True) for row in rows]
