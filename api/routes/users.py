"""The user lifecycle: admins list and change users; everyone changes their own password and signs out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlmodel import Session

from api.deps import ClientAddress, CurrentActor, SessionDep, SettingsDep, allow, central_only
from api.schemas_accounts import PasswordChange, UserEventList, UserEventView, UserList, UserUpdate, UserView
from engine.people import accounts, centers, user_events

router = APIRouter(prefix="/api", tags=["users"])


def _codes(session: Session) -> dict[int, str]:
    return {c.id: c.code for c in centers.list_centers(session) if c.id is not None}


@router.get("/users", response_model=UserList, dependencies=[allow("users.manage")])
def list_users(session: SessionDep, settings: SettingsDep,
               role: Annotated[str | None, Query(max_length=100)] = None,
               center: Annotated[str | None, Query(max_length=32)] = None, active: bool | None = None,
               limit: Annotated[int, Query(ge=1)] = 50, offset: Annotated[int, Query(ge=0)] = 0) -> UserList:
    limit = min(limit, settings.max_page_size)
    page = accounts.list_users(session, role=role, center_code=center, active=active, limit=limit, offset=offset)
    codes = _codes(session)
    return UserList(items=[UserView.of(u, codes) for u in page.users], total=page.total, limit=limit, offset=offset)


@router.patch("/users/{username}", dependencies=[allow("users.manage"), central_only()], response_model=UserView)
def update_user(username: str, body: UserUpdate, session: SessionDep, settings: SettingsDep,
                actor: CurrentActor) -> UserView:
    changes = body.model_dump(exclude_unset=True)
    if "center" in changes:
        changes["center_code"] = changes.pop("center")
    user = accounts.update_user(session=session, username=username, changes=changes, actor=actor,
                                settings=settings)
    return UserView.of(user, _codes(session))


@router.get("/users/{username}/events", response_model=UserEventList,
            dependencies=[allow("users.record")])
def user_event_list(username: str, session: SessionDep, settings: SettingsDep,
                    limit: Annotated[int, Query(ge=1)] = 100,
                    offset: Annotated[int, Query(ge=0)] = 0) -> UserEventList:
    """The record of every change to the user, oldest first, and whether its hash chain holds."""
    rows, total = accounts.events(session, username, limit=min(limit, settings.max_page_size), offset=offset)
    whole, _ = accounts.events(session, username, limit=max(total, 1))
    return UserEventList(items=[UserEventView.of(e) for e in rows], total=total,
                         chain_intact=user_events.broken_link(whole) is None)


@router.post("/me/password", dependencies=[allow("me"), central_only()], status_code=204,
             responses={429: {"description": "Too many wrong current passwords: wait (Retry-After)"}})
def change_password(body: PasswordChange, session: SessionDep, settings: SettingsDep, actor: CurrentActor,
                    client: ClientAddress) -> Response:
    """A new password for the signed-in user. Every token and page cookie issued before stops working,
    this request's token included: sign in again with the new password."""
    accounts.change_password(session=session, actor=actor, current_password=body.current_password,
                             new_password=body.new_password, settings=settings, client=client)
    return Response(status_code=204)


@router.post("/auth/logout", dependencies=[allow("me")], status_code=204)
def sign_out(session: SessionDep, actor: CurrentActor) -> Response:
    """Sign out everywhere: every token and page cookie of the user issued before stops working."""
    accounts.sign_out(session=session, username=actor.username)
    return Response(status_code=204)
