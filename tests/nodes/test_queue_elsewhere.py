"""The hall's tickets are acted on by the node that issued them only (engine/queue/calls.py): from the breaker's
side, central's clerk calls, recalls, serves, finishes, sends away or transfers a ticket a center node issued (as
replication brings it) and gets 409 ``node.ticket_elsewhere`` naming the node, with nothing written; calling the
next one passes over the node's tickets, even one waiting longer or holding the same number; central's own tickets
are worked as before. A center node refuses a ticket of central's or of another node's alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, text
from sqlmodel import Session

from api.app import create_app
from engine.core import clock
from engine.core.nodes import TicketElsewhere
from engine.people import centers
from engine.queue import links, tickets
from harness.api import Api
from harness.pages import Pages, csrf_of
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.base import table
from storage.models.queue import QueueCounter, QueueTicket
from storage.nodes import ID_BLOCK
from tests.nodes.test_center_day import center  # noqa: F401 - the center node's fixture
from tests.support.nodes import CenterApi, at_central

_TICKET = table(QueueTicket)


@pytest.fixture
def central(database_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(database_url, tmp_path, node_role="central")
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings)


def _center(api: Api, code: str, name: str) -> int:
    with at_central(api.settings.database_url), Session(engine_for(api.settings.database_url)) as session:
        made = centers.create_center(session=session, code=code, name_ar=f"مركز {name}", name_en=f"{name} center",
                                     level="governorate")
    assert made.id is not None
    return made.id


def foreign_ticket(api: Api, number: str, *, ticket_id: int, node: str | None, status: str = "waiting",
                   counter: int | None = None) -> int:
    """A ticket another node issued, as replication brings it: its own id (from its block) and ``node``, waiting
    since ten minutes ago, or called to ``counter``."""
    now = clock.now()
    with engine_for(api.settings.database_url).begin() as conn:
        counter_id = None if counter is None else conn.execute(
            select(table(QueueCounter).c.id).where(table(QueueCounter).c.number == counter)).scalar_one()
        conn.execute(insert(_TICKET).values(
            id=ticket_id, number=number, day=tickets.day_of(now, api.settings), seq=int(number.split("-")[1]),
            category_code="permits", priority="normal", status=status, issued_at=now - timedelta(minutes=10),
            waiting_since=now - timedelta(minutes=10), called_at=now if status == "called" else None,
            counter_id=counter_id, called_by="their_clerk" if status == "called" else None, node=node))
    return ticket_id


def rows(api: Api, ids: list[int]) -> list[tuple[Any, ...]]:
    with engine_for(api.settings.database_url).connect() as conn:
        found = conn.execute(select(_TICKET).where(_TICKET.c.id.in_(ids)).order_by(_TICKET.c.id)).all()
        calls = conn.execute(text("SELECT count(*) FROM queue_call WHERE ticket_id >= :b"), {"b": ID_BLOCK}).scalar()
    return [tuple(r) for r in found] + [(calls,)]


def elsewhere(r: Any, *owner: str) -> None:
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["message_id"] == "node.ticket_elsewhere"
    for words in owner:
        assert words in body["message"] or words in body["message_ar"], body


def test_central_refuses_every_hall_action_on_a_center_nodes_ticket(central: Api) -> None:
    aswan = _center(central, "ASW01", "Aswan")
    block = aswan * ID_BLOCK
    clerk = central.user("front_desk")
    own = [central.client.post("/api/queue/tickets", json={"category": "permits"}).json()["number"] for _ in range(2)]
    assert own == ["P-001", "P-002"]
    # The node numbers its own day: its P-001 too, and P-050 waiting longer than central's, P-051 at window 3.
    theirs = [foreign_ticket(central, "P-001", ticket_id=block + 1, node="ASW01"),
              foreign_ticket(central, "P-050", ticket_id=block + 2, node="ASW01"),
              foreign_ticket(central, "P-051", ticket_id=block + 3, node="ASW01", status="called", counter=3)]
    before = rows(central, theirs)

    # The counters' list holds central's own only; calling the next one passes over the node's tickets, and the
    # node's P-051 does not hold window 3 here.
    listed = central.client.get("/api/queue/tickets", headers=clerk)
    assert [t["number"] for t in listed.json()] == ["P-001", "P-002"], listed.text
    for window, number in ((1, "P-001"), (3, "P-002")):
        called = central.client.post(f"/api/queue/counters/{window}/call-next", headers=clerk)
        assert called.status_code == 200 and called.json()["number"] == number, called.text

    elsewhere(central.client.post("/api/queue/tickets/P-050/call", json={"counter": 1}, headers=clerk),
              "Aswan center (ASW01)", "مركز Aswan")
    for action in ("recall", "no-show", "serve", "done"):
        elsewhere(central.client.post(f"/api/queue/tickets/P-051/{action}", headers=clerk), "ASW01")
    for number in ("P-050", "P-051"):
        elsewhere(central.client.post(f"/api/queue/tickets/{number}/transfer", json={"category": "traffic"},
                                      headers=clerk), "ASW01")
    with Session(engine_for(central.settings.database_url)) as session, pytest.raises(TicketElsewhere):
        links.linkable(session, "P-051", central.settings)  # a case opened from it
    assert rows(central, theirs) == before

    # Central's own P-001 (the same number as the node's) is worked as before; the node's is left alone.
    for action in ("recall", "serve", "done"):
        r = central.client.post(f"/api/queue/tickets/P-001/{action}", headers=clerk)
        assert r.status_code == 200, (action, r.text)
    assert r.json()["status"] == "done"
    nobody = central.client.post("/api/queue/counters/1/call-next", headers=clerk)
    assert nobody.status_code == 404 and nobody.json()["message_id"] == "queue.nobody_waiting", nobody.text
    moved = central.client.post("/api/queue/tickets/P-002/transfer", json={"category": "traffic"}, headers=clerk)
    assert moved.status_code == 200 and moved.json()["number"] == "T-001", moved.text
    assert rows(central, theirs) == before


def test_the_counter_page_says_where_a_nodes_ticket_is_worked(central: Api) -> None:
    aswan = _center(central, "ASW01", "Aswan")
    foreign_ticket(central, "P-051", ticket_id=aswan * ID_BLOCK + 1, node="ASW01", status="called", counter=3)
    foreign_ticket(central, "P-050", ticket_id=aswan * ID_BLOCK + 2, node="ASW01")
    with TestClient(create_app(central.settings), follow_redirects=False) as client:
        pages = Pages(client, central.settings)
        pages.as_user("front_desk")
        r = pages.post("/queue/counter/3", {"action": "done", "ticket": "P-051"}, token_from="/queue/counter?counter=3")
        assert (r.status_code, r.headers["location"]) == (303, "/queue/counter?counter=3")
        shown = client.get("/queue/counter?counter=3").text
    assert "ASW01" in shown and "عقدة" in shown  # the refusal's own words, not "changed meanwhile"
    assert "P-050" not in shown and "P-051" not in shown  # neither listed as waiting nor as at the window here


def test_a_center_node_refuses_tickets_central_or_another_node_issued(center: CenterApi) -> None:  # noqa: F811
    clerk = center.user("front_desk")
    own = center.client.post("/api/queue/tickets", json={"category": "permits"}).json()
    with engine_for(center.settings.database_url).connect() as conn:
        assert conn.execute(select(_TICKET.c.node)).scalars().all() == ["ASW01"]  # filled in by the insert
    with at_central(center.settings.database_url):
        cairo = _center(center, "CAI01", "Cairo")
    theirs = [foreign_ticket(center, "P-060", ticket_id=900, node=None),
              foreign_ticket(center, "P-061", ticket_id=cairo * ID_BLOCK + 1, node="CAI01", status="called",
                             counter=3)]
    before = rows(center, theirs)
    elsewhere(center.client.post("/api/queue/tickets/P-060/call", json={"counter": 3}, headers=clerk),
              "governorate", "المحافظة")
    elsewhere(center.client.post("/api/queue/tickets/P-061/done", headers=clerk), "Cairo center (CAI01)")
    called = center.client.post("/api/queue/counters/3/call-next", headers=clerk)
    assert called.status_code == 200 and called.json()["number"] == own["number"], called.text
    assert center.client.post("/api/queue/counters/3/call-next", headers=clerk).status_code == 409  # busy: its own
    assert center.client.post(f"/api/queue/tickets/{own['number']}/done", headers=clerk).status_code == 200
    assert rows(center, theirs) == before


def test_the_migration_names_the_node_of_each_ticket_already_there_by_its_ids_block(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from storage.db import dispose
    from storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'before.db'}"
    upgrade(url, "0036_node_arrivals")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO center (id, code, name_ar, name_en, level, holidays) "
                              "VALUES (7, 'ASW01', 'أسوان', 'Aswan', 'governorate', '[]')"))
            for ticket_id in (5, 7 * ID_BLOCK + 1):
                conn.execute(text("INSERT INTO queue_ticket (id, number, day, seq, category_code, priority, status, "
                                  "issued_at, waiting_since, recalls) VALUES (:id, 'P-001', '2026-05-10', 1, "
                                  "'permits', 'normal', 'waiting', '2026-05-10 09:00', '2026-05-10 09:00', 0)"),
                             {"id": ticket_id})
        engine.dispose()
        upgrade(url)
        with engine.connect() as conn:
            named = conn.execute(text("SELECT id, node FROM queue_ticket ORDER BY id")).all()
        assert [tuple(r) for r in named] == [(5, None), (7 * ID_BLOCK + 1, "ASW01")]
    finally:
        engine.dispose()
        dispose(url)


def test_a_center_nodes_kiosk_issues_no_ticket_of_another_center(center: CenterApi) -> None:  # noqa: F811
    """A kiosk of the node set up with another center's code would issue that center's tickets here, which no
    counter of this node calls and no other node holds: refused (409), nothing issued. Its own center's and the
    hall without a center are issued as before."""
    with at_central(center.settings.database_url):
        _center(center, "CAI01", "Cairo")
    refused = center.client.post("/api/queue/tickets", json={"category": "permits", "center": "CAI01"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["message_id"] == "queue.kiosk_other_center" and refused.json()["message_ar"]
    assert "Cairo" in refused.json()["message"]
    with TestClient(create_app(center.settings)) as client:
        page = client.post("/queue/kiosk", data={"csrf_token": csrf_of(client.get("/queue/kiosk?center=CAI01").text),
                                                 "category": "permits", "center": "CAI01"}, follow_redirects=False)
        assert page.status_code in (303, 409) and "/queue/ticket/" not in page.headers.get("location", ""), page.text
    with engine_for(center.settings.database_url).connect() as conn:
        assert conn.execute(select(_TICKET.c.id)).first() is None
    for body in ({"category": "permits", "center": "ASW01"}, {"category": "permits"}):
        issued = center.client.post("/api/queue/tickets", json=body)
        assert issued.status_code == 201, issued.text
