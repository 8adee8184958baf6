"""Ratings: the citizen's link (no sign-in) and the staff's read of a case's rating."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlmodel import Session

from api.deps import ClientAddress, CurrentActor, SessionDep, SettingsDep, allow
from api.params import RowId
from api.schemas import utc
from engine.cases import ratings
from engine.core import tracking
from storage.models.cases import Case
from storage.models.ratings import Rating

router = APIRouter(tags=["ratings"])


class RatingCreate(BaseModel):
    """A rating from the link sent when the case completed: ``token`` is the link's ``t``."""

    tracking_number: str = Field(max_length=40)
    token: str = Field(max_length=64)
    # Checked by the engine (422 naming the field), so the API and the pages refuse in the same words.
    score: str = Field(max_length=16, description="happy, neutral or unhappy")
    reason_code: str | None = Field(default=None, max_length=32, description=", ".join(ratings.REASONS))
    reason: str | None = Field(default=None, max_length=5000)


class RatingPublic(BaseModel):
    tracking_number: str
    score: str
    reason_code: str | None
    reason: str | None
    created_at: datetime | None


class RatingStaff(RatingPublic):
    case_id: int
    service_code: str
    center_id: int | None
    clerk: str
    channel: Literal["link", "desk"]
    opened_by: str | None


@router.post("/api/public/ratings", dependencies=[allow("public")], response_model=RatingPublic, status_code=201)
def rate(body: RatingCreate, session: SessionDep, settings: SettingsDep, client: ClientAddress) -> RatingPublic:
    row = ratings.rate(session=session, tracking_number=body.tracking_number, token=body.token,
                       rating=ratings.RatingInput(body.score, body.reason_code, body.reason), settings=settings,
                       client=client)
    return RatingPublic(tracking_number=tracking.normalise(body.tracking_number), score=row.score,
                        reason_code=row.reason_code, reason=row.reason, created_at=utc(row.created_at))


@router.get("/api/cases/{case_id}/rating", dependencies=[allow("case.read")], response_model=RatingStaff)
def case_rating(case_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> RatingStaff:
    row = ratings.get_rating(session=session, case_id=case_id, actor=actor, settings=settings)
    return _staff(session, row)


def _staff(session: Session, row: Rating) -> RatingStaff:
    case = session.get(Case, row.case_id)
    assert case is not None
    return RatingStaff(case_id=row.case_id, tracking_number=case.tracking_number, score=row.score,
                       reason_code=row.reason_code, reason=row.reason, created_at=utc(row.created_at),
                       service_code=row.service_code, center_id=row.center_id, clerk=row.clerk,
                       channel="desk" if row.channel == "desk" else "link", opened_by=row.opened_by)
