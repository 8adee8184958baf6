"""Service categories and counters: what the kiosk offers and which windows call which tickets.

A migration seeds a usual list (civil registry, permits, traffic, utilities, complaints; three windows);
administrators change it with ``save_category`` / ``save_counter`` (``PUT /api/queue/...``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from engine.core.errors import Invalid, NotFound
from engine.core.refusals import problem
from engine.people import policy
from engine.people.users import Actor
from storage.db import write_lock
from storage.models.centers import Center
from storage.models.queue import QueueCategory, QueueCounter

_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_LETTER = re.compile(r"^[A-Z]{1,3}$")
#: The largest number the database's integer columns hold: a counter number beyond it names no counter.
NUMBER_MAX = 2**31 - 1


def valid_number(number: int) -> bool:
    return 1 <= number <= NUMBER_MAX


def categories(session: Session, *, active_only: bool = True) -> Sequence[QueueCategory]:
    query = select(QueueCategory).order_by(col(QueueCategory.position), col(QueueCategory.id))
    if active_only:
        query = query.where(col(QueueCategory.active).is_(True))
    return session.exec(query).all()


def category(session: Session, code: str, *, field: str = "category") -> QueueCategory:
    """An active category; an unknown or retired one is bad input (422), named after ``field``."""
    found = session.exec(select(QueueCategory).where(QueueCategory.code == code)).first()
    if found is None or not found.active:
        raise Invalid("queue.unknown_category", [problem(field, "queue.no_active_category", code=code)])
    return found


def same_center(column: Any, center_id: int | None) -> ColumnElement[bool]:
    """Rows of ``center_id``; ``None`` is the installation without centers (or its rows with none)."""
    return col(column).is_(None) if center_id is None else col(column) == center_id


def center_id_of(session: Session, code: str | None) -> int | None:
    """The id of the center ``code`` (a kiosk's or a board's), None without one; 422 for an unknown code."""
    if not code:
        return None
    found = session.exec(select(Center.id).where(Center.code == code)).first()
    if found is None:
        raise Invalid("center.unknown",
                      [problem("center", "queue.no_center", code=code)])
    return found


def counters(session: Session, center_id: int | None = None) -> Sequence[QueueCounter]:
    """The windows of one center (of the installation without centers when ``center_id`` is None)."""
    return session.exec(select(QueueCounter).where(same_center(QueueCounter.center_id, center_id))
                        .order_by(col(QueueCounter.number))).all()


def counter(session: Session, number: int, center_id: int | None = None) -> QueueCounter:
    if not valid_number(number):
        raise NotFound("queue.no_counter", number=number)
    found = session.exec(select(QueueCounter).where(QueueCounter.number == number,
                                                    same_center(QueueCounter.center_id, center_id))).first()
    if found is None:
        raise NotFound("queue.no_counter", number=number)
    return found


def _admin(actor: Actor) -> None:
    policy.require(actor, "queue.configure")


def save_category(*, session: Session, code: str, letter: str, name_ar: str, name_en: str, services: list[str],
                  position: int = 0, active: bool = True, actor: Actor, weight: float | None = None,
                  walk_in: bool | None = None) -> QueueCategory:
    """Create or change the category ``code``. Its letter starts its tickets' numbers and must be its own.
    ``weight`` multiplies its tickets' effective wait and ``walk_in`` says whether the kiosk issues its
    tickets; left out, a category keeps its own (a new one: 1 and yes)."""
    _admin(actor)
    problems = []
    if weight is not None and not 0.1 <= weight <= 100:
        problems.append(problem("weight", "field.category_weight_range"))
    if not _CODE.match(code):
        problems.append(problem("code", "field.category_code_shape"))
    if not _LETTER.match(letter):
        problems.append(problem("letter", "field.category_letter_shape"))
    if not name_ar.strip() or not name_en.strip():
        problems.append(problem("name", "field.names_both_needed"))
    with write_lock(session):
        other = session.exec(select(QueueCategory).where(QueueCategory.letter == letter,
                                                         QueueCategory.code != code)).first()
        if other is not None:
            problems.append(problem("letter", "field.letter_taken", letter=letter, category=other.code))
        if problems:
            raise Invalid("queue.category_invalid", problems)
        row = session.exec(select(QueueCategory).where(QueueCategory.code == code)).first() or QueueCategory(
            code=code, letter=letter, name_ar=name_ar, name_en=name_en)
        row.letter, row.name_ar, row.name_en = letter, name_ar.strip(), name_en.strip()
        row.services, row.position, row.active = list(dict.fromkeys(services)), position, active
        row.weight = row.weight if weight is None else weight
        row.walk_in = row.walk_in if walk_in is None else walk_in
        session.add(row)
        session.commit()
        session.refresh(row)
    return row


def save_counter(*, session: Session, number: int, name: str, categories: list[str], open: bool = True,
                 actor: Actor, center_id: int | None = None) -> QueueCounter:
    """Create or change window ``number`` of ``center_id``: the categories it calls, and whether it is open
    (estimates count only open counters)."""
    _admin(actor)
    if not valid_number(number):
        raise Invalid("queue.counter_invalid", [problem("number", "field.counter_number_range", max=NUMBER_MAX)])
    if not name.strip():
        raise Invalid("queue.counter_invalid", [problem("name", "field.counter_needs_name")])
    for i, code in enumerate(categories):
        category(session, code, field=f"categories.{i}")
    with write_lock(session):
        row = session.exec(select(QueueCounter).where(QueueCounter.number == number, same_center(
            QueueCounter.center_id, center_id))).first() or QueueCounter(number=number, name=name, center_id=center_id)
        row.name, row.categories, row.open = name.strip(), list(dict.fromkeys(categories)), open
        session.add(row)
        session.commit()
        session.refresh(row)
    return row
