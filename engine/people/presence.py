"""Who is at work: officers' absences (with a delegate) and the days they marked themselves unavailable.

An absent or unavailable officer is given no new work (engine/cases/assignment.py asks :func:`away`). At an
absence's start the periodic job hands their open tasks to the delegate or back to the rule
(engine/cases/distribution.py). Sign-in never depends on any of it. Every change goes on the officer's own
record (engine/people/user_events.py), in the change's transaction.

Days are the installation's calendar days (``SHUBBAK_DISPLAY_TIMEZONE``); an absence includes both its days.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.core import clock, nodes
from engine.core.errors import Conflict, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import policy, user_events
from engine.people.users import BUILTIN_ROLES, Actor
from storage.db import write_lock
from storage.models.assignment import Absence, Unavailable
from storage.models.base import tables
from storage.models.people import User

_ABSENCES, _UNAVAILABLE = tables(Absence, Unavailable)


def today(settings: Settings, moment: datetime | None = None) -> date:
    """The installation's calendar day at ``moment`` (now)."""
    return (moment or clock.now()).astimezone(ZoneInfo(settings.display_timezone)).date()


def lanes_of(roles: Iterable[str]) -> set[str]:
    """The lanes among a user's roles (a lane is any role that is not a built-in one; the front desk's is one)."""
    return set(roles) - BUILTIN_ROLES


def away(conn: Connection, usernames: Iterable[str], day: date) -> set[str]:
    """Those of ``usernames`` absent on ``day`` or who marked themselves unavailable for it."""
    names = sorted(set(usernames))
    if not names:
        return set()
    absent = conn.execute(core_select(_ABSENCES.c.username).where(
        _ABSENCES.c.username.in_(names), _ABSENCES.c.starts <= day, _ABSENCES.c.ends >= day)).scalars()
    off = conn.execute(core_select(_UNAVAILABLE.c.username).where(
        _UNAVAILABLE.c.username.in_(names), _UNAVAILABLE.c.day == day)).scalars()
    return set(absent) | set(off)


def _user(session: Session, username: str) -> User:
    user = session.exec(select(User).where(col(User.username) == username)).first()
    if user is None:
        raise NotFound("presence.no_user", username=username)
    return user


def officer(session: Session, actor: Actor, username: str) -> User:
    """The officer ``username``, if the policy lets the actor manage their presence (engine/people/policy.py)."""
    user = _user(session, username)
    policy.check_presence(session, actor, username, user.center_id)
    return user


def add_absence(*, session: Session, username: str, starts: date, ends: date, delegate: str | None,
                actor: Actor, settings: Settings) -> tuple[Absence, bool]:
    """Record that ``username`` is away from ``starts`` to ``ends``; (the absence, whether it is new).

    The same absence sent again (a retried request) is answered with the one recorded, not a second one.
    Refusals: NotFound (no such officer), Forbidden (engine/people/policy.py ``check_presence``), Invalid (the
    days are backwards, in the past or too many; the delegate is unknown, the officer themselves, of no lane
    of the officer's, or of another center), Conflict (it overlaps another absence of theirs)."""
    user = officer(session, actor, username)
    first_day = today(settings)
    if ends < starts:
        raise Invalid("presence.days_invalid", [problem("to", "presence.ends_before_start", loc=["body", "to"])])
    if ends < first_day:
        raise Invalid("presence.days_invalid", [problem("to", "presence.in_the_past", loc=["body", "to"])])
    if (ends - starts).days + 1 > settings.absence_max_days:
        raise Invalid("presence.days_invalid", [problem("to", "presence.too_long", loc=["body", "to"],
                                                        days=settings.absence_max_days)])
    if delegate is not None:
        _check_delegate(session, user, delegate)
    with write_lock(session):
        # The officer's row is the lock of their absences (PostgreSQL: FOR UPDATE; SQLite: the one writer):
        # two requests at once never both find no overlap and both insert.
        session.rollback()
        session.exec(select(User.id).where(col(User.id) == user.id).with_for_update()).one()
        same = session.exec(select(Absence).where(col(Absence.username) == username, col(Absence.starts) <= ends,
                                                  col(Absence.ends) >= starts)).all()
        for found in same:
            if found.starts == starts and found.ends == ends and found.delegate == delegate:
                return found, False
        if same:
            raise Conflict("presence.overlaps", starts=str(same[0].starts), ends=str(same[0].ends))
        absence = Absence(username=username, starts=starts, ends=ends, delegate=delegate,
                          created_by=actor.username, created_at=clock.now())
        session.add(absence)
        try:
            session.flush()
            user_events.add(session, user, actor=actor.username, kind="absence_recorded",
                            data={"absence_id": absence.id, "from": str(starts), "to": str(ends),
                                  "delegate": delegate})
            session.commit()
        except IntegrityError as exc:
            # Another writer got there first, past the lock (SQLite files shared by processes): the unique
            # (officer, first day) or the officer's record's next number refused this one.
            session.rollback()
            raise Conflict("presence.overlaps", starts=str(starts), ends=str(ends)) from exc
    return absence, True


