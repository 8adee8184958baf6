"""An absent officer's tasks at a center node (engine/cases/distribution.py): the absence is central's row, which
the node does not write, so the node records what it handed over in a row of its own (``absence_hand_over``,
never replicated). Each node hands over the tasks of its own cases once, however often its round runs; central
hands over its own and never the node's; the officer gets the node's back at the absence's end, or once its
cancellation at central reaches the node.

Central's rows (users, the absence) and the cases are made first with the database as central's; one case is
then the center node's (as its rows would be), and the same database is the node's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import bindparam, text
from sqlmodel import Session

from api.app import create_app
from engine.cases import distribution
from engine.core import clock
from engine.core.settings import Settings
from engine.people.presence import today
from harness.api import Api
from harness.settings import make_settings
from storage.db import engine_for
from tests.nodes.test_case_elsewhere import hand_to
from tests.support.assignment import Place, review

NODE = "CITY-A"


@pytest.fixture
def central(database_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(database_url, tmp_path, node_role="central")
    try:
        with TestClient(create_app(settings)) as client:
            yield Api(client, settings)
    finally:
        make_settings(database_url, tmp_path)  # a single node's again for the fixtures' clean-up


def _as(api: Api, role: str) -> Settings:
    """The database as central's or as the center node's (the settings tell storage what it is), as replication
    leaves it on each side."""
    extra: dict[str, Any] = {"node_center": NODE} if role == "center" else {}
    return make_settings(api.settings.database_url, api.settings.var_dir, node_role=role, **extra)


def _tick(api: Api, role: str, now: Any = None) -> distribution.TickResult:
    """One round of the assignment job, as central's or as the center node's."""
    settings = _as(api, role)
    with Session(engine_for(settings.database_url)) as session:
        return distribution.tick(session=session, settings=settings, now=now)


def _holders(api: Api, *task_ids: str) -> dict[str, str | None]:
    with engine_for(api.settings.database_url).connect() as conn:
        return {row.id: row.claimed_by for row in conn.execute(
            text("SELECT id, claimed_by FROM task WHERE id IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"ids": list(task_ids)})}


def _count(api: Api, sql: str) -> Any:
    with engine_for(api.settings.database_url).connect() as conn:
        return conn.execute(text(sql)).scalar()


def officer_away(central: Api, days: int = 0, node: str = NODE) -> tuple[Place, str, str]:
    """rev_a holds two review tasks under round robin, one of a central case and one of ``node``'s; she is away
    from today for ``days`` more days, rev_b her delegate. Her two tasks' ids: (central's, the node's)."""
    place = Place(central)
    officer = place.user("rev_a", "reviewer")
    place.user("rev_b", "reviewer")
    place.rule("reviewer", "round_robin")
    tasks = [review(place.register()) for _ in range(4)]
    hers = [t for t in tasks if t["assigned_to"] == "rev_a"]
    assert len(hers) == 2
    hand_to(central, hers[1]["case_id"], node)
    day = today(central.settings)
    r = central.client.post("/api/users/rev_a/absences", headers=officer,
                            json={"from": str(day), "to": str(day + timedelta(days=days)), "delegate": "rev_b"})
    assert r.status_code == 201, r.text
    return place, hers[0]["id"], hers[1]["id"]


def test_a_center_node_hands_over_its_own_cases_tasks_once_and_central_its_own(central: Api) -> None:
    _place, centrals, nodes_task = officer_away(central)
    admin = central.user("admin")
    first = _tick(central, "center")
    assert first.handed_over == 1 and len(first.absences) == 1
    assert _holders(central, centrals, nodes_task) == {centrals: "rev_a", nodes_task: "rev_b"}
    assert _tick(central, "center").handed_over == 0  # the round again: nothing more
    assert _count(central, "SELECT count(*) FROM absence_hand_over") == 1
    assert _count(central, "SELECT handed_over_at FROM absence") is None  # central's row untouched at the node
    # Central hands over its own, never the node's, once.
    assert _tick(central, "central").handed_over == 1
    assert _tick(central, "central").handed_over == 0
    assert _holders(central, centrals, nodes_task) == {centrals: "rev_b", nodes_task: "rev_b"}
    assert _tick(central, "center").handed_over == 0
    # The node's absences say what the node did.
    with TestClient(create_app(_as(central, "center"))) as client:
        listed = client.get("/api/users/rev_a/absences", headers=admin)
    assert listed.status_code == 200 and listed.json()[0]["handed_over"] is True, listed.text


