"""Users, roles, passwords and bearer tokens.

Built-in roles: ``admin`` (users and processes), ``analyst`` (processes), ``supervisor`` (reads the cases of
their centers, cancels), ``auditor`` (reads the cases of their centers and their events, changes nothing),
``cashier`` (takes the payments of the bills of their centers: engine/payments/).
Every other role is a lane name: holding it lets a user act on the user tasks drawn in that lane. What each
may do is the access policy's (engine/people/policy.py).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from engine.core import nodes, throttle
from engine.core.errors import Conflict, Invalid, NotFound, Unauthorized
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.core.throttle import Rule, Throttled
from engine.people import user_events
from storage.models.accounts import NodeSignOut
from storage.models.base import table
from storage.models.people import User

BUILTIN_ROLES = frozenset({"admin", "analyst", "supervisor", "auditor", "cashier"})
#: The lane of tasks the citizen does from the public pages; no staff role is given it.
CITIZEN_LANE = "citizen"
#: Who the audit trail names for the citizen's own answers.
CITIZEN_ACTOR = "citizen"
_ROLE = re.compile(r"^[^\s,][^,]{0,99}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")



@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int) -> tuple[PasswordHasher, str]:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    # Verifying against a dummy hash keeps a login for an unknown user as slow as a wrong password.
    return hasher, hasher.hash("not-a-password")


def hasher_for(settings: Settings) -> tuple[PasswordHasher, str]:
    return _hasher(settings.password_time_cost, settings.password_memory_kib)


@dataclass(frozen=True)
class Actor:
    """Who is acting: enough to decide permissions without another query."""

    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    full_name: str = ""
    # The service center the user works at (engine/people/centers.py); None = installation-wide staff (every center).
    center_id: int | None = None

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


SYSTEM = Actor("system", frozenset({"system"}), "Shubbak")


def password_problems(password: str, *, username: str, settings: Settings,
                      field_name: str = "password") -> list[dict[str, Any]]:
    """What is wrong with ``password`` as a new password (the strength rules of the settings); empty when fine."""
    problems = []
    if len(password) < settings.password_min_chars:
        problems.append(problem(field_name, "users.password_min", count=settings.password_min_chars))
    if len(password) > settings.password_max_chars:
        problems.append(problem(field_name, "users.password_max", count=settings.password_max_chars))
    if len(set(password)) < settings.password_min_distinct_chars:
        problems.append(problem(field_name, "users.password_distinct", count=settings.password_min_distinct_chars))
    if username and username.casefold() in password.casefold():
        problems.append(problem(field_name, "users.password_has_username"))
    return problems


def hash_password(password: str, settings: Settings) -> str:
    return hasher_for(settings)[0].hash(password)


def create_user(*, session: Session, username: str, password: str, full_name: str, roles: list[str],
                settings: Settings, center_id: int | None = None, installation_wide: bool = False,
                actor: Actor = SYSTEM) -> User:
    """Add a user who works at ``center_id``, or, only when ``installation_wide`` says so on purpose, one who
    sees every center (engine/people/policy.py): forgetting the center must not open every center's cases."""
    problems = []
    if center_id is None and not installation_wide:
        problems.append(problem("center", "users.center_needed"))
    if center_id is not None and installation_wide:
        problems.append(problem("center", "users.center_or_installation_wide"))
    if not _USERNAME.match(username):
        problems.append(problem("username", "users.username_shape"))
    problems += password_problems(password, username=username, settings=settings)
    if not full_name.strip():
        problems.append(problem("full_name", "users.required"))
    bad_roles = [r for r in roles if not _ROLE.match(r)]
    if bad_roles:
        problems.append(problem("roles", "users.bad_role_names", roles=bad_roles))
    if problems:
        raise Invalid("users.details_invalid", problems)
    if session.exec(select(User.id).where(User.username == username)).first() is not None:
        raise Conflict("users.username_taken", username=username)
    user = User(username=username, full_name=full_name.strip(), password_hash=hash_password(password, settings),
                roles=sorted(set(roles)), center_id=center_id)
    session.add(user)
    try:
        session.flush()
        user_events.add(session, user, actor=actor.username, kind="created",
                        data={"full_name": user.full_name, "roles": user.roles, "center_id": center_id})
        session.commit()
    except IntegrityError as exc:  # two admins creating the same username at once
        session.rollback()
        raise Conflict("users.username_taken", username=username) from exc
    return user


def valid_role(role: str) -> bool:
    return _ROLE.match(role) is not None


class TooManyLogins(Throttled):
    """Too many wrong passwords for one username, or from one address: wait ``retry_after`` seconds."""


def login_rules(settings: Settings) -> tuple[Rule, Rule]:
    """(per username, per client address): slowed with a growing delay, never locked for good."""
    window = settings.login_window_seconds
    return (Rule("login-user", settings.login_free_failures, window, settings.login_base_delay_seconds,
                 settings.login_user_max_delay_seconds),
            Rule("login-address", settings.login_address_free_failures, window, settings.login_base_delay_seconds,
                 settings.login_address_max_delay_seconds))


def authenticate(*, session: Session, username: str, password: str, settings: Settings,
                 client: str | None = None) -> User:
    """The user whose password this is; Unauthorized otherwise, TooManyLogins while the username or the client
    address must wait after repeated failures (nothing is checked meanwhile, so waiting costs the guesser)."""
    by_user, by_address = login_rules(settings)
    # A name no user can have is never stored nor looked up: it counts against the address only.
    plausible = _USERNAME.match(username) is not None
    pairs = ([(by_user, username)] if plausible else []) + ([(by_address, client)] if client else [])
    if pairs:
        throttle.check(settings, "users.too_many_wrong_passwords", *pairs, error=TooManyLogins)
    hasher, dummy = hasher_for(settings)
    user = session.exec(select(User).where(User.username == username)).first() if plausible else None
    if user is None or not user.active or not verify_password(hasher, user.password_hash, password[:_MAX_VERIFIED]):
        if user is None or not user.active:
            verify_password(hasher, dummy, password[:_MAX_VERIFIED])
        throttle.fail(settings, *pairs)
        raise Unauthorized("users.wrong_username_or_password")
    if plausible:
        throttle.forget(settings, (by_user, username))
    return user


