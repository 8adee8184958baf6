"""Issuing tickets and finding them by the number the citizen holds.

A ticket's number is its category's letter and its place in that category's day, ``P-014``: the sequence
starts again at 1 every day (the center's day, ``SHUBBAK_DISPLAY_TIMEZONE``) and never repeats within it,
because one row per category and day is incremented in place (an upsert) in the issuing transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import case
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from engine.core import clock, nodes, throttle
from engine.core.errors import Conflict, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import PRIORITIES, Settings
from engine.queue import config
from forms.digits import ascii_digits
from storage.db import write_lock
from storage.models.base import table
from storage.models.centers import Center
from storage.models.queue import QueueCategory, QueueSequence, QueueTicket

_NUMBER = re.compile(r"([A-Za-z]{1,3})-?([0-9]{1,4})")
_SEQ = table(QueueSequence)
ACTIVE = ("called", "serving")
# Tickets issued per kiosk address in the window (kept in memory per process, like the other throttles).


def day_of(moment: datetime, settings: Settings) -> date:
    """The center's calendar day at ``moment``: numbering starts again each day."""
    return moment.astimezone(ZoneInfo(settings.display_timezone)).date()


def number_of(letter: str, seq: int) -> str:
    return f"{letter}-{seq:03d}"


def normalise(number: str) -> str:
    """``p14``, ``P-14``, ``P-014`` and ``P-١٤`` are the same ticket; anything else is no ticket (404, not 422)."""
    found = _NUMBER.fullmatch(ascii_digits(number.strip()))
    if found is None:
        raise NotFound("queue.no_such_ticket", number=number)
    return number_of(found.group(1).upper(), int(found.group(2)))


