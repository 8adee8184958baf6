"""A user's life after creation: listed, changed, deactivated, a password reset or changed, signed out.

Every change is one transaction that also appends an event to the user's own chain (engine/people/user_events.py).
Deactivating a user, setting a new password and signing out raise the user's ``session_version``: every token
and page cookie issued before carries the old number and is refused on its next request, in every API process,
because each request already reads the user's row (engine/people/users.py ``actor_from_token``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.core import clock, nodes, throttle
from engine.core.errors import Conflict, Invalid, NotFound, Unauthorized
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import centers, user_events
from engine.people.users import (
    Actor,
    hash_password,
    hasher_for,
    login_rules,
    password_problems,
    valid_role,
    verify_password,
)
from storage.db import write_lock
from storage.models.accounts import NodeSignOut, UserEvent
from storage.models.people import User

# What an admin may change; ``center_code`` None means "no center" (installation-wide staff).
EDITABLE = ("active", "roles", "center_code", "installation_wide", "full_name", "password")


def by_username(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username[:64])).first()
    if user is None:
        raise NotFound("users.no_user", username=username[:64])
    return user


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    total: int


def list_users(session: Session, *, role: str | None = None, center_code: str | None = None,
               active: bool | None = None, limit: int, offset: int = 0) -> UserPage:
    """Users by username, filtered by a role they hold, their center's code and whether they are active."""
    query = select(User)
    if active is not None:
        query = query.where(User.active == active)
    if center_code is not None:
        query = query.where(User.center_id == centers.by_code(session, center_code).id)
    rows = list(session.exec(query.order_by(col(User.username))).all())
    if role is not None:  # roles are a JSON list: filtered here, which stays cheap for a center's staff
        rows = [u for u in rows if role in u.roles]
    return UserPage(rows[offset:offset + limit], len(rows))


def _other_active_admins(session: Session, user: User) -> int:
    admins = session.exec(select(User).where(User.active == True, User.id != user.id)).all()  # noqa: E712
    return sum(1 for u in admins if "admin" in u.roles)