def test_central_hands_over_first_and_the_node_still_hands_over_its_own(central: Api) -> None:
    _place, centrals, nodes_task = officer_away(central)
    assert _tick(central, "central").handed_over == 1
    assert _holders(central, centrals, nodes_task) == {centrals: "rev_b", nodes_task: "rev_a"}
    assert _tick(central, "center").handed_over == 1
    assert _tick(central, "center").handed_over == 0
    assert _holders(central, centrals, nodes_task) == {centrals: "rev_b", nodes_task: "rev_b"}


def test_the_node_gives_back_its_tasks_once_the_absences_cancellation_arrives(central: Api) -> None:
    _place, centrals, nodes_task = officer_away(central, days=1)
    admin = central.user("admin")
    assert _tick(central, "center").handed_over == 1
    # Central cancels the absence: it gives back its own (none handed over there yet); the deletion replicates.
    _as(central, "central")
    absence_id = central.client.get("/api/users/rev_a/absences", headers=admin).json()[0]["id"]
    r = central.client.delete(f"/api/users/rev_a/absences/{absence_id}", headers=admin)
    assert r.status_code == 204, r.text
    back = _tick(central, "center")
    assert (back.given_back, back.ended) == (1, [absence_id])
    assert _holders(central, centrals, nodes_task) == {centrals: "rev_a", nodes_task: "rev_a"}
    assert _tick(central, "center").given_back == 0
    assert _count(central, "SELECT count(*) FROM absence_hand_over WHERE returned_at IS NOT NULL") == 1


def test_the_node_gives_back_its_tasks_at_the_absences_end(central: Api) -> None:
    _place, centrals, nodes_task = officer_away(central)
    assert _tick(central, "center").handed_over == 1
    assert _tick(central, "central").handed_over == 1
    later = clock.now() + timedelta(days=1)  # the absence (today only) has ended
    back = _tick(central, "center", later)
    assert back.given_back == 1 and len(back.ended) == 1
    assert _holders(central, centrals, nodes_task) == {centrals: "rev_b", nodes_task: "rev_a"}
    assert _tick(central, "center", later).given_back == 0
    assert _tick(central, "central", later).given_back == 1
    assert _holders(central, centrals, nodes_task) == {centrals: "rev_a", nodes_task: "rev_a"}


def test_an_absence_that_ended_before_the_nodes_round_saw_it_is_not_said_handed_over(central: Api) -> None:
    """An absence over before the node's round first saw it (a node set up since, or down the whole absence):
    the node handed nothing over, so it records nothing, gives nothing back, and its absences do not say it
    handed the officer's tasks over."""
    _place, centrals, nodes_task = officer_away(central)
    admin = central.user("admin")
    later = clock.now() + timedelta(days=1)
    result = _tick(central, "center", later)
    assert (result.handed_over, result.absences, result.given_back, result.ended) == (0, [], 0, [])
    assert _count(central, "SELECT count(*) FROM absence_hand_over") == 0
    assert _holders(central, centrals, nodes_task) == {centrals: "rev_a", nodes_task: "rev_a"}
    with TestClient(create_app(_as(central, "center"))) as client:
        listed = client.get("/api/users/rev_a/absences", headers=admin)
    assert listed.status_code == 200 and listed.json()[0]["handed_over"] is False, listed.text
