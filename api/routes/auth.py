"""Sign-in and users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import select

from api.deps import ClientAddress, CurrentActor, SessionDep, SettingsDep, allow, central_only
from api.schemas import Token, UserCreate, UserPublic
from engine.core.errors import NotFound
from engine.people import centers, users
from storage.models.people import User

router = APIRouter(prefix="/api", tags=["auth"])


@router.post("/auth/token", dependencies=[allow("public")], response_model=Token)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
          settings: SettingsDep, client: ClientAddress) -> Token:
    user = users.authenticate(session=session, username=form.username, password=form.password,
                              settings=settings, client=client)
    return Token(access_token=users.issue_token(
        user, settings, users.session_version(session, user.username, user.session_version)))


@router.post("/users", dependencies=[allow("users.manage"), central_only()], response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, session: SessionDep, settings: SettingsDep) -> UserPublic:
    center_id = centers.by_code(session, body.center).id if body.center is not None else None
    user = users.create_user(session=session, username=body.username, password=body.password,
                             full_name=body.full_name, roles=body.roles, settings=settings, center_id=center_id,
                             installation_wide=body.installation_wide)
    return UserPublic.of(user)


@router.get("/me", dependencies=[allow("me")], response_model=UserPublic)
def me(actor: CurrentActor, session: SessionDep) -> UserPublic:
    user = session.exec(select(User).where(User.username == actor.username)).first()
    if user is None:
        raise NotFound("api.user_gone")
    return UserPublic.of(user)
