"""Messages to the citizen of a case, as staff see them (docs/messages.md); and messages sent to a case whose
diagram waits for them (engine/cases/inbound.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import CurrentActor, SessionDep, SettingsDep, allow
from api.params import RowId
from api.schemas import CasePublic, MessagePublic, MessageSend
from api.views import answer
from engine.cases import inbound
from engine.cases.message_log import case_messages

router = APIRouter(prefix="/api/cases", tags=["messages"])


@router.get("/{case_id}/messages", dependencies=[allow("case.read")], response_model=list[MessagePublic])
def list_messages(case_id: RowId, session: SessionDep, settings: SettingsDep,
                  actor: CurrentActor) -> list[MessagePublic]:
    rows = case_messages(session=session, case_id=case_id, actor=actor, settings=settings)
    return [MessagePublic.model_validate(row, from_attributes=True) for row in rows]


MessageName = Annotated[str, Path(min_length=1, max_length=255)]


@router.post("/{case_id}/messages/{message_name}", dependencies=[allow("case.message")], response_model=CasePublic)
def send_message(case_id: RowId, message_name: MessageName, body: MessageSend, session: SessionDep,
                 settings: SettingsDep, actor: CurrentActor) -> Response:
    """Deliver the message ``message_name`` with its payload to the case waiting for it: 404 when the diagram
    never waits for it, 409 (and an incident) when nothing waits for it now."""
    done = inbound.send(session=session, case_id=case_id, message=message_name, payload=body.payload, actor=actor,
                        settings=settings)
    return answer(CasePublic.of(done.case, done.tasks, done.version))
