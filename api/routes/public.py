"""Routes that need no sign-in: citizens' tracking (the health checks are api/routes/health.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ClientAddress, SessionDep, SettingsDep, allow
from api.params import LAST4_PATTERN
from api.schemas import TrackPublic, utc
from engine import public

router = APIRouter(tags=["public"])


@router.get("/api/public/track/{tracking_number}", dependencies=[allow("public")], response_model=TrackPublic)
def track(tracking_number: str, phone_last4: Annotated[str, Query(pattern=LAST4_PATTERN)], session: SessionDep,
          settings: SettingsDep, client: ClientAddress) -> TrackPublic:
    found = public.track(session=session, tracking_number=tracking_number, phone_last4=phone_last4,
                         settings=settings, client=client)
    found["updated_at"] = utc(found["updated_at"])
    found["reopen_until"] = utc(found["reopen_until"])
    return TrackPublic(**found)