def next_seq(session: Session, category_code: str, day: date, center_key: int = 0) -> int:
    """Take the next number of the category's day: an atomic upsert, so that two kiosks never share one."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(_SEQ).values(category_code=category_code, day=day, center_key=center_key, last=1)
    upsert = upsert.on_conflict_do_update(index_elements=["category_code", "day", "center_key"],
                                          set_={"last": _SEQ.c.last + 1})
    return int(session.execute(upsert.returning(_SEQ.c.last)).scalar_one())


def check_priority(priority: str) -> None:
    if priority not in PRIORITIES:
        raise Invalid("queue.unknown_priority",
                      [problem("priority", "queue.priority_one_of", choices=", ".join(PRIORITIES))])


def issue(*, session: Session, category_code: str, priority: str, settings: Settings,
          client: str | None = None, center_id: int | None = None) -> QueueTicket:
    """A new waiting ticket of ``category_code`` for a citizen of class ``priority`` (the kiosk's button).

    The kiosk needs no sign-in: ``client`` (the caller's address) may take at most
    ``SHUBBAK_QUEUE_ISSUE_MAX_PER_IP`` tickets per ``SHUBBAK_QUEUE_ISSUE_WINDOW_SECONDS`` (429 beyond).
    ``center_id`` is the kiosk's center: each center numbers its own tickets."""
    per_address = throttle.Rule.fixed("kiosk-address", limit=settings.queue_issue_max_per_ip,
                                      window_seconds=settings.queue_issue_window_seconds)
    if client is not None:
        throttle.check(settings, "queue.too_many_tickets",
                       (per_address, client))
    check_priority(priority)
    _own_center_only(session, center_id)
    category = config.category(session, category_code)
    if not category.walk_in:
        raise Invalid("queue.no_walk_in", [problem("category", "queue.category_booked_only", code=category.code)])
    now = clock.now()
    with write_lock(session):
        ticket = new_ticket(session, category, priority, now, settings, center_id)
        session.commit()
        session.refresh(ticket)
    if client is not None:
        throttle.fail(settings, (per_address, client))
    return ticket


def _own_center_only(session: Session, center_id: int | None) -> None:
    """A center node's kiosk issues its own center's tickets (or the hall's without a center), as it takes its
    own center's bookings only (engine/queue/arrivals.py): another center's hall is worked at that center's node
    or at central, neither of which ever sees a ticket issued here (409, docs/center-nodes.md). Central and a
    single node: any center's, as before."""
    node = nodes.own_code(session) if center_id is not None else None
    if node is None:
        return
    center = session.get(Center, center_id)
    if center is not None and center.code != node:
        raise Conflict("queue.kiosk_other_center", center=f"{center.name_ar} / {center.name_en}")


def new_ticket(session: Session, category: QueueCategory, priority: str, now: datetime, settings: Settings,
               center_id: int | None) -> QueueTicket:
    """A waiting ticket with the category's next number of the day, added to the caller's transaction (which
    commits it: the kiosk's issue, or a booking turned into a ticket, engine/queue/arrivals.py)."""
    day = day_of(now, settings)
    seq = next_seq(session, category.code, day, center_id or 0)
    ticket = QueueTicket(number=number_of(category.letter, seq), day=day, seq=seq, category_code=category.code,
                         priority=priority, status="waiting", issued_at=now, waiting_since=now, center_id=center_id)
    session.add(ticket)
    return ticket


def by_number(session: Session, number: str, settings: Settings, *, center_id: int | None = None,
              lock: bool = False) -> QueueTicket:
    """Today's ticket with this number at ``center_id``; ``lock`` takes its row until the transaction ends
    (PostgreSQL)."""
    wanted = normalise(number)
    query = select(QueueTicket).where(QueueTicket.day == day_of(clock.now(), settings),
                                      QueueTicket.number == wanted, config.same_center(QueueTicket.center_id,
                                                                                       center_id))
    here = nodes.issued_here(col(QueueTicket.node), col(QueueTicket.id), session)
    if here is not None:  # central and a center node may both number a center's tickets of a day: this node's first
        query = query.order_by(case((here, 0), else_=1))
    query = query.order_by(col(QueueTicket.id).desc())
    query = query.execution_options(populate_existing=True)
    if lock:
        query = query.with_for_update()
    found = session.exec(query).first()
    if found is None:
        raise NotFound("queue.no_ticket_today", wanted=wanted)
    return found


def waiting(session: Session, settings: Settings, categories: Sequence[str] | None = None,
            center_id: int | None = None, *, own_only: bool = False) -> Sequence[QueueTicket]:
    """Today's waiting tickets of a center (of ``categories`` when given), oldest first; ``own_only``: those this
    node issued (the ones its counters may call, docs/center-nodes.md). A category that does
    not exist is bad input (422 naming it), not an empty list: a mistyped filter must not look like no one waits."""
    if categories:
        known = set(session.exec(select(QueueCategory.code).where(col(QueueCategory.code).in_(list(categories)))))
        problems = [problem(f"category.{i}", "queue.no_category", code=code)
                    for i, code in enumerate(categories) if code not in known]
        if problems:
            raise Invalid("queue.unknown_category", problems)
    query = select(QueueTicket).where(QueueTicket.status == "waiting",
                                      QueueTicket.day == day_of(clock.now(), settings),
                                      config.same_center(QueueTicket.center_id, center_id))
    if categories is not None:
        query = query.where(col(QueueTicket.category_code).in_(list(categories)))
    if own_only and (here := nodes.issued_here(col(QueueTicket.node), col(QueueTicket.id), session)) is not None:
        query = query.where(here)
    return session.exec(query.order_by(col(QueueTicket.waiting_since), col(QueueTicket.id))).all()


def at_counter(session: Session, counter_id: int, settings: Settings) -> QueueTicket | None:
    """The ticket a counter is working on today (called or being served), if any. A ticket left open when the
    center closed does not hold the counter the next day: its number is no longer today's to act on. Only this
    node's tickets count: another node's ticket at the same window is acted on there, not here."""
    query = select(QueueTicket).where(QueueTicket.counter_id == counter_id,
                                      QueueTicket.day == day_of(clock.now(), settings),
                                      col(QueueTicket.status).in_(ACTIVE))
    if (here := nodes.issued_here(col(QueueTicket.node), col(QueueTicket.id), session)) is not None:
        query = query.where(here)
    return session.exec(query).first()
