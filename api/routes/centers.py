"""Service centers: the tree of governorates, cities and districts, and which center a user works at."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentActor, SessionDep, allow, central_only
from api.params import IsoDate
from engine.people import centers
from storage.models.centers import Center

router = APIRouter(prefix="/api", tags=["centers"])


class CenterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=32)
    name_ar: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    level: Literal["governorate", "city", "district"]
    parent: str | None = Field(default=None, max_length=32)  # the parent center's code
    holidays: list[IsoDate] = Field(default_factory=list, max_length=366)  # the center's own public holidays


class CenterPublic(BaseModel):
    id: int
    code: str
    name_ar: str
    name_en: str
    level: str
    parent_id: int | None
    holidays: list[str]

    @classmethod
    def of(cls, center: Center) -> CenterPublic:
        assert center.id is not None
        return cls(id=center.id, code=center.code, name_ar=center.name_ar, name_en=center.name_en,
                   level=center.level, parent_id=center.parent_id, holidays=list(center.holidays))


class Holidays(BaseModel):
    model_config = ConfigDict(extra="forbid")
    holidays: list[IsoDate] = Field(max_length=366)


class UserCenter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    center: str | None = Field(default=None, max_length=32)  # a center's code
    installation_wide: bool = False  # instead of a center, on purpose: the user sees every center


class UserCenterPublic(BaseModel):
    username: str
    center_id: int | None


@router.get("/centers", dependencies=[allow("catalog.read")], response_model=list[CenterPublic])
def list_centers(session: SessionDep, _actor: CurrentActor) -> list[CenterPublic]:
    return [CenterPublic.of(c) for c in centers.list_centers(session)]


@router.post("/centers", dependencies=[allow("users.manage"), central_only()], response_model=CenterPublic,
             status_code=201)
def create_center(body: CenterCreate, session: SessionDep) -> CenterPublic:
    return CenterPublic.of(centers.create_center(session=session, code=body.code, name_ar=body.name_ar,
                                                 name_en=body.name_en, level=body.level, parent_code=body.parent,
                                                 holidays=body.holidays))


@router.put("/centers/{code}/holidays", dependencies=[allow("users.manage"), central_only()],
            response_model=CenterPublic)
def set_holidays(code: str, body: Holidays, session: SessionDep) -> CenterPublic:
    return CenterPublic.of(centers.set_holidays(session=session, code=code, holidays=body.holidays))


@router.put("/users/{username}/center", dependencies=[allow("users.manage"), central_only()],
            response_model=UserCenterPublic)
def set_user_center(username: str, body: UserCenter, session: SessionDep) -> UserCenterPublic:
    user = centers.set_user_center(session=session, username=username, center_code=body.center,
                                   installation_wide=body.installation_wide)
    return UserCenterPublic(username=user.username, center_id=user.center_id)
