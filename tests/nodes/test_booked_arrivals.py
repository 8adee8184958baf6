"""A booked visit's arrival at a center node (engine/queue/arrivals.py), tried from the side of someone breaking it:
the booking is central's row, which the node does not write, so the node records the arrival in a row of its own
(``booking_arrival``) and works with the line to the governorate down. Twice is the same ticket; another center's
booking and a cancelled one are refused as at central; central's no-show round leaves a booking whose arrival
has replicated, and an arrival that reaches central after its no-show wins.

Central's rows (centers, users, bookings) are written first as central writes them (the database's role is
central's); then the same database is the center node's, as replication leaves it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlmodel import Session, select

from api.app import create_app
from engine.core import clock
from engine.core.errors import Conflict
from engine.core.settings import Settings
from engine.queue import arrivals, booking_rounds, bookings
from engine.queue.appointments import local_day
from harness.api import Api
from harness.pages import center_tree, csrf_of
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.booking import Booking, BookingArrival, BookingSlot
from storage.models.queue import QueueTicket

ME, YOU = "+201001234567", "+201112223334"
NODE = "CITY-A"


@dataclass
class World:
    central: Settings
    node: Settings
    ids: dict[str, int]
    clerk: dict[str, str]  # a front desk clerk of the node's center, made at central

    @property
    def url(self) -> str:
        return self.central.database_url

    def as_central(self) -> Settings:
        """The database is central's again (the settings tell storage what it is): as replication brings the
        node's rows there."""
        return make_settings(self.url, self.central.var_dir, node_role="central")

    def as_node(self) -> Settings:
        return make_settings(self.url, self.node.var_dir, node_role="center", node_center=NODE)


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    central = make_settings(database_url, tmp_path, node_role="central")
    with Session(engine_for(database_url)) as session:
        ids = center_tree(session)
    with TestClient(create_app(central)) as client:
        clerk = Api(client, central).user("front_desk", center_id=ids[NODE])
    node = make_settings(database_url, tmp_path, node_role="center", node_center=NODE)
    try:
        yield World(central, node, ids, clerk)
    finally:
        make_settings(database_url, tmp_path)  # a single node's again for the fixtures' clean-up


def _book(world: World, starts: datetime, *, center: str = NODE, phone: str = ME, status: str = "booked") -> str:
    """A booking made at central (its row and its slot's place), as replication brings it to the node: its code."""
    settings = world.as_central()
    key = world.ids[center]
    code = "".join(secrets.choice("0123456789") for _ in range(8))
    with Session(engine_for(world.url)) as session:
        day = local_day(starts, settings)
        session.add(BookingSlot(center_key=key, category_code="permits", starts_at=starts, taken=1))
        session.add(Booking(code=code, phone=phone, center_key=key, category_code="permits", day=day,
                            starts_at=starts, ends_at=starts + timedelta(minutes=15), status=status,
                            active_key=bookings.active_key(phone, "permits", day) if status == "booked" else None,
                            cancelled_at=clock.now() if status == "cancelled" else None))
        session.commit()
    world.as_node()
    return code


def _slot_now(world: World) -> datetime:
    """A slot of today that started a minute ago (just after the center's midnight: one that starts in a minute),
    so that its arrival is on time whenever the test runs."""
    now = clock.now().replace(microsecond=0)
    before = now - timedelta(minutes=1)
    same_day = local_day(before, world.central) == local_day(now, world.central)
    return before if same_day else now + timedelta(minutes=1)


def _count(url: str, sql: str, **params: Any) -> Any:
    with engine_for(url).connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _refused(r: Any, message_id: str) -> None:
    assert r.status_code == 409, r.text
    assert r.json()["message_id"] == message_id and r.json()["message_ar"], r.text


