"""The dependencies of both faces, the API's routes and the pages alike: the settings (``SettingsDep``, or
``settings_of(request)`` where there is only the request), one database session per request (``SessionDep``),
the signed-in actor, and ``allow``, the access policy's gate."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from api import observability
from engine.cases import documents
from engine.citizen import signin
from engine.core import nodes
from engine.core.client_address import client_address as address_of
from engine.core.errors import Unauthorized
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor, actor_from_token
from storage.db import session_for
from storage.documents import ObjectStore

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def settings_of(request: Request) -> Settings:
    """The app's settings, for code that has only the request (a page's helpers that render)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_settings(request: Request) -> Settings:
    """The settings as a dependency (``SettingsDep``): how a route of either face asks for them."""
    # async: a plain attribute read, not worth a trip to the thread pool on every request.
    return settings_of(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(request: Request) -> AsyncIterator[Session]:
    # Making a session touches no database (it connects when first used, in the endpoint's thread), so it is
    # made on the event loop; closing it may return a connection to the pool (a rollback): that goes to the
    # thread pool, unless the session never connected. One thread hop per request instead of two.
    # The settings are read from the request, not asked for as a dependency: the session is asked for by the
    # route, its gate and the actor's lookup, and FastAPI solves a dependency's own dependencies at each of them.
    session = session_for(settings_of(request).database_url)
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


def _signed_in(session: Session, settings: Settings, token: str | None) -> Actor | None:
    actor = actor_from_token(session=session, token=token, settings=settings) if token else None
    if actor is not None:
        observability.note_user(actor.username)
    return actor


_NOT_YET = object()


async def optional_actor(request: Request, session: SessionDep, settings: SettingsDep,
                         token: Annotated[str | None, Depends(oauth2)]) -> Actor | None:
    """The signed-in actor on a route that also answers the public; None when no token is sent (a bad one is 401).

    A route's gate (``allow`` below) runs first and has read the actor already, in its own trip to the thread
    pool: that one is answered here. Else the token is checked here, in one trip of its own."""
    found = getattr(request.state, "actor", _NOT_YET)
    if found is not _NOT_YET:
        return cast("Actor | None", found)
    return await run_in_threadpool(_signed_in, session, settings, token)


OptionalActor = Annotated[Actor | None, Depends(optional_actor)]


async def current_actor(request: Request) -> Actor:
    """The signed-in actor of a staff route: its gate (``allow`` below) read the token, the user and the policy's
    rows in its own trip to the thread pool, before anything else of the request, and left the actor on the
    request. Every route that takes ``CurrentActor`` declares such a gate (tests/api/test_assembly.py); one that
    did not would find no actor here and answer 401, never serve an unchecked caller."""
    actor = getattr(request.state, "actor", None)
    if not isinstance(actor, Actor):
        raise Unauthorized("api.sign_in_first")
    return actor


async def client_address(request: Request, settings: SettingsDep) -> str:
    """The caller's address; X-Forwarded-For believed only from SHUBBAK_TRUSTED_PROXIES
    (engine/core/client_address.py)."""
    return address_of(request.client.host if request.client else None,
                      request.headers.getlist("x-forwarded-for"), settings.trusted_proxies)


ClientAddress = Annotated[str, Depends(client_address)]


async def citizen_phone(request: Request) -> str:
    """The phone of the citizen the route's gate (``allow`` of a citizen's action) signed in."""
    phone = getattr(request.state, "citizen_phone", None)
    if not isinstance(phone, str):
        raise Unauthorized("citizen.sign_in_first")
    return phone


CitizenPhone = Annotated[str, Depends(citizen_phone)]


async def citizen_national_id(request: Request) -> str | None:
    """The national ID the signed-in citizen added to their token (engine/citizen/signin.py), None when not."""
    nid = getattr(request.state, "citizen_national_id", None)
    return nid if isinstance(nid, str) else None


CitizenNationalId = Annotated[str | None, Depends(citizen_national_id)]



CurrentActor = Annotated[Actor, Depends(current_actor)]


def _declared(gate: Callable[..., Any], action: str) -> Any:
    """``Depends(gate)``, with the action it declares where tests/api/test_policy_matrix.py reads it."""
    gate.policy_action = action  # type: ignore[attr-defined]
    return Depends(gate)


def allow(action: str) -> Any:
    """Declare the route's action in the access policy (engine/people/policy.py) and check it before the route reads
    its input: the roles, and the center and lane of the case or task its path names. Every route declares
    one; tests/api/test_policy_matrix.py reads the declarations from the app's route table."""
    rule = policy.rule(action)  # an action the policy does not know stops the app from being built
    if policy.SCRAPER in rule.who:
        async def scraper() -> None:
            """Not a user's action: the route checks the scraper's own token, or loopback (api/metrics.py)."""

        return _declared(scraper, action)
    if policy.OPEN311_APP in rule.who:
        async def application() -> None:
            """Not a user's action: the command checks the application's api_key (engine/citizen/open311_keys.py)."""

        return _declared(application, action)
    if policy.CITIZEN in rule.who:
        async def citizen(request: Request, settings: SettingsDep,
                          token: Annotated[str | None, Depends(oauth2)]) -> None:
            """A citizen's token (engine/citizen/signin.py), never a staff one: the phone it was issued to."""
            request.state.citizen_phone, request.state.citizen_national_id = signin.who_from_token(token, settings)

        return _declared(citizen, action)
    if policy.PUBLIC in rule.who:
        async def gate() -> None:
            """Anyone may: nothing to check and nothing opened (an open board's stream holds no session)."""

        return _declared(gate, action)

    async def guard(request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2)]) -> None:
        settings = settings_of(request)  # read here, not as a dependency: one fewer for FastAPI to solve

        def check() -> Actor:
            actor = _signed_in(session, settings, token)
            if actor is None:
                raise Unauthorized("api.sign_in_first")
            # The row the policy read stays referenced for the request: the command's own load of it is answered
            # from the session's identity map, not by a second statement.
            request.state.authorized = policy.authorize_path(session=session, actor=actor, action=action,
                                                             settings=settings, params=request.path_params)
            return actor

        # The token, the user's row and the policy's rows in one trip to the thread pool, not one each; the
        # route's actor (``CurrentActor``) is the one read here.
        request.state.actor = await run_in_threadpool(check)

    return _declared(guard, action)


def central_only() -> Any:
    """A route of what only central does (deploys, users, centers' set-up): refused on a center node before it reads
    its input, 409 ``node.central_only``, which says where to go (docs/center-nodes.md). The storage layer refuses
    the write anyway (storage/nodes.py); this says it first, whatever else is wrong with the request."""

    def at_central(request: Request) -> None:
        if settings_of(request).node_role == "center":
            raise nodes.CentralOnly("node.central_only")

    return Depends(at_central)
