"""What a node's subscriptions last heard (engine/operations/node_link.py): since when a line is down, kept
through a restart of the node, said on a center node's pages and on central's dashboard."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlmodel import Session

from api.app import create_app
from engine.core import clock
from engine.core.settings import Settings
from engine.operations import node_link
from engine.operations.node_link import Heard
from harness.api import Api
from harness.pages import Pages
from harness.settings import TEST_PROCESSES
from storage.db import engine_for

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
CENTRAL = node_link.TO_CENTRAL


@pytest.fixture
def hearing(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Heard]]:
    """What PostgreSQL says each subscription heard, as the test sets it."""
    said: list[Heard] = []
    monkeypatch.setattr(node_link, "heard", lambda conn: list(said))
    node_link._cache.clear()
    yield said
    node_link._cache.clear()


def center_of(settings: Settings) -> Settings:
    return settings.model_copy(update={"node_role": "center", "node_center": "CAI01", "node_offline_seconds": 60.0,
                                       "node_link_cache_seconds": 0.0})


def round_at(settings: Settings, now: datetime) -> int:
    with Session(engine_for(settings.database_url)) as session:
        return node_link.record(session=session, settings=settings, now=now)


def kept(settings: Settings) -> dict[str, node_link.Link]:
    with engine_for(settings.database_url).connect() as conn:
        return {link.name: link for link in node_link.links(conn)}


def test_a_line_is_down_from_its_last_word_and_up_again_when_heard(settings: Settings,
                                                                    hearing: list[Heard]) -> None:
    center = center_of(settings)
    hearing[:] = [Heard(CENTRAL, 4242, T0)]
    assert round_at(center, T0 + timedelta(seconds=10)) == 0
    assert kept(center)[CENTRAL].down_since is None
    assert node_link.working_locally_since(center) is None
    # the relay is cut: the worker still runs but hears nothing; down once silent past the limit, from its last word
    assert round_at(center, T0 + timedelta(seconds=59)) == 0
    assert round_at(center, T0 + timedelta(seconds=61)) == 1
    assert kept(center)[CENTRAL].down_since == T0
    # the node restarts during the cut: PostgreSQL's statistics are empty, the worker cannot connect
    hearing[:] = [Heard(CENTRAL, None, None)]
    assert round_at(center, T0 + timedelta(minutes=30)) == 1
    link = kept(center)[CENTRAL]
    assert (link.down_since, link.heard_at) == (T0, T0)
    assert node_link.working_locally_since(center) == T0
    # the line returns
    hearing[:] = [Heard(CENTRAL, 5151, T0 + timedelta(minutes=45))]
    assert round_at(center, T0 + timedelta(minutes=45, seconds=5)) == 0
    assert kept(center)[CENTRAL].down_since is None
    assert node_link.working_locally_since(center) is None


def test_a_subscription_never_heard_is_down_from_the_first_look(settings: Settings, hearing: list[Heard]) -> None:
    center = center_of(settings)
    hearing[:] = [Heard(CENTRAL, None, None)]
    assert round_at(center, T0) == 1
    assert kept(center)[CENTRAL].down_since == T0


def test_a_dropped_subscription_is_forgotten_and_a_single_node_keeps_nothing(settings: Settings,
                                                                            hearing: list[Heard]) -> None:
    central = settings.model_copy(update={"node_role": "central"})
    hearing[:] = [Heard("shubbak_center_CAI01", 1, T0), Heard("shubbak_center_GIZ02", 2, T0)]
    round_at(central, T0)
    assert {link.center for link in kept(central).values()} == {"CAI01", "GIZ02"}
    hearing[:] = [Heard("shubbak_center_GIZ02", 2, T0)]
    round_at(central, T0 + timedelta(seconds=5))
    assert list(kept(central)) == ["shubbak_center_GIZ02"]
    hearing[:] = [Heard(CENTRAL, None, None)]
    assert round_at(settings, T0) == 0  # single: not even read
    assert list(kept(settings)) == ["shubbak_center_GIZ02"]


def test_postgresql_is_asked_for_real(settings: Settings) -> None:
    with engine_for(settings.database_url).connect() as conn:
        assert node_link.heard(conn) == []  # no subscription on a test database (SQLite: none to ask)


def test_a_center_nodes_pages_say_it_works_locally(sqlite_settings: Settings, hearing: list[Heard]) -> None:
    center = center_of(sqlite_settings)
    with TestClient(create_app(center), follow_redirects=False) as client:
        pages = Pages(client, sqlite_settings)  # users are made as central would make them
        pages.as_user("front_desk")
        hearing[:] = [Heard(CENTRAL, 1, T0)]
        round_at(center, T0 + timedelta(seconds=1))
        assert 'id="working-locally"' not in client.get("/inbox").text
        round_at(center, T0 + timedelta(minutes=5))
        page = client.get("/inbox").text
        assert 'id="working-locally"' in page
        assert node_link.working_locally_since(center) == T0
        assert "11:00" in page  # T0 in the display time zone (Cairo, UTC+2)
        pages.sign_out()
        assert 'id="working-locally"' not in client.get("/login").text  # staff pages only


def test_centrals_dashboard_shows_each_center_nodes_last_word(sqlite_settings: Settings,
                                                              hearing: list[Heard]) -> None:
    central = sqlite_settings.model_copy(update={"node_role": "central"})
    now = datetime.now(UTC)
    hearing[:] = [Heard("shubbak_center_CAI01", 1, now - timedelta(hours=2))]
    round_at(central, now)
    with TestClient(create_app(central), follow_redirects=False) as client:
        pages = Pages(client, sqlite_settings)
        pages.as_user("supervisor")
        page = client.get("/reports").text
    section = page[page.index('id="center-nodes"'):]
    section = section[:section.index("</section>")]
    assert section.count("<li>") == 1 and "CAI01" in section
    assert "<strong>" in section  # silent for two hours: the line is down, said in bold


def test_metrics_say_each_line_and_count_only_this_nodes_messages_and_timers(settings: Settings,
                                                                             hearing: list[Heard]) -> None:
    """/metrics at central: each center node's line (its last word, down or not), and the outbox and due timers
    of central's own cases only: a center's replicated messages and timers are that node's to send and fire, so
    counting them would raise "outbox stuck" and "timers late" at central whenever a center's line is down."""
    central = settings.model_copy(update={"node_role": "central", "metrics_query_cache_seconds": 0,
                                          "metrics_allowed_networks": ["127.0.0.1/32"]})
    now = datetime.now(UTC)
    hearing[:] = [Heard("shubbak_center_CAI01", None, now - timedelta(hours=2)),
                  Heard("shubbak_center_GIZ02", 7, now - timedelta(seconds=3))]
    round_at(central, now)
    with TestClient(create_app(central), client=("127.0.0.1", 50000)) as client:
        api = Api(client, central)
        assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
        clerk = api.user("front_desk")
        opened = [api.open_case("test_permit", clerk).json() for _ in range(2)]
        for case in opened:  # to review: the citizen is told the case moved on
            assert api.complete(case["tasks"][0]["id"], {"area": 120, "purpose": "family house"},
                                clerk).status_code == 200
        theirs, ours = (case["id"] for case in opened)
        with Session(engine_for(central.database_url)) as session:
            due = {"t": now - timedelta(minutes=5)}
            session.execute(text("UPDATE case_file SET timer_due_at = :t"), due)
            session.execute(text("UPDATE outbox_message SET status = 'pending', next_attempt_at = :t"), due)
            session.execute(text("UPDATE case_file SET node = 'CAI01' WHERE id = :c"), {"c": theirs})
            session.execute(text("UPDATE outbox_message SET node = 'CAI01' WHERE case_id = :c"), {"c": theirs})
            mine = session.execute(text("SELECT count(*) FROM outbox_message WHERE case_id = :c"),
                                   {"c": ours}).scalar_one()
            # Each center node's seals as they replicate (node_seal): CAI01's stopped three days ago.
            for node, seq, ago in (("CAI01", 1, timedelta(days=4)), ("CAI01", 2, timedelta(days=3)),
                                   ("GIZ02", 1, timedelta(hours=1))):
                session.execute(text(
                    "INSERT INTO node_seal (node, seq, sealed_at, case_count, leaf_count, root, prev_hash, hash, "
                    "public_key, signature, nodes) VALUES (:n, :s, :at, 0, 0, '', '', '', '', '', '')"),
                    {"n": node, "s": seq, "at": clock.iso(now - ago)})
            session.commit()
        r = client.get("/metrics")
        assert r.status_code == 200, r.text
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in text_string_to_metric_families(r.text) for s in family.samples}
    assert mine >= 1
    assert found[("shubbak_outbox_messages", (("status", "pending"),))] == mine
    assert found[("shubbak_timers_due", ())] == 1
    cai = (("center", "CAI01"), ("subscription", "shubbak_center_CAI01"))
    giz = (("center", "GIZ02"), ("subscription", "shubbak_center_GIZ02"))
    assert found[("shubbak_node_link_down", cai)] == 1 and found[("shubbak_node_link_down", giz)] == 0
    assert found[("shubbak_node_link_last_heard_seconds", cai)] >= 7200
    assert found[("shubbak_node_link_last_heard_seconds", giz)] < 3600
    # At central, since each center node's latest seal held here: the alert's figure for seals that stopped.
    assert 3 * 86400 <= found[("shubbak_node_ledger_age_seconds", (("center", "CAI01"),))] < 4 * 86400
    assert 3600 <= found[("shubbak_node_ledger_age_seconds", (("center", "GIZ02"),))] < 2 * 3600
