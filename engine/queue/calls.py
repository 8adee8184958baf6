"""What a counter does with tickets: call the next one, call one by number, recall, no-show, serve, done, transfer.

Two counters calling at the same moment never get the same ticket. On PostgreSQL each candidate is taken with
``SELECT ... FOR UPDATE SKIP LOCKED`` (a ticket another counter is taking is skipped, not waited for) and the
counter's own row is locked, so one counter's double click calls once; on SQLite the process's write lock
queues the callers. Either way the ticket moves with ``UPDATE ... WHERE status = 'waiting'``, so a ticket is
called at most once.

A transfer ends the ticket (``transferred``) and issues a new one in the other category that keeps the
priority class and the original ``waiting_since``: the citizen already waited, and goes on waiting from the
same moment in the other line rather than starting again at its end.

Each node acts on the tickets it issued only (``queue_ticket.node``, engine/core/nodes.py ``issued_by``): a ticket
another node issued is refused with 409 ``node.ticket_elsewhere`` naming that node, calling the next one skips
them, and they do not hold a counter here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from engine.core import clock, nodes
from engine.core.errors import Conflict, DomainError, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from engine.queue import config, tickets
from engine.queue.ordering import Waiting, calling_order
from storage.db import write_lock
from storage.models.queue import QueueCall, QueueCounter, QueueTicket


def check_clerk(actor: Actor, settings: Settings) -> None:
    policy.require(actor, "queue.work", settings)


@contextmanager
def _command(session: Session) -> Iterator[None]:
    """One transaction under the write lock; a refusal rolls back (and so frees any row it locked)."""
    with write_lock(session):
        try:
            yield
        except DomainError:
            session.rollback()
            raise


def _counter(session: Session, number: int, center_id: int | None) -> QueueCounter:
    """The clerk's window ``number`` at the clerk's center, its row locked (one call at a time per window)."""
    if not config.valid_number(number):
        raise NotFound("queue.no_counter", number=number)
    found = session.exec(select(QueueCounter).where(QueueCounter.number == number,
                                                    config.same_center(QueueCounter.center_id, center_id))
                         .with_for_update().execution_options(populate_existing=True)).first()
    if found is None:
        raise NotFound("queue.no_counter", number=number)
    return found


def _free(session: Session, counter: QueueCounter, settings: Settings) -> None:
    assert counter.id is not None
    busy = tickets.at_counter(session, counter.id, settings)
    if busy is not None:
        raise Conflict("queue.counter_busy", number=counter.number,
                       ticket=busy.number, status=busy.status)


def _announce(session: Session, ticket: QueueTicket, counter: QueueCounter, kind: str, at: datetime) -> None:
    assert ticket.id is not None
    session.add(QueueCall(ticket_id=ticket.id, ticket_number=ticket.number, category_code=ticket.category_code,
                          counter_number=counter.number, counter_name=counter.name, kind=kind, at=at,
                          center_id=counter.center_id))


def _take(session: Session, ticket_id: int, counter: QueueCounter, actor: Actor, now: datetime) -> bool:
    """Move one waiting ticket to ``counter``; False when another counter has it (or is taking it)."""
    if session.get_bind().dialect.name == "postgresql":
        free = session.exec(select(QueueTicket.id).where(QueueTicket.id == ticket_id, QueueTicket.status == "waiting")
                            .with_for_update(skip_locked=True)).first()
        if free is None:
            return False
    moved = session.execute(update(QueueTicket).where(col(QueueTicket.id) == ticket_id,
                                                      col(QueueTicket.status) == "waiting")
                            .values(status="called", called_at=now, counter_id=counter.id, called_by=actor.username))
    return bool(moved.rowcount)  # type: ignore[attr-defined]


def _reload(session: Session, ticket_id: int) -> QueueTicket:
    found = session.get(QueueTicket, ticket_id, populate_existing=True)
    assert found is not None
    return found


def call_next(*, session: Session, counter_number: int, actor: Actor, settings: Settings) -> QueueTicket:
    """Call the waiting ticket with the highest effective wait (engine/queue/ordering.py) among the
    counter's categories. 404 when none waits; 409 while the counter is still on another ticket."""
    check_clerk(actor, settings)
    now = clock.now()
    with _command(session):
        counter = _counter(session, counter_number, actor.center_id)
        _free(session, counter, settings)
        waiting = tickets.waiting(session, settings, counter.categories, counter.center_id, own_only=True)
        weights = {c.code: c.weight for c in config.categories(session, active_only=False)}
        order = calling_order([Waiting(t.id, t.priority, t.waiting_since, weights.get(t.category_code, 1.0))
                               for t in waiting if t.id is not None],
                              now, settings.queue_priority_weights)
        chosen = next((w.id for w in order if _take(session, w.id, counter, actor, now)), None)
        if chosen is None:
            raise NotFound("queue.nobody_waiting", number=counter.number)
        ticket = _reload(session, chosen)
        _announce(session, ticket, counter, "call", now)
        session.commit()
    return ticket