def test_a_booked_visit_checks_in_at_its_center_node_once(world: World) -> None:
    code = _book(world, _slot_now(world))
    with TestClient(create_app(world.node)) as client:
        first = client.post("/api/queue/bookings/redeem", json={"code": code})
        assert first.status_code == 200, first.text
        ticket = first.json()["ticket"]
        assert ticket["category"] == "appointments" and ticket["number"].startswith("B-")
        assert first.json()["booking"]["status"] == "arrived" and first.json()["booking"]["ticket"] == ticket["number"]
        # Twice, and by the phone: the same ticket, one arrival.
        for body in ({"code": code}, {"phone": "01001234567"}, {"code": code, "center": NODE}):
            again = client.post("/api/queue/bookings/redeem", json=body)
            assert again.status_code == 200 and again.json()["ticket"]["number"] == ticket["number"], again.text
        # The kiosk's page too: the same ticket.
        kiosk = client.get(f"/queue/kiosk?center={NODE}")
        page = client.post("/queue/kiosk/booking", data={"csrf_token": csrf_of(kiosk.text), "booking": code,
                                                         "center": NODE}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith(f"/queue/ticket/{ticket['number']}")
        # The node's clerk reads the day's bookings with the arrival.
        day = client.get("/api/appointments", params={"day": first.json()["booking"]["day"]},
                         headers=world.clerk).json()
        assert day["counts"]["arrived"] == 1 and day["counts"]["booked"] == 0
        assert [b["ticket"] for b in day["bookings"]] == [ticket["number"]]
    url = world.url
    assert _count(url, "SELECT count(*) FROM queue_ticket") == 1
    assert _count(url, "SELECT count(*) FROM booking_arrival WHERE node = :n AND ticket_number = :t",
                  n=NODE, t=ticket["number"]) == 1
    # Central's row is untouched at the node: the arrival is the node's own row.
    assert _count(url, "SELECT status FROM booking WHERE code = :c", c=code) == "booked"
    # The citizen at central (once the row has replicated) reads the visit as arrived, with the node's ticket, and
    # can no longer cancel it; central's kiosk gives the same ticket, not a second one.
    central = world.as_central()
    with Session(engine_for(url)) as session:
        [mine] = bookings.mine(session=session, settings=central, phone=ME)
        assert (mine.status, mine.ticket_number) == ("arrived", ticket["number"])
        with pytest.raises(Conflict) as refused:
            bookings.cancel(session=session, settings=central, phone=ME, code=code)
        assert refused.value.message_id == "booking.cancel_status"
        booking, again = arrivals.redeem(session=session, settings=central, center_id=world.ids[NODE], code=code)
        assert (booking.status, again.number) == ("arrived", ticket["number"])
    assert _count(url, "SELECT count(*) FROM queue_ticket") == 1


def test_another_centers_booking_and_a_cancelled_one_are_refused_at_the_center_node(world: World) -> None:
    theirs = _book(world, _slot_now(world), center="CITY-B")
    cancelled = _book(world, _slot_now(world), phone=YOU, status="cancelled")
    with TestClient(create_app(world.node)) as client:
        _refused(client.post("/api/queue/bookings/redeem", json={"code": theirs}), "booking.other_center")
        # A kiosk that says it is the other center's is still this node's own.
        _refused(client.post("/api/queue/bookings/redeem", json={"code": theirs, "center": "CITY-B"}),
                 "booking.other_center")
        _refused(client.post("/api/queue/bookings/redeem", json={"code": cancelled}), "booking.cancelled")
        assert client.post("/api/queue/bookings/redeem", json={"phone": YOU}).status_code == 404
    assert _count(world.url, "SELECT count(*) FROM queue_ticket") == 0
    assert _count(world.url, "SELECT count(*) FROM booking_arrival") == 0


def _arrive(world: World, code: str, at: datetime) -> QueueTicket:
    settings = world.as_node()
    with clock.frozen(at), Session(engine_for(world.url)) as session:
        return arrivals.redeem(session=session, settings=settings, center_id=None, code=code)[1]


def _row(world: World, code: str) -> Booking:
    with Session(engine_for(world.url)) as session:
        return session.exec(select(Booking).where(Booking.code == code)).one()


def _taken(world: World) -> int:
    return int(_count(world.url, "SELECT taken FROM booking_slot"))


def test_centrals_no_show_round_leaves_a_booking_that_arrived_at_a_node(world: World) -> None:
    slot = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    code = _book(world, slot)
    ticket = _arrive(world, code, slot + timedelta(minutes=5))
    central = world.as_central()
    after_grace = slot + timedelta(minutes=central.booking_grace_minutes + 1)
    with Session(engine_for(world.url)) as session:
        first = booking_rounds.run(session, central, after_grace)
        assert (first.no_shows, first.arrivals) == (0, 1)
        again = booking_rounds.run(session, central, after_grace + timedelta(minutes=5))
        assert (again.no_shows, again.arrivals) == (0, 0)
    row = _row(world, code)
    assert (row.status, row.ticket_id, row.ticket_number, row.no_show_at) == ("arrived", ticket.id, ticket.number,
                                                                               None)
    assert _taken(world) == 1
    # The node's own round marks nothing: the bookings are central's.
    with Session(engine_for(world.url)) as session:
        assert booking_rounds.run(session, world.as_node(), after_grace) == booking_rounds.RoundResult(0, 0, 0)


def test_an_arrival_that_reaches_central_after_its_no_show_wins(world: World) -> None:
    slot = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    code = _book(world, slot)
    ticket = _arrive(world, code, slot + timedelta(minutes=5))
    # The line was cut: central has not seen the arrival when its round passes the grace.
    with Session(engine_for(world.url)) as session:
        arrival = session.exec(select(BookingArrival)).one()
        session.expunge(arrival)
        session.connection().execute(text("DELETE FROM booking_arrival"))
        session.commit()
    central = world.as_central()
    after_grace = slot + timedelta(minutes=central.booking_grace_minutes + 1)
    with Session(engine_for(world.url)) as session:
        assert booking_rounds.run(session, central, after_grace).no_shows == 1
    assert _row(world, code).status == "no_show" and _taken(world) == 0
    # The line is back: the node's row arrives.
    with Session(engine_for(world.url)) as session:
        session.add(BookingArrival(**arrival.model_dump()))
        session.commit()
    with Session(engine_for(world.url)) as session:  # read before the round: arrived already
        rows, counts = bookings.of_day(session=session, center_id=world.ids[NODE], day=slot.date().isoformat())
        assert [(b.status, b.ticket_number) for b in rows] == [("arrived", ticket.number)]
        assert (counts["arrived"], counts["no_show"]) == (1, 0)
        assert booking_rounds.run(session, central, after_grace + timedelta(minutes=1)).arrivals == 1
        assert booking_rounds.run(session, central, after_grace + timedelta(minutes=2)).arrivals == 0
    row = _row(world, code)
    assert (row.status, row.ticket_number) == ("arrived", ticket.number)
    assert row.no_show_at is not None  # what central had decided stays on record
    assert row.active_key == bookings.active_key(ME, "permits", row.day)
    assert _taken(world) == 1
    with clock.frozen(slot + timedelta(minutes=6)), Session(engine_for(world.url)) as session:
        _, again = arrivals.redeem(session=session, settings=central, center_id=world.ids[NODE], code=code)
        assert again.number == ticket.number


def test_an_arrival_on_a_single_node_is_on_the_booking_itself(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path)
    slot = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    with Session(engine_for(database_url)) as session:
        session.add(BookingSlot(center_key=0, category_code="permits", starts_at=slot, taken=1))
        session.add(Booking(code="12345678", phone=ME, center_key=0, category_code="permits", day=slot.date(),
                            starts_at=slot, ends_at=slot + timedelta(minutes=15), status="booked"))
        session.commit()
        with clock.frozen(slot + timedelta(minutes=5)):
            booking, ticket = arrivals.redeem(session=session, settings=settings, center_id=None, code="12345678")
            _, again = arrivals.redeem(session=session, settings=settings, center_id=None, code="12345678")
        assert (booking.status, booking.ticket_number, again.number) == ("arrived", ticket.number, ticket.number)
        assert booking_rounds.run(session, settings, slot + timedelta(hours=1)) == booking_rounds.RoundResult(0, 0, 0)
    assert _count(database_url, "SELECT count(*) FROM booking_arrival") == 0
    assert _count(database_url, "SELECT status FROM booking") == "arrived"


def _forge_arrival(world: World, code: str, node: str, at: datetime) -> None:
    """An arrival row naming ``node``, as replication would bring it from that node (a misbehaving or misconfigured
    node's database): a ticket of that node's and the arrival of the booking ``code``."""
    with Session(engine_for(world.url)) as session:
        booking = session.exec(select(Booking).where(Booking.code == code)).one()
        ticket_id = world.ids["CITY-B"] * 10**12 + 1
        session.connection().execute(text(
            "INSERT INTO queue_ticket (id, number, day, seq, category_code, priority, status, issued_at, "
            "waiting_since, recalls, center_id, node) VALUES (:id, 'B-001', :day, 1, 'appointments', 'normal', "
            "'waiting', :at, :at, 0, :center, :node)"),
            dict(id=ticket_id, day=booking.day, at=at, center=booking.center_key or None, node=node))
        session.add(BookingArrival(id=ticket_id, booking_id=booking.id, node=node, ticket_id=ticket_id,
                                   ticket_number="B-001", arrived_at=at))
        session.commit()


@pytest.mark.parametrize("status", ["cancelled", "no_show", "booked"])
def test_an_arrival_from_a_node_of_another_center_changes_nothing_at_central(world: World, status: str) -> None:
    """Only the node of the booking's own center records its arrival (its kiosk takes no other): a row naming
    another node (a node's database written by hand, a node set up with the wrong center) neither brings a
    cancelled or missed visit back, nor retakes its place, nor keeps the no-show round from it."""
    slot = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    code = _book(world, slot, status=status)
    central = world.as_central()
    if status != "booked":
        with Session(engine_for(world.url)) as session:
            session.connection().execute(text("UPDATE booking_slot SET taken = 0"))
            session.commit()
    _forge_arrival(world, code, "CITY-B", slot + timedelta(minutes=5))
    after_grace = slot + timedelta(minutes=central.booking_grace_minutes + 1)
    with Session(engine_for(world.url)) as session:
        [mine] = bookings.mine(session=session, settings=central, phone=ME)
        assert (mine.status, mine.ticket_number) == (status, None)
        rows, counts = bookings.of_day(session=session, center_id=world.ids[NODE], day=slot.date().isoformat())
        assert [b.status for b in rows] == [status] and counts["arrived"] == 0
        result = booking_rounds.run(session, central, after_grace)
        assert (result.arrivals, result.no_shows) == (0, 1 if status == "booked" else 0)
    row = _row(world, code)
    assert (row.status, row.ticket_id) == ("no_show" if status == "booked" else status, None)
    assert _taken(world) == 0


def test_a_single_node_never_asks_for_arrivals_at_other_nodes(database_url: str, tmp_path: Path) -> None:
    """A single installation has no other node: its kiosk, its citizens' visits, its day list and a cancellation
    ask the database what they asked before the arrivals at center nodes (no read of booking_arrival)."""
    settings = make_settings(database_url, tmp_path)
    slot = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = engine_for(database_url)
    with Session(engine) as session:
        for code, starts in (("12345678", slot), ("87654321", slot + timedelta(days=1))):
            session.add(BookingSlot(center_key=0, category_code="permits", starts_at=starts, taken=1))
            session.add(Booking(code=code, phone=ME, center_key=0, category_code="permits", day=starts.date(),
                                starts_at=starts, ends_at=starts + timedelta(minutes=15), status="booked"))
        session.commit()
    event.listen(engine, "before_cursor_execute", note)
    try:
        with Session(engine) as session, clock.frozen(slot + timedelta(minutes=5)):
            arrivals.redeem(session=session, settings=settings, center_id=None, code="12345678")
            bookings.mine(session=session, settings=settings, phone=ME)
            bookings.of_day(session=session, center_id=None, day=slot.date().isoformat())
            bookings.cancel(session=session, settings=settings, phone=ME, code="87654321")
            booking_rounds.run(session, settings, slot + timedelta(hours=1))
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert seen and not [s for s in seen if "booking_arrival" in s]


def test_a_booking_that_arrives_at_central_and_at_its_node_during_a_cut_keeps_centrals_ticket_there(
        world: World) -> None:
    """During a cut the citizen checks in at central's kiosk and at the node's: two tickets, one on each side (the
    cut allows no better). Central's row names central's ticket and its round leaves it so; the node shows its
    own ticket when the code is typed there again (central's tickets do not reach it: ``arrivals._ticket``);
    neither writes the other's row."""
    slot = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    code = _book(world, slot)
    at = slot + timedelta(minutes=5)
    theirs = _arrive(world, code, at)
    with Session(engine_for(world.url)) as session:  # central has not seen the node's arrival yet
        session.connection().execute(text("CREATE TABLE held AS SELECT * FROM booking_arrival"))
        session.connection().execute(text("DELETE FROM booking_arrival"))
        session.commit()
    central = world.as_central()
    with clock.frozen(at), Session(engine_for(world.url)) as session:
        _, ours = arrivals.redeem(session=session, settings=central, center_id=world.ids[NODE], code=code)
    assert ours.id != theirs.id
    with Session(engine_for(world.url)) as session:  # the line is back
        session.connection().execute(text("INSERT INTO booking_arrival SELECT * FROM held"))
        session.connection().execute(text("DROP TABLE held"))
        session.commit()
    with Session(engine_for(world.url)) as session:
        assert booking_rounds.run(session, central, at + timedelta(hours=1)).arrivals == 0
        [mine] = bookings.mine(session=session, settings=central, phone=ME)
        assert (mine.status, mine.ticket_number) == ("arrived", ours.number)
    row = _row(world, code)
    assert (row.status, row.ticket_id) == ("arrived", ours.id) and _taken(world) == 1
    assert _count(world.url, "SELECT count(*) FROM booking_arrival") == 1


def test_booking_the_same_slot_again_answers_the_visit_as_it_arrived_at_the_node(world: World) -> None:
    """A retried booking (the same slot again) answers the visit already booked: once it arrived at the node, as
    arrived with the node's ticket, as every other reader says, not as central's row says yet."""
    from tests.api.test_bookings import _open_all_day

    central = world.as_central()
    with TestClient(create_app(central)) as client:
        _open_all_day(Api(client, central), center=NODE)
    day = local_day(clock.now(), central) + timedelta(days=1)
    with Session(engine_for(world.url)) as session:
        booking, new = bookings.book(session=session, settings=central, phone=ME, center_id=world.ids[NODE],
                                     category_code="permits", day=day.isoformat(), at="10:00")
    assert new
    slot = booking.starts_at if booking.starts_at.tzinfo else booking.starts_at.replace(tzinfo=UTC)
    ticket = _arrive(world, booking.code, slot - timedelta(minutes=5))
    central = world.as_central()
    with Session(engine_for(world.url)) as session:
        again, new = bookings.book(session=session, settings=central, phone=ME, center_id=world.ids[NODE],
                                   category_code="permits", day=day.isoformat(), at="10:00",
                                   now=slot - timedelta(minutes=4))
    assert not new and (again.status, again.ticket_number) == ("arrived", ticket.number)