# No password longer than this can be set; a longer one is cut before hashing, so a megabyte costs no more.
_MAX_VERIFIED = 4096


def verify_password(hasher: PasswordHasher, hashed: str, password: str) -> bool:
    try:
        return hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(user: User, settings: Settings, version: int | None = None) -> str:
    """A bearer token carrying the user's session version (``version``: the node's, ``session_version``, when it
    is not the row's): raising the version ends it (and every other)."""
    now = datetime.now(UTC)
    claims = {"sub": user.username, "sv": user.session_version if version is None else version, "iat": now,
              "exp": now + timedelta(minutes=settings.token_minutes)}
    if settings.node_center is not None:
        # A center node's version is central's plus its own sign-outs: the same number names another moment at
        # central or at another node, so its tokens are its own (one without ``nd`` is central's or a single
        # node's, good at a center node only while the user never signed out there: actor_from_token).
        claims["nd"] = settings.node_center
    return jwt.encode(claims, settings.signing_secret, algorithm="HS256")


# Tokens whose signature was checked, with their claims: (the key that signed them, the claims). Checking an
# HMAC is most of a token's cost; the same string signed by the same key always checks the same, and what can
# change (expiry, the user's row) is checked on every use below. Bounded: emptied when full.
_CHECKED: dict[str, tuple[str, dict[str, Any]]] = {}


def _claims(token: str, settings: Settings) -> dict[str, Any]:
    secret = settings.signing_secret
    found = _CHECKED.get(token)
    if found is not None and found[0] == secret:
        claims = found[1]
        if claims["exp"] <= time.time():  # as PyJWT judges it (no leeway)
            raise Unauthorized("users.token_invalid")
        return claims
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "exp", "sv"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized("users.token_invalid") from exc
    if settings.token_cache_size > 0:
        if len(_CHECKED) >= settings.token_cache_size:
            _CHECKED.clear()
        _CHECKED[token] = (secret, claims)
    return claims


def actor_from_token(*, session: Session, token: str, settings: Settings) -> Actor:
    claims = _claims(token, settings)
    # One indexed lookup per request, the same one that reads the roles: the version check costs nothing more.
    row = session.connection().execute(_ACTOR_BY_NAME, {"username": claims["sub"]}).first()
    if row is None or not row.active:
        raise Unauthorized("users.token_user_gone")
    local = signed_out_here(session, row.username)
    node = claims.get("nd")
    if node == settings.node_center:  # signed in on this node
        expected = row.session_version + local
    elif node is None and local == 0:
        # Central's token at a center node where the user never signed out: its version is central's alone.
        expected = row.session_version
    else:  # another node's (its version counts that node's sign-outs), or central's after a sign-out here
        raise Unauthorized("users.token_invalid")
    if expected != claims["sv"]:
        raise Unauthorized("users.session_ended")
    return Actor(username=row.username, roles=frozenset(row.roles), full_name=row.full_name,
                 center_id=row.center_id)


_USERS = table(User)
# Every request runs this: a prepared Core query, no ORM object.
_ACTOR_BY_NAME = core_select(_USERS.c.username, _USERS.c.roles, _USERS.c.active, _USERS.c.full_name,
                             _USERS.c.center_id, _USERS.c.session_version).where(
    _USERS.c.username == bindparam("username"))


_SIGN_OUTS = table(NodeSignOut)
_SIGNED_OUT = core_select(_SIGN_OUTS.c.sign_outs).where(_SIGN_OUTS.c.username == bindparam("username"))


def session_version(session: Session, username: str, version: int) -> int:
    """The user's session version on this node, from their row's ``version``: the same on central or a single
    node; on a center node, which does not write the users' rows (central's), the row's plus the sign-outs it
    counted itself (storage/models/accounts.py NodeSignOut). Both only rise: a raise on either side ends every
    token and cookie issued before."""
    return version + signed_out_here(session, username)


def signed_out_here(session: Session, username: str) -> int:
    """How many times the user signed out on this center node (0 on central and on a single node)."""
    if not nodes.is_center(session):
        return 0
    return int(session.connection().execute(_SIGNED_OUT, {"username": username}).scalar() or 0)


def actor_of(user: User) -> Actor:
    return Actor(username=user.username, roles=frozenset(user.roles), full_name=user.full_name,
                 center_id=user.center_id)


LANGUAGES = ("ar", "en")
CALENDARS = ("gregory", "islamic")


def set_preferences(*, session: Session, username: str, language: str | None = None,
                    calendar: str | None = None) -> User:
    """Remember the language and calendar a user reads the pages in."""
    problems = []
    if language is not None and language not in LANGUAGES:
        problems.append(problem("language", "users.one_of", choices=", ".join(LANGUAGES)))
    if calendar is not None and calendar not in CALENDARS:
        problems.append(problem("calendar", "users.one_of", choices=", ".join(CALENDARS)))
    if problems:
        raise Invalid("users.preferences_invalid", problems)
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound("users.no_user", username=username)
    if language is not None:
        user.language = language
    if calendar is not None:
        user.calendar = calendar
    session.add(user)
    session.commit()
    return user