def update_user(*, session: Session, username: str, changes: dict[str, Any], actor: Actor,
                settings: Settings) -> User:
    """An admin's change to a user: any of ``EDITABLE``. One audited event lists each changed field's old and new
    value (a password only as "reset"). Deactivating or a new password ends the user's sessions at once."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise Invalid("users.fields_not_changeable", [
            problem(name, "users.not_changeable") for name in unknown])
    user = by_username(session, username)
    problems: list[dict[str, Any]] = []
    new: dict[str, Any] = {}
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            problems.append(problem("active", "users.true_or_false"))
        new["active"] = changes["active"]
    if "full_name" in changes:
        name = changes["full_name"]
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
            problems.append(problem("full_name", "users.full_name_length"))
        else:
            new["full_name"] = name.strip()
    if "roles" in changes:
        roles = changes["roles"]
        if not isinstance(roles, list) or not all(isinstance(r, str) and valid_role(r) for r in roles):
            problems.append(problem("roles", "users.role_list"))
        else:
            new["roles"] = sorted(set(roles))
    if "center_code" in changes:
        code = changes["center_code"]
        # No center means every center (engine/people/policy.py): only on purpose, as when the user is created.
        if code is None and user.center_id is None:
            pass  # already installation-wide: nothing changes
        elif code is None and changes.get("installation_wide") is not True:
            problems.append(problem("center", "users.no_center_on_purpose"))
        elif code is not None and changes.get("installation_wide") is True:
            problems.append(problem("center", "users.center_or_installation_wide"))
        else:
            new["center_id"] = None if code is None else centers.by_code(session, str(code)).id
    elif changes.get("installation_wide") is not None:
        problems.append(problem("installation_wide", "users.installation_wide_with_null"))
    password = changes.get("password")
    if "password" in changes:
        if not isinstance(password, str):
            problems.append(problem("password", "users.new_password"))
        else:
            problems += password_problems(password, username=user.username, settings=settings)
    if problems:
        raise Invalid("users.changes_invalid", problems)

    losing_admin = "admin" in user.roles and user.active and (
        new.get("active") is False or ("roles" in new and "admin" not in new["roles"]))
    if losing_admin and user.username == actor.username:
        raise Conflict("users.cannot_demote_yourself")
    if losing_admin and _other_active_admins(session, user) == 0:
        raise Conflict("users.last_admin")

    diff = {field: {"from": getattr(user, field), "to": value} for field, value in new.items()
            if getattr(user, field) != value}
    ends_sessions = diff.get("active", {}).get("to") is False or password is not None
    for field, change in diff.items():
        setattr(user, field, change["to"])
    if password is not None:
        user.password_hash = hash_password(password, settings)
    if ends_sessions:
        user.session_version += 1
    if not diff and password is None:
        return user  # nothing changed: nothing to record
    session.add(user)
    if diff:
        user_events.add(session, user, actor=actor.username, kind="updated", data={"changes": diff})
    if password is not None:
        user_events.add(session, user, actor=actor.username, kind="password_reset")
    session.commit()
    return user


def change_password(*, session: Session, actor: Actor, current_password: str, new_password: str,
                    settings: Settings, client: str | None = None) -> User:
    """The signed-in user sets a new password, proving the current one. Wrong current passwords count like
    wrong sign-ins (this is no side door for guessing). Ends every other session of the user."""
    nodes.require_central(session)  # the users' rows are central's: a new password is set there
    user = by_username(session, actor.username)
    by_user, by_address = login_rules(settings)
    pairs = [(by_user, user.username)] + ([(by_address, client)] if client else [])
    throttle.check(settings, "users.too_many_wrong_passwords", *pairs)
    if not verify_password(hasher_for(settings)[0], user.password_hash, current_password[:4096]):
        throttle.fail(settings, *pairs)
        raise Unauthorized("users.current_password_wrong")
    problems = password_problems(new_password, username=user.username, settings=settings,
                                 field_name="new_password")
    if new_password == current_password:
        problems.append(problem("new_password", "users.password_unchanged"))
    if problems:
        raise Invalid("users.new_password_invalid", problems)
    user.password_hash = hash_password(new_password, settings)
    user.session_version += 1
    session.add(user)
    user_events.add(session, user, actor=actor.username, kind="password_changed")
    session.commit()
    return user


def sign_out(*, session: Session, username: str, actor: str | None = None) -> User:
    """End every token and page cookie the user holds (all devices): raise the session version. ``actor`` is
    who did it when not the user themselves (the command line)."""
    user = by_username(session, username)
    if nodes.is_center(session):
        # The users' rows are central's (storage/nodes.py): counted here, on this node only, and added to the
        # row's version wherever a token or a cookie is checked (engine/people/users.py ``session_version``).
        _count_sign_out(session, user.username)
        return user
    user.session_version += 1
    session.add(user)
    user_events.add(session, user, actor=actor or username, kind="signed_out")
    session.commit()
    return user


def _count_sign_out(session: Session, username: str) -> None:
    with write_lock(session):
        row = session.exec(select(NodeSignOut).where(NodeSignOut.username == username).with_for_update()).first()
        if row is None:
            session.add(NodeSignOut(username=username, sign_outs=1, at=clock.now()))
        else:
            row.sign_outs += 1
            row.at = clock.now()
            session.add(row)
        try:
            session.commit()
        except IntegrityError:  # two first sign-outs at once: the other one's row is there now
            session.rollback()
            _count_sign_out(session, username)


def events(session: Session, username: str, *, limit: int, offset: int = 0) -> tuple[list[UserEvent], int]:
    user = by_username(session, username)
    assert user.id is not None
    total = session.exec(select(func.count()).select_from(UserEvent).where(UserEvent.user_id == user.id)).one()
    return user_events.of_user(session, user.id, limit=limit, offset=offset), int(total)
