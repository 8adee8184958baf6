"""What a node's subscriptions last heard (engine/operations/node_link.py): since when a line is down, kept
through a restart of the node, said on a center node's pages and on central's dashboard."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from engine.core.settings import Settings
from engine.operations import node_link
from engine.operations.node_link import Heard
from harness.pages import Pages
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
