"""Dependencies shared by the routers: the settings, a database session, the signed-in actor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from engine import documents
from engine.errors import Forbidden, Unauthorized
from engine.settings import Settings
from engine.users import Actor, actor_from_token
from storage.db import engine_for
from storage.documents import ObjectStore

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


async def get_settings(request: Request) -> Settings:
    # async: a plain attribute read, not worth a trip to the thread pool on every request.
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(settings: SettingsDep) -> AsyncIterator[Session]:
    # Making a session touches no database (it connects when first used, in the endpoint's thread), so it is
    # made on the event loop; closing it may return a connection to the pool (a rollback): that goes to the
    # thread pool, unless the session never connected. One thread hop per request instead of two.
    session = Session(engine_for(settings.database_url), expire_on_commit=False)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def get_store(settings: SettingsDep) -> ObjectStore:
    return documents.store_for(settings)


StoreDep = Annotated[ObjectStore, Depends(get_store)]


def current_actor(session: SessionDep, settings: SettingsDep,
                  token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    if not token:
        raise Unauthorized("sign in first: send 'Authorization: Bearer <token>'")
    return actor_from_token(session=session, token=token, settings=settings)


CurrentActor = Annotated[Actor, Depends(current_actor)]


def optional_actor(session: SessionDep, settings: SettingsDep,
                   token: Annotated[str | None, Depends(oauth2)]) -> Actor | None:
    """The signed-in actor on a route that also answers the public; None when no token is sent (a bad one is 401)."""
    return actor_from_token(session=session, token=token, settings=settings) if token else None


OptionalActor = Annotated[Actor | None, Depends(optional_actor)]


def require(*roles: str):  # type: ignore[no-untyped-def]
    """A dependency that lets through only actors holding one of ``roles`` (declared on the route)."""

    def check(actor: CurrentActor) -> Actor:
        if not actor.has(*roles):
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
        return actor

    return Depends(check)
