"""The queue's rules, at controlled moments: who is called next, numbers, transfers, no-shows, estimates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlmodel import Session, select

from engine.core import clock
from engine.core.errors import Conflict, Forbidden, Invalid, NotFound
from engine.core.settings import Settings
from engine.people.users import Actor
from engine.queue import board, calls, config, estimate, tickets
from engine.queue.ordering import Waiting, calling_order
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.queue import QueueCall, QueueTicket

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # 10:00 in Cairo
CLERK = Actor("clerk", frozenset({"front_desk"}), "Clerk")
ADMIN = Actor("boss", frozenset({"admin"}), "Boss")


@pytest.fixture
def db(settings: Settings) -> Iterator[Session]:
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        yield session


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def issue(db: Session, settings: Settings, seconds: float, category: str = "permits",
          priority: str = "normal") -> QueueTicket:
    with clock.frozen(at(seconds)):
        return tickets.issue(session=db, category_code=category, priority=priority, settings=settings)


def call(db: Session, settings: Settings, seconds: float, counter: int = 1) -> QueueTicket:
    with clock.frozen(at(seconds)):
        return calls.call_next(session=db, counter_number=counter, actor=CLERK, settings=settings)


def act(db: Session, settings: Settings, seconds: float, what: str, number: str) -> QueueTicket:
    with clock.frozen(at(seconds)):
        result: QueueTicket = getattr(calls, what)(session=db, number=number, actor=CLERK, settings=settings)
        return result


def test_weights_times_waiting_decide_who_is_called() -> None:
    weights = {"elderly": 3.0, "disabled": 3.0, "pregnant": 2.0, "normal": 1.0}
    normal, elderly = Waiting(1, "normal", at(0)), Waiting(2, "elderly", at(100))
    # At 120 s: normal waited 120 (x1 = 120), elderly 20 (x3 = 60): normal first.
    assert [t.id for t in calling_order([elderly, normal], at(120), weights)] == [1, 2]
    # At 160 s: normal 160, elderly 60 x 3 = 180: elderly first.
    assert [t.id for t in calling_order([normal, elderly], at(160), weights)] == [2, 1]
    # A tie (150 = 50 x 3) goes to the ticket waiting since earlier; equal moments to the lower id.
    assert [t.id for t in calling_order([elderly, normal], at(150), weights)] == [1, 2]
    twins = [Waiting(9, "pregnant", at(0)), Waiting(4, "pregnant", at(0))]
    assert [t.id for t in calling_order(twins, at(10), weights)] == [4, 9]


def test_counters_call_by_effective_wait(settings: Settings, db: Session) -> None:
    first = issue(db, settings, 0)
    elderly = issue(db, settings, 100, priority="elderly")
    assert call(db, settings, 120).number == first.number  # 120 against 20 x 3
    act(db, settings, 121, "done", first.number)
    second = issue(db, settings, 130)
    # At 170 s: elderly 70 x 3 = 210 beats the normal ticket's 40.
    assert call(db, settings, 170).number == elderly.number
    act(db, settings, 171, "done", elderly.number)
    assert call(db, settings, 172).number == second.number


def test_weights_come_from_the_settings(settings: Settings, db: Session) -> None:
    flat = settings.model_copy(update={"queue_priority_weights": {"elderly": 1.0, "disabled": 1.0, "pregnant": 1.0,
                                                                  "normal": 1.0}})
    first = issue(db, flat, 0)
    issue(db, flat, 100, priority="elderly")
    assert call(db, flat, 1000).number == first.number  # equal weights: plain first come, first served


def test_numbers_run_per_category_and_day(settings: Settings, db: Session) -> None:
    numbers = [issue(db, settings, s, c).number for s, c in [(0, "permits"), (1, "permits"), (2, "civil_registry")]]
    assert numbers == ["P-001", "P-002", "C-001"]
    tomorrow = issue(db, settings, 24 * 3600)
    assert (tomorrow.number, tomorrow.day.isoformat()) == ("P-001", "2026-03-02")
    with clock.frozen(at(5)):
        assert tickets.by_number(db, "p2", settings).number == "P-002"
        with pytest.raises(NotFound):
            tickets.by_number(db, "P-099", settings)
        with pytest.raises(NotFound):
            tickets.by_number(db, "not a number", settings)


def test_bad_category_and_priority_are_refused(settings: Settings, db: Session) -> None:
    with pytest.raises(Invalid) as bad:
        issue(db, settings, 0, category="weddings")
    assert bad.value.details[0]["field"] == "category"
    with pytest.raises(Invalid) as bad:
        issue(db, settings, 0, priority="vip")
    assert bad.value.details[0]["field"] == "priority"


def test_a_counter_works_one_ticket_at_a_time(settings: Settings, db: Session) -> None:
    with pytest.raises(NotFound):
        call(db, settings, 0)  # nobody waits
    ticket = issue(db, settings, 0)
    issue(db, settings, 1)
    assert call(db, settings, 10).number == ticket.number
    with pytest.raises(Conflict):
        call(db, settings, 11)  # still on the first
    with pytest.raises(Conflict), clock.frozen(at(12)):
        calls.call_ticket(session=db, number=ticket.number, counter_number=3, actor=CLERK, settings=settings)
    with pytest.raises(Forbidden), clock.frozen(at(12)):
        calls.call_next(session=db, counter_number=3, actor=Actor("x", frozenset({"engineering"})),
                        settings=settings)
    with pytest.raises(NotFound):
        call(db, settings, 12, counter=42)


def test_a_ticket_left_open_overnight_does_not_block_its_counter_the_next_day(settings: Settings,
                                                                            db: Session) -> None:
    left = issue(db, settings, 0)
    assert call(db, settings, 60).number == left.number  # the clerk went home without finishing it
    next_day = 24 * 3600
    today = issue(db, settings, next_day)
    assert today.number == left.number  # numbering started again: P-001 is today's ticket now
    with clock.frozen(at(next_day + 1)):
        assert [c["ticket"] for c in board.counters_now(db, settings=settings)][0] is None
    assert call(db, settings, next_day + 60).id == today.id
    assert act(db, settings, next_day + 61, "done", today.number).id == today.id


def test_recall_no_show_serve_and_done(settings: Settings, db: Session) -> None:
    ticket = issue(db, settings, 0)
    with pytest.raises(Conflict):
        act(db, settings, 1, "no_show", ticket.number)  # not called yet
    call(db, settings, 10)
    assert act(db, settings, 20, "recall", ticket.number).recalls == 1
    kinds = [c.kind for c in db.exec(select(QueueCall).order_by(QueueCall.id)).all()]  # type: ignore[arg-type]
    assert kinds == ["call", "recall"]
    gone = act(db, settings, 30, "no_show", ticket.number)
    assert (gone.status, gone.finished_at is not None) == ("no_show", True)
    with pytest.raises(Conflict):
        act(db, settings, 31, "recall", ticket.number)
    second = issue(db, settings, 40)
    assert call(db, settings, 41).number == second.number  # the counter is free again
    assert act(db, settings, 45, "serve", second.number).status == "serving"
    finished = act(db, settings, 100, "done", second.number)
    assert finished.status == "done"
    with pytest.raises(Conflict):
        act(db, settings, 101, "done", second.number)


def test_transfer_keeps_the_waiting_time_and_priority(settings: Settings, db: Session) -> None:
    ticket = issue(db, settings, 0, priority="pregnant")
    with pytest.raises(Conflict), clock.frozen(at(1)):
        calls.transfer(session=db, number=ticket.number, category_code="traffic", actor=CLERK, settings=settings)
    call(db, settings, 60)
    with pytest.raises(Invalid), clock.frozen(at(61)):
        calls.transfer(session=db, number=ticket.number, category_code="permits", actor=CLERK, settings=settings)
    with pytest.raises(Invalid), clock.frozen(at(61)):
        calls.transfer(session=db, number=ticket.number, category_code="weddings", actor=CLERK, settings=settings)
    newcomer = issue(db, settings, 70, category="traffic")
    with clock.frozen(at(80)):
        moved = calls.transfer(session=db, number=ticket.number, category_code="traffic", actor=CLERK,
                               settings=settings)
    assert (moved.number, moved.status, moved.priority) == ("T-002", "waiting", "pregnant")
    assert moved.waiting_since.replace(tzinfo=UTC) == at(0)
    with clock.frozen(at(81)):
        old = tickets.by_number(db, ticket.number, settings)
    assert (old.status, old.transferred_to) == ("transferred", "T-002")
    # Counter 2 serves traffic: the transferred ticket waited since 0, so it goes before the newcomer.
    assert call(db, settings, 90, counter=2).number == moved.number
    act(db, settings, 91, "done", moved.number)
    assert call(db, settings, 92, counter=2).number == newcomer.number


def _served(db: Session, settings: Settings, start: float, seconds: float) -> None:
    ticket = issue(db, settings, start)
    called = call(db, settings, start + 1)
    assert called.number == ticket.number
    act(db, settings, start + 1 + seconds, "done", ticket.number)


def test_estimated_wait_from_recent_service_times(settings: Settings, db: Session) -> None:
    with clock.frozen(at(0)):
        fresh = estimate.estimates(db, settings)["permits"]
    # No history: the default service time; counters 1 and 3 serve permits.
    assert (fresh.service_seconds, fresh.open_counters, fresh.waiting, fresh.wait_seconds) == (300, 2, 0, 0)
    _served(db, settings, 0, 60)
    _served(db, settings, 100, 120)
    _served(db, settings, 300, 600)
    for s in range(4):
        issue(db, settings, 1000 + s)
    with clock.frozen(at(1010)):
        now = estimate.estimates(db, settings)["permits"]
        assert (now.service_seconds, now.waiting, now.wait_seconds) == (120, 4, 120 * 4 / 2)
        last = tickets.by_number(db, "P-007", settings)
        assert estimate.for_ticket(db, last, settings) == 120 * 3 / 2  # three ahead of it
    # Outside the window, the history is forgotten; with one sample, that one.
    narrow = settings.model_copy(update={"queue_estimate_window_hours": 0.1})  # 6 minutes
    with clock.frozen(at(1010)):
        assert estimate.estimates(db, narrow)["permits"].service_seconds == 600
    one = settings.model_copy(update={"queue_estimate_samples": 1})
    with clock.frozen(at(1010)):
        assert estimate.estimates(db, one)["permits"].service_seconds == 600
    # A closed counter does not count; no open counter, no estimate.
    config.save_counter(session=db, number=1, name="Window 1", categories=["civil_registry", "permits"], open=False,
                        actor=ADMIN)
    with clock.frozen(at(1010)):
        assert estimate.estimates(db, settings)["permits"].wait_seconds == 120 * 4
    config.save_counter(session=db, number=3, name="Window 3", categories=["complaints"], actor=ADMIN)
    with clock.frozen(at(1010)):
        assert estimate.estimates(db, settings)["permits"].wait_seconds is None


def test_categories_and_counters_are_configured_by_administrators(settings: Settings, db: Session) -> None:
    assert [c.code for c in config.categories(db)] == ["civil_registry", "permits", "traffic", "utilities",
                                                       "complaints", "appointments"]
    with pytest.raises(Forbidden):
        config.save_category(session=db, code="passports", letter="X", name_ar="الجوازات", name_en="Passports",
                             services=[], actor=CLERK)
    with pytest.raises(Invalid):  # P belongs to permits
        config.save_category(session=db, code="passports", letter="P", name_ar="الجوازات", name_en="Passports",
                             services=[], actor=ADMIN)
    config.save_category(session=db, code="passports", letter="J", name_ar="الجوازات", name_en="Passports",
                         services=["passport"], position=9, actor=ADMIN)
    assert issue(db, settings, 0, category="passports").number == "J-001"
    with pytest.raises(Invalid):
        config.save_counter(session=db, number=4, name="Window 4", categories=["weddings"], actor=ADMIN)
    config.save_counter(session=db, number=4, name="Window 4", categories=["passports"], actor=ADMIN)
    assert call(db, settings, 5, counter=4).number == "J-001"
    with clock.frozen(at(5)):
        shown = board.counters_now(db, settings=settings)
    assert [(c["number"], c["ticket"]) for c in shown] == [(1, None), (2, None), (3, None), (4, "J-001")]
    assert [board.call_view(c)["ticket"] for c in board.latest(db, 5)] == ["J-001"]


def test_weights_must_name_every_class(tmp_path: object) -> None:
    with pytest.raises(ValidationError):
        make_settings("sqlite://", tmp_path, queue_priority_weights={"normal": 1.0})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        make_settings("sqlite://", tmp_path, queue_priority_weights={  # type: ignore[arg-type]
            "elderly": 0, "disabled": 1, "pregnant": 1, "normal": 1})


def test_each_center_numbers_and_calls_its_own_tickets(settings: Settings, db: Session) -> None:
    from engine.people.centers import create_center

    giza = create_center(session=db, code="giza", name_ar="الجيزة", name_en="Giza", level="governorate").id
    cairo = create_center(session=db, code="cairo", name_ar="القاهرة", name_en="Cairo", level="governorate").id
    for center in (giza, cairo):
        config.save_counter(session=db, number=1, name="Window 1", categories=["permits"], actor=ADMIN,
                            center_id=center)
    with clock.frozen(at(0)):
        here = tickets.issue(session=db, category_code="permits", priority="normal", settings=settings,
                             center_id=giza)
        there = tickets.issue(session=db, category_code="permits", priority="elderly", settings=settings,
                              center_id=cairo)
    assert (here.number, there.number) == ("P-001", "P-001")  # each center counts its own
    giza_clerk = Actor("g", frozenset({"front_desk"}), "G", center_id=giza)
    cairo_clerk = Actor("c", frozenset({"front_desk"}), "C", center_id=cairo)
    with clock.frozen(at(600)):
        assert estimate.estimates(db, settings, giza)["permits"].waiting == 1
        called = calls.call_next(session=db, counter_number=1, actor=giza_clerk, settings=settings)
        assert (called.id, called.center_id) == (here.id, giza)
        assert calls.done(session=db, number="P-001", actor=giza_clerk, settings=settings).id == here.id
        # The Cairo ticket is still waiting for Cairo's window; Giza's window has nobody left.
        with pytest.raises(NotFound):
            calls.call_next(session=db, counter_number=1, actor=giza_clerk, settings=settings)
        assert calls.call_next(session=db, counter_number=1, actor=cairo_clerk, settings=settings).id == there.id
        assert board.counters_now(db, cairo, settings=settings)[0]["ticket"] == "P-001"
    assert [c.center_id for c in board.latest(db, 5, giza)] == [giza]


@pytest.fixture
def pg_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    from tests.conftest import _postgres_db, _reason, missing

    server = request.getfixturevalue("postgres_template")
    if server is None:
        missing(_reason[0])
    for url in _postgres_db(server):
        yield make_settings(url, tmp_path)


@pytest.mark.postgres
def test_a_ticket_another_counter_is_taking_is_skipped_not_waited_for(pg_settings: Settings) -> None:
    settings = pg_settings
    with Session(engine_for(settings.database_url), expire_on_commit=False) as db:
        first = issue(db, settings, 0)
        second = issue(db, settings, 1)
        with engine_for(settings.database_url).connect() as other:
            # Another counter's transaction holds the first ticket's row, in the middle of taking it.
            other.execute(select(QueueTicket.id).where(QueueTicket.id == first.id).with_for_update())
            db.connection().exec_driver_sql("SET lock_timeout = '3s'")  # waiting would fail the test, not hang it
            assert call(db, settings, 10, counter=1).number == second.number
            other.rollback()
        assert call(db, settings, 11, counter=3).number == first.number  # released: the next counter takes it