def call_ticket(*, session: Session, number: str, counter_number: int, actor: Actor,
                settings: Settings) -> QueueTicket:
    """Call one waiting ticket by its number, out of turn (409 when it is not waiting: called twice)."""
    check_clerk(actor, settings)
    now = clock.now()
    with _command(session):
        counter = _counter(session, counter_number, actor.center_id)
        ticket = tickets.by_number(session, number, settings, center_id=counter.center_id)
        nodes.refuse_ticket_elsewhere(session, ticket)
        if ticket.status != "waiting":
            raise Conflict("queue.ticket_called_already", number=ticket.number, status=ticket.status)
        if ticket.category_code not in counter.categories:
            raise Conflict("queue.counter_not_serving", number=counter.number, category_code=ticket.category_code)
        _free(session, counter, settings)
        assert ticket.id is not None
        if not _take(session, ticket.id, counter, actor, now):
            raise Conflict("queue.ticket_called_elsewhere", number=ticket.number)
        ticket = _reload(session, ticket.id)
        _announce(session, ticket, counter, "call", now)
        session.commit()
    return ticket


def _move(session: Session, number: str, settings: Settings, actor: Actor, allowed: tuple[str, ...],
          change: Callable[[QueueTicket, datetime], None]) -> QueueTicket:
    check_clerk(actor, settings)
    now = clock.now()
    with _command(session):
        ticket = tickets.by_number(session, number, settings, center_id=actor.center_id, lock=True)
        nodes.refuse_ticket_elsewhere(session, ticket)
        if ticket.status not in allowed:
            raise Conflict("queue.ticket_wrong_status", number=ticket.number, status=ticket.status,
                           allowed=' or '.join(allowed))
        change(ticket, now)
        session.add(ticket)
        session.commit()
    return ticket


def recall(*, session: Session, number: str, actor: Actor, settings: Settings) -> QueueTicket:
    """Announce a called ticket again on the board."""
    def again(ticket: QueueTicket, now: datetime) -> None:
        ticket.recalls += 1
        counter = session.get(QueueCounter, ticket.counter_id)
        assert counter is not None
        _announce(session, ticket, counter, "recall", now)

    return _move(session, number, settings, actor, ("called",), again)


def no_show(*, session: Session, number: str, actor: Actor, settings: Settings) -> QueueTicket:
    """The citizen did not come to the counter: the ticket ends, the counter is free."""
    def gone(ticket: QueueTicket, now: datetime) -> None:
        ticket.status, ticket.finished_at = "no_show", now

    return _move(session, number, settings, actor, ("called",), gone)


def serve(*, session: Session, number: str, actor: Actor, settings: Settings) -> QueueTicket:
    """The citizen is at the counter."""
    def start(ticket: QueueTicket, now: datetime) -> None:
        ticket.status, ticket.served_at = "serving", now

    return _move(session, number, settings, actor, ("called",), start)


def done(*, session: Session, number: str, actor: Actor, settings: Settings) -> QueueTicket:
    """The citizen was served: called->done is the service time the estimates learn from."""
    def finish(ticket: QueueTicket, now: datetime) -> None:
        ticket.status, ticket.finished_at = "done", now
        ticket.served_at = ticket.served_at or ticket.called_at

    return _move(session, number, settings, actor, ("called", "serving"), finish)


def transfer(*, session: Session, number: str, category_code: str, actor: Actor,
             settings: Settings) -> QueueTicket:
    """Send the citizen to another category's line; returns the new ticket (the old one is ``transferred``)."""
    check_clerk(actor, settings)
    target = config.category(session, category_code)
    now = clock.now()
    with _command(session):
        old = tickets.by_number(session, number, settings, center_id=actor.center_id, lock=True)
        nodes.refuse_ticket_elsewhere(session, old)
        if old.status not in tickets.ACTIVE:
            raise Conflict("queue.ticket_not_transferable", number=old.number, status=old.status)
        if old.category_code == target.code:
            raise Invalid("queue.ticket_in_category",
                          [problem("category", "field.ticket_already_in", number=old.number, category=target.code)])
        day = tickets.day_of(now, settings)
        seq = tickets.next_seq(session, target.code, day, old.center_id or 0)
        new = QueueTicket(number=tickets.number_of(target.letter, seq), day=day, seq=seq, category_code=target.code,
                          priority=old.priority, status="waiting", issued_at=now, waiting_since=old.waiting_since,
                          transferred_from_id=old.id, center_id=old.center_id)
        session.add(new)
        old.status, old.finished_at, old.transferred_to = "transferred", now, new.number
        session.add(old)
        session.commit()
        session.refresh(new)
    return new