def _check_delegate(session: Session, user: User, delegate: str) -> None:
    where: list[str | int] = ["body", "delegate"]
    other = session.exec(select(User).where(col(User.username) == delegate)).first()
    if other is None or not other.active:
        raise Invalid("presence.delegate_invalid", [problem("delegate", "presence.no_delegate", loc=where,
                                                            delegate=delegate)])
    if other.username == user.username:
        raise Invalid("presence.delegate_invalid", [problem("delegate", "presence.delegate_self", loc=where)])
    if not lanes_of(user.roles) & lanes_of(other.roles):
        raise Invalid("presence.delegate_invalid", [problem("delegate", "presence.delegate_other_lane", loc=where,
                                                            delegate=delegate)])
    if other.center_id != user.center_id:
        raise Invalid("presence.delegate_invalid", [problem("delegate", "presence.delegate_other_center",
                                                            loc=where, delegate=delegate)])


def absences_of(*, session: Session, username: str, actor: Actor, settings: Settings) -> list[Absence]:
    """The officer's absences that have not ended, earliest first."""
    officer(session, actor, username)
    return list(session.exec(select(Absence).where(col(Absence.username) == username,
                                                   col(Absence.ends) >= today(settings))
                             .order_by(col(Absence.starts), col(Absence.id))).all())


def cancel_absence(*, session: Session, username: str, absence_id: int, actor: Actor) -> Absence:
    """Cancel one of the officer's absences; the absence as it was (detached). The tasks it handed over are
    given back by the caller (engine/cases/distribution.py ``cancel_absence``)."""
    user = officer(session, actor, username)
    absence = session.get(Absence, absence_id)
    if absence is None or absence.username != username:
        raise NotFound("presence.no_absence", absence_id=absence_id)
    session.expunge(absence)
    with write_lock(session):
        session.execute(delete(Absence).where(col(Absence.id) == absence_id))
        user_events.add(session, user, actor=actor.username, kind="absence_cancelled",
                        data={"absence_id": absence_id, "from": str(absence.starts), "to": str(absence.ends)})
        session.commit()
    return absence


def set_available(*, session: Session, actor: Actor, available: bool, settings: Settings) -> bool:
    """Mark the signed-in officer available or not for today; what they are now."""
    user = _user(session, actor.username)
    day = today(settings)
    was_off = session.get(Unavailable, (actor.username, day)) is not None
    if was_off == (not available):
        return available  # already so: a retried request changes nothing
    if available:
        session.execute(delete(Unavailable).where(col(Unavailable.username) == actor.username,
                                                  col(Unavailable.day) == day))
    else:
        session.add(Unavailable(username=actor.username, day=day, set_at=clock.now()))
    if not nodes.is_center(session):
        # A center node writes none of the users' chains (central's rows, storage/nodes.py): there the day's row,
        # the node's own (LOCAL, never replicated: it gives out that node's tasks only), is the whole record.
        user_events.add(session, user, actor=actor.username, kind="availability_set",
                        data={"day": str(day), "available": available})
    session.commit()
    return available


def is_available(*, session: Session, actor: Actor, settings: Settings) -> bool:
    return session.get(Unavailable, (actor.username, today(settings))) is None
