"""Users, roles, passwords and bearer tokens.

Built-in roles: ``admin`` (users and processes), ``analyst`` (processes), ``supervisor`` (reads every case,
cancels), ``auditor`` (reads every case and its events, changes nothing). Every other role is a lane name:
holding it lets a user act on the user tasks drawn in that lane.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from engine.errors import Conflict, Invalid, NotFound, RateLimited, Unauthorized
from engine.settings import Settings
from engine.throttle import FailureWindow
from storage.models import User

BUILTIN_ROLES = frozenset({"admin", "analyst", "supervisor", "auditor"})
READ_ALL_ROLES = frozenset({"admin", "supervisor", "auditor"})
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
    # The service center the user works at (engine/centers.py); None = every center.
    center_id: int | None = None

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def reads_everything(self) -> bool:
        return bool(self.roles & READ_ALL_ROLES)


SYSTEM = Actor("system", frozenset({"system"}), "Shubbak")


def create_user(*, session: Session, username: str, password: str, full_name: str, roles: list[str],
                settings: Settings, center_id: int | None = None) -> User:
    problems = []
    if not _USERNAME.match(username):
        problems.append({"field": "username", "msg": "2 to 64 letters, digits or . _ @ -"})
    if len(password) < 8:
        problems.append({"field": "password", "msg": "at least 8 characters"})
    if not full_name.strip():
        problems.append({"field": "full_name", "msg": "required"})
    bad_roles = [r for r in roles if not _ROLE.match(r)]
    if bad_roles:
        problems.append({"field": "roles", "msg": f"not valid role names: {bad_roles}"})
    if problems:
        raise Invalid("the user's details are not valid", problems)
    if session.exec(select(User.id).where(User.username == username)).first() is not None:
        raise Conflict(f"the username '{username}' is taken")
    user = User(username=username, full_name=full_name.strip(), password_hash=hasher_for(settings)[0].hash(password),
                roles=sorted(set(roles)), center_id=center_id)
    session.add(user)
    try:
        session.commit()
    except IntegrityError as exc:  # two admins creating the same username at once
        session.rollback()
        raise Conflict(f"the username '{username}' is taken") from exc
    return user


login_failures = FailureWindow()


class TooManyLogins(RateLimited):
    """Too many wrong passwords for one username in the window."""


def authenticate(*, session: Session, username: str, password: str, settings: Settings) -> User:
    key = f"{settings.database_url}|{username}"  # per database, like every other in-memory cache here
    if login_failures.blocked(key, limit=settings.login_max_failures, window_seconds=settings.login_window_seconds):
        raise TooManyLogins("too many wrong passwords for this user; try again later")
    hasher, dummy = hasher_for(settings)
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        _verify(hasher, dummy, password)
        login_failures.fail(key)
        raise Unauthorized("wrong username or password")
    if not _verify(hasher, user.password_hash, password):
        login_failures.fail(key)
        raise Unauthorized("wrong username or password")
    login_failures.forget(key)
    return user


def _verify(hasher: PasswordHasher, hashed: str, password: str) -> bool:
    try:
        return hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(user: User, settings: Settings) -> str:
    now = datetime.now(UTC)
    claims = {"sub": user.username, "iat": now, "exp": now + timedelta(minutes=settings.token_minutes)}
    return jwt.encode(claims, settings.secret_key, algorithm="HS256")


def actor_from_token(*, session: Session, token: str, settings: Settings) -> Actor:
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=["HS256"], options={"require": ["sub", "exp"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized("the token is not valid or has expired") from exc
    row = session.connection().execute(_ACTOR_BY_NAME, {"username": claims["sub"]}).first()
    if row is None or not row.active:
        raise Unauthorized("the token's user no longer exists")
    return Actor(username=row.username, roles=frozenset(row.roles), full_name=row.full_name,
                 center_id=row.center_id)


def token_subject(token: str, settings: Settings) -> str | None:
    """The username a valid token was issued to, without reading the database; None for a bad token."""
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=["HS256"], options={"require": ["sub", "exp"]})
    except jwt.PyJWTError:
        return None
    return str(claims["sub"])


_USERS = User.__table__  # type: ignore[attr-defined]
# Every request runs this: a prepared Core query, no ORM object.
_ACTOR_BY_NAME = core_select(_USERS.c.username, _USERS.c.roles, _USERS.c.active, _USERS.c.full_name,
                             _USERS.c.center_id).where(
    _USERS.c.username == bindparam("username"))


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
        problems.append({"field": "language", "msg": f"one of: {', '.join(LANGUAGES)}"})
    if calendar is not None and calendar not in CALENDARS:
        problems.append({"field": "calendar", "msg": f"one of: {', '.join(CALENDARS)}"})
    if problems:
        raise Invalid("the preferences are not valid", problems)
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user '{username}'")
    if language is not None:
        user.language = language
    if calendar is not None:
        user.calendar = calendar
    session.add(user)
    session.commit()
    return user
