"""Background work never acts on another node's cases (engine/core/nodes.py): on central, a case a center node owns
(``node = 'OTHER'``, as replication brings it) with a due timer, a message to send, an overdue task, a message to
another case or an unnamed paper is left alone, while central's own is handled."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, text
from sqlmodel import Session

from api.app import create_app
from engine.cases import correlated, escalation, timers, undelivered
from engine.cases.documents import store_for
from engine.core import clock
from engine.core.settings import Settings
from engine.messages import send
from engine.operations import orphans
from harness.api import Api
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for, session_for
from storage.models.base import table
from storage.models.messages import OutboxMessage
from tests.nodes.test_case_elsewhere import hand_to
from tests.support.clock import make_timers_due


@pytest.fixture
def central(database_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(database_url, tmp_path, node_role="central")
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings)


def kinds(api: Api, case_id: int) -> list[str]:
    return [e["kind"] for e in api.events(case_id)]


def test_the_timer_tick_moves_only_this_nodes_cases(central: Api) -> None:
    central.deploy(TEST_PROCESSES / "timer_demo", central.user("analyst"))
    clerk = central.user("front_desk")
    mine, other = (central.open_case("timer_demo", clerk).json() for _ in range(2))
    hand_to(central, other["id"], "OTHER")
    assert make_timers_due(central.settings, mine["id"]) == 1
    assert make_timers_due(central.settings, other["id"]) == 1
    with Session(engine_for(central.settings.database_url)) as session:
        assert timers.tick(session=session, settings=central.settings) == 1
        assert timers.tick(session=session, settings=central.settings) == 0
    assert kinds(central, mine["id"]) == ["case_opened", "timer_fired"]
    assert kinds(central, other["id"]) == ["case_opened"]


_OUTBOX = table(OutboxMessage)


def _message(settings: Settings, key: str, *, node: str | None, case_id: int | None = None,
             status: str = "pending") -> int:
    with engine_for(settings.database_url).begin() as conn:
        values: dict[str, Any] = dict(case_id=case_id, stage="received", channel="sms", recipient="+201001234567",
                                      language="ar", body="hello", idempotency_key=key, status=status,
                                      next_attempt_at=clock.now() - timedelta(minutes=1), created_at=clock.now())
        if node is not None:
            values["node"] = node
        return int(conn.execute(insert(_OUTBOX).values(**values).returning(_OUTBOX.c.id)).scalar_one())


def test_a_message_is_sent_by_the_node_that_wrote_it_only(central: Api) -> None:
    settings = central.settings
    own = _message(settings, "own-1", node=None)
    theirs = _message(settings, "theirs-1", node="OTHER")
    assert send.due_ids(settings=settings) == [own]
    assert send.send_one(message_id=theirs, settings=settings).status == "skipped"  # even asked by its id
    attempts = send.drain(settings=settings)
    assert [a.message_id for a in attempts] == [own]
    with engine_for(settings.database_url).connect() as conn:
        rows = dict(conn.execute(text("SELECT id, status FROM outbox_message")).all())
    assert rows[theirs] == "pending" and rows[own] != "pending"


def test_a_center_node_stamps_its_messages_and_sends_them(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, node_role="center", node_center="ASW01")
    try:
        mine = _message(settings, "center-1", node=None)  # the insert says whose it is
        central_s = _message(settings, "central-1", node="ZZZ")
        with engine_for(settings.database_url).connect() as conn:
            stamped = conn.execute(text("SELECT node FROM outbox_message WHERE id = :id"), {"id": mine}).scalar()
        assert stamped == "ASW01"
        assert send.due_ids(settings=settings) == [mine]
        assert send.send_one(message_id=central_s, settings=settings).status == "skipped"
        assert [a.message_id for a in send.drain(settings=settings)] == [mine]
        with engine_for(settings.database_url).connect() as conn:
            rows = dict(conn.execute(text("SELECT id, status FROM outbox_message")).all())
        assert rows[central_s] == "pending" and rows[mine] != "pending"
    finally:
        make_settings(database_url, tmp_path)  # the database is a single node's again for the fixtures' clean-up


def test_failed_messages_of_another_nodes_case_open_no_incident_here(central: Api) -> None:
    central.deploy(TEST_PROCESSES / "timer_demo", central.user("analyst"))
    clerk = central.user("front_desk")
    mine, other = (central.open_case("timer_demo", clerk).json() for _ in range(2))
    hand_to(central, other["id"], "OTHER")
    _message(central.settings, "f-own", node=None, case_id=mine["id"], status="failed")
    _message(central.settings, "f-theirs", node="OTHER", case_id=other["id"], status="failed")
    with Session(engine_for(central.settings.database_url)) as session:
        assert undelivered.open_incidents(session, central.settings) == 1
    assert "message_undelivered" not in " ".join(kinds(central, other["id"]))
    with engine_for(central.settings.database_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM incident WHERE case_id = :id"),
                            {"id": other["id"]}).scalar() == 0


def test_escalation_reminds_and_escalates_only_this_nodes_tasks(central: Api) -> None:
    central.deploy(TEST_PROCESSES / "test_permit", central.user("analyst"))
    clerk = central.user("front_desk")
    cases = [central.past_first_step("test_permit", {"area": 120, "purpose": "family house"}, clerk)
             for _ in range(2)]
    mine, other = cases
    hand_to(central, other["id"], "OTHER")
    with engine_for(central.settings.database_url).begin() as conn:
        conn.execute(text("UPDATE task SET due_at = :at WHERE state = 'ready'"),
                     {"at": clock.now() - timedelta(days=10)})
    with Session(engine_for(central.settings.database_url)) as session:
        result = escalation.tick(session=session, settings=central.settings)
    assert (result.reminded, result.escalated) == (1, 1)
    assert "task_escalated" in kinds(central, mine["id"])
    assert kinds(central, other["id"]) == ["case_opened", "task_completed"]


def test_the_case_message_sweep_leaves_another_nodes_messages(central: Api) -> None:
    central.deploy(TEST_PROCESSES / "timer_demo", central.user("analyst"))
    clerk = central.user("front_desk")
    mine, other = (central.open_case("timer_demo", clerk).json() for _ in range(2))
    hand_to(central, other["id"], "OTHER")
    with engine_for(central.settings.database_url).begin() as conn:
        for key, case in (("k-own", mine), ("k-theirs", other)):
            conn.execute(text(
                "INSERT INTO case_message (key, sender_case_id, message, correlation, payload, sent_by, sent_at, "
                "status) VALUES (:key, :case, 'm', '{}', '{}', 'x', :at, 'pending')"),
                {"key": key, "case": case["id"], "at": clock.now() - timedelta(hours=1)})
    with Session(engine_for(central.settings.database_url)) as session:
        found = correlated.pending(session, clock.now(), 10)
    assert [m.key for m in found] == ["k-own"]


def test_the_orphan_sweep_keeps_another_nodes_papers(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, node_role="central")
    with TestClient(create_app(settings)) as client:
        central = Api(client, settings)
        central.deploy(TEST_PROCESSES / "timer_demo", central.user("analyst"))
        clerk = central.user("front_desk")
        mine, other = (central.open_case("timer_demo", clerk).json() for _ in range(2))
        hand_to(central, other["id"], "OTHER")
        store = store_for(settings)
        keys = [f"cases/{mine['id']}/aa", f"cases/{other['id']}/bb", "cases/999999/cc", f"outputs/{other['id']}/dd"]
        for key in keys:
            store.put(key, io.BytesIO(b"a paper"), content_type="application/pdf")
        with session_for(settings.database_url) as session:
            later = clock.now() + timedelta(hours=settings.orphan_grace_hours + 1)
            swept = orphans.sweep(session=session, settings=settings, now=later)
        assert swept.deleted == 1  # central's own; another node's, and an unknown case's, are kept
        left = {key for key, _ in store.listing("cases/")} | {key for key, _ in store.listing("outputs/")}
        assert left == set(keys[1:])


def test_incidents_documents_to_issue_and_payments_to_reconcile_of_another_node_are_left(central: Api) -> None:
    from engine.cases import incidents
    from engine.outputs import issue
    from engine.payments import reconcile
    from storage.models.incidents import Incident
    from storage.models.outputs import IssuedOutput
    from storage.models.payments import Bill, Checkout

    central.deploy(TEST_PROCESSES / "timer_demo", central.user("analyst"))
    clerk = central.user("front_desk")
    mine, other = (central.open_case("timer_demo", clerk).json() for _ in range(2))
    hand_to(central, other["id"], "OTHER")
    url = central.settings.database_url
    with engine_for(url).begin() as conn:  # both cases ended: their open incidents are past
        conn.execute(text("UPDATE case_file SET status = 'cancelled'"))
    long_ago = clock.now() - timedelta(days=1)
    with Session(engine_for(url)) as session:
        for case in (mine, other):
            n = case["id"]
            session.add(Incident(case_id=n, service_code="timer_demo", version=1, element_id="x",
                                 reason="script_error", message="x"))
            session.add(IssuedOutput(number=f"D-{n}", case_id=n, service_code="timer_demo", kind="k", source="s"))
            bill = Bill(number=f"B-{n}", case_id=n, service_code="timer_demo", task_id="t", element="e",
                        currency="EGP", amount=100)
            session.add(bill)
            session.flush()
            assert bill.id is not None
            session.add(Checkout(provider="fawry", reference=f"R-{n}", bill_id=bill.id, case_id=n, amount=100,
                                 currency="EGP", payment_url="https://pay.example/x", created_by="x",
                                 created_at=long_ago))
        session.commit()
        assert incidents.close_passed(session) == 1
        assert [d.reference for d in reconcile.due(session, central.settings, clock.now())] == [f"R-{mine['id']}"]
        issue.issue_pending(session, central.settings)
    with engine_for(url).connect() as conn:
        assert conn.execute(text("SELECT status FROM incident WHERE case_id = :id"), {"id": other["id"]}).scalar() \
            == "open"
        assert conn.execute(text("SELECT status, attempts FROM issued_output WHERE case_id = :id"),
                            {"id": other["id"]}).one() == ("pending", 0)
        own = conn.execute(text("SELECT status, attempts FROM issued_output WHERE case_id = :id"),
                           {"id": mine["id"]}).one()
        assert own != ("pending", 0), own  # central's own was taken up (a made-up kind: it fails)


def test_an_absent_officers_tasks_of_another_nodes_case_are_not_handed_over_here(central: Api) -> None:
    from tests.nodes.test_absences_at_a_node import officer_away

    place, centrals, theirs = officer_away(central, node="OTHER")
    assert place.tick().handed_over == 1
    with engine_for(central.settings.database_url).connect() as conn:
        owners = dict(conn.execute(text("SELECT id, claimed_by FROM task WHERE id IN (:a, :b)"),
                                   {"a": centrals, "b": theirs}).all())
    assert owners == {centrals: "rev_b", theirs: "rev_a"}
