"""The citizen's answer to a resolved complaint, with the tracking page's proof (no sign-in)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import ClientAddress, SessionDep, SettingsDep, allow
from api.params import LAST4_PATTERN
from api.schemas import TrackPublic
from api.views import track_view
from engine.cases import complaints

router = APIRouter(tags=["public"])


class ReopenIn(BaseModel):
    phone_last4: str = Field(pattern=LAST4_PATTERN)
    reason: str = Field(max_length=5000, description="why the complaint is not resolved (required)")


@router.post("/api/public/track/{tracking_number}/reopen", dependencies=[allow("public")], response_model=TrackPublic)
def reopen(tracking_number: str, body: ReopenIn, session: SessionDep, settings: SettingsDep,
           client: ClientAddress) -> TrackPublic:
    """Reopen a complaint closed as resolved, within its time to reopen: it goes back to its department."""
    complaints.answer(session=session, tracking_number=tracking_number, phone_last4=body.phone_last4, reopen=True,
                      reason=body.reason, settings=settings, client=client)
    return track_view(session, settings, tracking_number=tracking_number, phone_last4=body.phone_last4,
                      client=client)
