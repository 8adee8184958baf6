"""Service centers: the tree of governorates, cities and districts, and their holidays.

Centers form a tree: a governorate holds cities, a city holds districts. Cases take the center of the clerk who
opens them; tasks the center of their case. Who sees which center is the access policy's (engine/people/policy.py).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from engine.core.errors import Conflict, Invalid, NotFound
from engine.core.refusals import problem
from storage.models.base import table
from storage.models.centers import CENTER_LEVELS, Center
from storage.models.people import User

_PARENT_LEVEL = {"governorate": None, "city": "governorate", "district": "city"}


def tree(session: Session) -> dict[int | None, list[int]]:
    """Children of each center id (None: the top-level centers)."""
    children: dict[int | None, list[int]] = {}
    for cid, parent in session.exec(select(Center.id, Center.parent_id)).all():
        assert cid is not None
        children.setdefault(parent, []).append(cid)
    return children


def below(session: Session, center_id: int) -> set[int]:
    """The center and every center under it."""
    children = tree(session)
    found, todo = set(), [center_id]
    while todo:
        cid = todo.pop()
        if cid in found:
            continue
        found.add(cid)
        todo.extend(children.get(cid, []))
    return found


_CENTERS = table(Center)
_HOLIDAYS = core_select(_CENTERS.c.id, _CENTERS.c.parent_id, _CENTERS.c.holidays)


def holiday_map(conn: Connection) -> dict[int, frozenset[date]]:
    """Each center's holidays: its own and those of every center above it (one query for all centers)."""
    rows = {row.id: row for row in conn.execute(_HOLIDAYS)}
    found: dict[int, frozenset[date]] = {}
    for center_id in rows:
        days: set[date] = set()
        cid: int | None = center_id
        seen: set[int] = set()
        while cid is not None and cid in rows and cid not in seen:
            seen.add(cid)
            days.update(date.fromisoformat(d) for d in rows[cid].holidays or [])
            cid = rows[cid].parent_id
        found[center_id] = frozenset(days)
    return found


def holidays_of(conn: Connection, center_id: int | None) -> frozenset[date]:
    """The holidays a case or task of ``center_id`` keeps besides the installation's (none without a center)."""
    if center_id is None:
        return frozenset()
    return holiday_map(conn).get(center_id, frozenset())


def _dates(holidays: list[date] | list[str] | None) -> list[str]:
    problems, days = [], set()
    for value in holidays or []:
        try:
            days.add(value if isinstance(value, date) else date.fromisoformat(value))
        except ValueError:
            problems.append(problem("holidays", "field.not_a_date", value=value))
    if problems:
        raise Invalid("center.holidays_invalid", problems)
    return [d.isoformat() for d in sorted(days)]


def create_center(*, session: Session, code: str, name_ar: str, name_en: str, level: str,
                  parent_code: str | None = None, holidays: list[date] | list[str] | None = None) -> Center:
    """Add a center under ``parent_code`` (a governorate has none; a city sits in a governorate, a district
    in a city)."""
    problems = []
    code = code.strip()
    if not code:
        problems.append(problem("code", "field.required"))
    elif code.endswith("-N"):
        # What a center node's receipt series look like (engine/payments/receipts.py ``series``): CAI01-N is node
        # CAI01's, MAIN.CAI01-N its series for cases of no center. Central numbers a center's receipts under its
        # bare code, so a center coded so would share a node's numbers, and the two would meet when they replicate.
        problems.append(problem("code", "field.center_code_reserved"))
    if level not in CENTER_LEVELS:
        problems.append(problem("level", "field.one_of", choices=", ".join(CENTER_LEVELS)))
    if not name_ar.strip() or not name_en.strip():
        problems.append(problem("name", "field.names_both_languages"))
    if problems:
        raise Invalid("center.details_invalid", problems)
    parent = None
    if parent_code is not None:
        parent = session.exec(select(Center).where(col(Center.code) == parent_code)).first()
        if parent is None:
            raise NotFound("center.parent_not_found", parent_code=parent_code)
    if (parent.level if parent else None) != _PARENT_LEVEL[level]:
        raise Invalid("center.wrong_parent_level",
                      [problem("parent_code", "field.center_level_parent", level=level,
                               parent=_PARENT_LEVEL[level] or "no center")])
    if session.exec(select(Center.id).where(col(Center.code) == code)).first() is not None:
        raise Conflict("center.exists", code=code)
    center = Center(code=code, name_ar=name_ar.strip(), name_en=name_en.strip(), level=level,
                    parent_id=parent.id if parent else None, holidays=_dates(holidays))
    session.add(center)
    session.commit()
    session.refresh(center)
    return center


def by_code(session: Session, code: str) -> Center:
    center = session.exec(select(Center).where(col(Center.code) == code)).first()
    if center is None:
        raise NotFound("center.not_found", code=code)
    return center


def list_centers(session: Session) -> list[Center]:
    return list(session.exec(select(Center).order_by(col(Center.id))).all())


def set_user_center(*, session: Session, username: str, center_code: str | None,
                    installation_wide: bool = False) -> User:
    """Move a user to a center, or (``installation_wide``, on purpose) to none: every center. Their next
    request sees the change."""
    if (center_code is None) != installation_wide:
        raise Invalid("center.user_needs_center",
                      [problem("center", "field.center_or_installation_wide")])
    user = session.exec(select(User).where(col(User.username) == username)).first()
    if user is None:
        raise NotFound("center.no_user", username=username)
    user.center_id = by_code(session, center_code).id if center_code is not None else None
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def set_holidays(*, session: Session, code: str, holidays: list[date] | list[str]) -> Center:
    """Replace a center's own holidays. Due times computed from now on count them; stored ones stay."""
    center = by_code(session, code)
    center.holidays = _dates(holidays)
    session.add(center)
    session.commit()
    session.refresh(center)
    return center
