"""The access policy from the side of someone trying to get around it: an auditor or a supervisor of one center
after another center's case, a rating cast by staff, a user made without a center, a queue ticket's case
looked up from another center, and a client holding the board's streams open."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from api.app import create_app
from engine.core.settings import Settings
from engine.core.tracking import rating_token
from engine.people.users import Actor, create_user
from engine.queue import config, tickets
from engine.queue import streams as board_streams
from harness.api import CITIZEN, Api
from harness.pages import PASSWORD, Pages, center_tree
from harness.server import serving
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.audit import AuditAccess
from storage.models.ratings import Rating

SECRETS = (CITIZEN["national_id"], CITIZEN["phone"], CITIZEN["full_name"])
AUDIT_DOORS = ("/api/cases/{id}/history", "/api/cases/{id}/replay", "/api/cases/{id}/export")


@dataclass
class Centers:
    api: Api
    ids: dict[str, int]
    case: dict[str, Any]  # a completed case of CITY-A

    def user(self, role: str, center: str) -> dict[str, str]:
        return self.api.user(role, center_id=self.ids[center])


# Set up like tests/engine/test_centers.py's first test (a tree, the permit, a clerk's case), kept apart: here
# the case is taken to its end and many users of the tree try to reach it.
def _centers(api: Api) -> Centers:
    with Session(engine_for(api.settings.database_url)) as session:
        ids = center_tree(session)
    api.deployed("test_permit")
    clerk = api.user("front_desk", center_id=ids["CITY-A"])
    case = api.past_first_step("test_permit", {"area": 120, "purpose": "family house"}, clerk)
    reviewer = api.user("reviewer", center_id=ids["CITY-A"])
    case = api.complete(case["tasks"][0]["id"], {"decision": "reject"}, reviewer).json()
    assert case["status"] == "completed"
    return Centers(api, ids, case)


@pytest.fixture
def world(api: Api) -> Centers:
    return _centers(api)


@pytest.fixture
def pages(sqlite_settings: Settings) -> Iterator[Pages]:
    with TestClient(create_app(sqlite_settings), follow_redirects=False) as client:
        yield Pages(client, sqlite_settings)


def _no_secrets(text: str, tracking_number: str) -> None:
    leaked = [s for s in (*SECRETS, tracking_number) if s in text]
    assert not leaked, f"the refusal names {leaked}"


def test_an_auditor_of_a_sibling_center_reads_nothing_of_the_case(world: Centers) -> None:
    api, case = world.api, world.case
    auditor_b = world.user("auditor", "CITY-B")
    for door in AUDIT_DOORS:
        r = api.client.get(door.format(id=case["id"]), headers=auditor_b)
        assert r.status_code == 403, (door, r.text)
        assert r.json()["detail"] == "this belongs to a center you do not see"
        _no_secrets(r.text, case["tracking_number"])
    for query in ({"national_id": CITIZEN["national_id"]}, {"tracking_number": case["tracking_number"]},
                  {"center": "CITY-A"}, {}):
        r = api.client.get("/api/audit/cases", params=query, headers=auditor_b)
        assert r.status_code == 200 and r.json()["items"] == [] and r.json()["total"] == 0, query
    # Nor through the plain reads, nor the access log of the reads others made of the case.
    assert api.client.get(f"/api/cases/{case['id']}", headers=auditor_b).status_code == 403
    assert api.client.get(f"/api/cases/{case['id']}/events", headers=auditor_b).status_code == 403
    auditor_a = world.user("auditor", "CITY-A")
    assert api.client.get(f"/api/cases/{case['id']}/history", headers=auditor_a).status_code == 200
    reads = api.client.get("/api/audit/reads", headers=auditor_b)
    assert reads.status_code == 200 and [r for r in reads.json() if r["case_id"] == case["id"]] == []
    assert [r["case_id"] for r in api.client.get("/api/audit/reads", headers=auditor_a).json()
            if r["case_id"] == case["id"]] != []


def test_the_parent_centers_auditor_and_installation_wide_staff_read_the_childs_case(world: Centers) -> None:
    api, case = world.api, world.case
    for auditor in (world.user("auditor", "GOV"), api.user("auditor")):
        for door in AUDIT_DOORS:
            assert api.client.get(door.format(id=case["id"]), headers=auditor).status_code == 200, door
        found = api.client.get("/api/audit/cases", params={"national_id": CITIZEN["national_id"]},
                               headers=auditor).json()
        assert [item["id"] for item in found["items"]] == [case["id"]]
    export = api.client.get(f"/api/cases/{case['id']}/export", headers=world.user("auditor", "GOV"))
    assert export.headers["content-type"] == "application/zip"
    # A child center's auditor does not read the parent's cases: CITY-A sees no case opened at GOV.
    clerk_gov = world.user("front_desk", "GOV")
    gov_case = world.api.open_case("test_permit", clerk_gov).json()
    auditor_a = world.user("auditor", "CITY-A")
    assert api.client.get(f"/api/cases/{gov_case['id']}/history", headers=auditor_a).status_code == 403
    # Naming the parent center in a search does not widen it.
    found = api.client.get("/api/audit/cases", params={"center": "GOV"}, headers=auditor_a).json()
    assert [item["id"] for item in found["items"]] == [case["id"]]


def test_a_supervisor_of_a_sibling_center_neither_reads_nor_cancels(world: Centers, api: Api) -> None:
    clerk = world.user("front_desk", "CITY-A")
    open_case = api.open_case("test_permit", clerk).json()
    supervisor_b = world.user("supervisor", "CITY-B")
    for path in (f"/api/cases/{open_case['id']}", f"/api/cases/{open_case['id']}/events",
                 f"/api/cases/{open_case['id']}/messages", f"/api/tasks/{open_case['tasks'][0]['id']}"):
        r = api.client.get(path, headers=supervisor_b)
        assert r.status_code == 403, path
        _no_secrets(r.text, open_case["tracking_number"])
    r = api.client.post(f"/api/cases/{open_case['id']}/cancel", json={"reason": "not ours"}, headers=supervisor_b)
    assert r.status_code == 403 and r.json()["detail"] == "this belongs to a center you do not see"
    listed = api.client.get("/api/cases", params={"national_id": CITIZEN["national_id"]}, headers=supervisor_b)
    assert listed.status_code == 200 and listed.json()["items"] == []
    # The parent center's supervisor does.
    supervisor_gov = world.user("supervisor", "GOV")
    assert api.client.get(f"/api/cases/{open_case['id']}", headers=supervisor_gov).status_code == 200
    assert {c["id"] for c in api.client.get("/api/cases", params={"national_id": CITIZEN["national_id"]},
                                            headers=supervisor_gov).json()["items"]} >= {open_case["id"]}
    r = api.client.post(f"/api/cases/{open_case['id']}/cancel", json={"reason": "withdrawn"}, headers=supervisor_gov)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_the_task_is_seen_alike_by_the_api_and_the_inbox_page(world: Centers, api: Api) -> None:
    """One answer to "who may see this task": an auditor reads it on both faces, a lane of another service on
    neither, the task's lane at a sibling center on neither."""
    clerk = world.user("front_desk", "CITY-A")
    task_id = api.open_case("test_permit", clerk).json()["tasks"][0]["id"]
    pages = Pages(TestClient(api.client.app, follow_redirects=False), api.settings)  # type: ignore[arg-type]
    with Session(engine_for(api.settings.database_url)) as session:
        for name, role, center in (("pa_auditor", "auditor", "CITY-A"), ("pa_officer", "officer", "CITY-A"),
                                   ("pa_desk_b", "front_desk", "CITY-B"), ("pa_desk_a", "front_desk", "CITY-A")):
            create_user(session=session, username=name, password=PASSWORD, full_name=name, roles=[role],
                        settings=api.settings, center_id=world.ids[center])
    for name, want in (("pa_auditor", 200), ("pa_officer", 403), ("pa_desk_b", 403), ("pa_desk_a", 200)):
        pages.sign_out()
        assert pages.sign_in(name).status_code == 303
        assert pages.client.get(f"/tasks/{task_id}").status_code == want, name
        token = api.client.post("/api/auth/token", data={"username": name, "password": PASSWORD}).json()
        r = api.client.get(f"/api/tasks/{task_id}", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert r.status_code == want, name


def test_only_the_citizen_or_their_centers_front_desk_rates(pages: Pages) -> None:
    api = Api(pages.client, pages.settings)
    world = _centers(api)
    case = world.case
    with Session(engine_for(pages.settings.database_url)) as session:
        for name, role, center in (("r_auditor", "auditor", None), ("r_supervisor", "supervisor", "CITY-A"),
                                   ("r_desk_b", "front_desk", "CITY-B"), ("r_reviewer", "reviewer", "CITY-A")):
            create_user(session=session, username=name, password=PASSWORD, full_name=name, roles=[role],
                        settings=pages.settings, center_id=world.ids[center] if center else None,
                        installation_wide=center is None)
    for name in ("r_auditor", "r_supervisor", "r_desk_b", "r_reviewer"):
        pages.sign_out()
        assert pages.sign_in(name).status_code == 303
        assert 'id="rate-link"' not in pages.client.get(f"/cases/{case['id']}").text
        assert pages.client.get(f"/desk/rate/{case['id']}").status_code == 403, name
        r = pages.post(f"/desk/rate/{case['id']}", {"score": "unhappy"}, token_from="/cases")
        assert r.status_code == 403, name
    with Session(engine_for(pages.settings.database_url)) as session:
        assert session.exec(select(Rating).where(col(Rating.case_id) == case["id"])).first() is None
    # The citizen's own link still works, once.
    body = {"tracking_number": case["tracking_number"], "token": rating_token(case["tracking_number"],
                                                                              pages.settings), "score": "happy"}
    assert pages.client.post("/api/public/ratings", json=body).status_code == 201
    assert pages.client.post("/api/public/ratings", json=body).status_code == 409


def test_the_front_desk_of_the_cases_center_hands_over_the_tablet(pages: Pages) -> None:
    api = Api(pages.client, pages.settings)
    world = _centers(api)
    with Session(engine_for(pages.settings.database_url)) as session:
        create_user(session=session, username="desk_a", password=PASSWORD, full_name="Desk A", roles=["front_desk"],
                    settings=pages.settings, center_id=world.ids["CITY-A"])
    pages.sign_out()
    assert pages.sign_in("desk_a").status_code == 303
    assert 'id="rate-link"' in pages.client.get(f"/cases/{world.case['id']}").text
    r = pages.post(f"/desk/rate/{world.case['id']}", {"score": "happy"}, token_from=f"/desk/rate/{world.case['id']}")
    assert r.status_code == 200 and 'id="rate-done"' in r.text


def test_a_user_is_made_at_a_center_or_installation_wide_on_purpose(world: Centers) -> None:
    api = world.api
    admin = api.user("admin")
    body = {"username": "nowhere", "password": "password12", "full_name": "No Where", "roles": ["auditor"]}
    r = api.client.post("/api/users", json=body, headers=admin)
    assert r.status_code == 422 and [d["field"] for d in r.json()["detail"]] == ["center"]
    r = api.client.post("/api/users", json={**body, "center": "CITY-A", "installation_wide": True}, headers=admin)
    assert r.status_code == 422 and [d["field"] for d in r.json()["detail"]] == ["center"]
    r = api.client.post("/api/users", json={**body, "center": "NOPE"}, headers=admin)
    assert r.status_code == 404 and r.json()["detail"] == "center 'NOPE' does not exist"
    r = api.client.post("/api/users", json={**body, "center": "CITY-B"}, headers=admin)
    assert r.status_code == 201 and r.json()["center_id"] == world.ids["CITY-B"]
    token = api.client.post("/api/auth/token", data={"username": "nowhere", "password": "password12"}).json()
    r = api.client.get(f"/api/cases/{world.case['id']}/history",
                       headers={"Authorization": f"Bearer {token['access_token']}"})
    assert r.status_code == 403  # the new auditor works at CITY-B: CITY-A's case is not theirs
    r = api.client.post("/api/users", json={**body, "username": "hq", "installation_wide": True}, headers=admin)
    assert r.status_code == 201 and r.json()["center_id"] is None


def test_a_tickets_case_is_named_only_to_staff_of_its_center(world: Centers) -> None:
    api = world.api
    settings = api.settings
    admin = Actor("admin", frozenset({"admin"}))
    with Session(engine_for(settings.database_url)) as session:
        config.save_category(session=session, code="permits", letter="P", name_ar="تراخيص", name_en="Permits",
                             services=["test_permit"], actor=admin)
        ticket = tickets.issue(session=session, category_code="permits", priority="normal", settings=settings,
                               center_id=world.ids["CITY-A"])
        ticket.case_id = world.case["id"]
        session.add(ticket)
        session.commit()
        number = ticket.number
    path = f"/api/queue/tickets/{number}"
    params = {"center": "CITY-A"}
    seen = {who: api.client.get(path, params=params, headers=headers).json()["case_id"]
            for who, headers in (("signed out", {}), ("reviewer of CITY-B", world.user("reviewer", "CITY-B")),
                                 ("desk of CITY-B", world.user("front_desk", "CITY-B")),
                                 ("desk of CITY-A", world.user("front_desk", "CITY-A")),
                                 ("supervisor of GOV", world.user("supervisor", "GOV")),
                                 ("installation-wide", api.user("front_desk")))}
    assert seen == {"signed out": None, "reviewer of CITY-B": None, "desk of CITY-B": None,
                    "desk of CITY-A": world.case["id"], "supervisor of GOV": world.case["id"],
                    "installation-wide": world.case["id"]}


def test_a_client_holds_at_most_its_share_of_board_streams(sqlite_url: str, tmp_path: Path) -> None:
    cap = 2
    settings = make_settings(sqlite_url, tmp_path, queue_board_poll_ms=50,  # type: ignore[arg-type]
                             queue_board_streams_per_client=cap)
    with serving(create_app(settings)) as base, httpx.Client(base_url=base, timeout=10) as client:
        with ExitStack() as held:
            streams = [held.enter_context(client.stream("GET", "/api/queue/board/events")) for _ in range(cap)]
            lines = [stream.iter_lines() for stream in streams]  # kept: a dropped iterator closes its stream
            assert [next(line).startswith("retry:") for line in lines] == [True] * cap
            r = client.get("/api/queue/board/events")
            assert r.status_code == 429
            assert r.json()["detail"] == f"this address already follows the board {cap} times; close one first"
            assert client.get("/api/queue/board").status_code == 200  # the board itself still answers
        # The places are given back when the streams end (the server notices the client went away).
        deadline = time.monotonic() + 10
        while board_streams.open_count(settings) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert board_streams.open_count(settings) == 0
        with client.stream("GET", "/api/queue/board/events") as again:
            assert again.status_code == 200


def test_the_cap_on_board_streams_counts_every_process(sqlite_url: str, tmp_path: Path) -> None:
    """``serve --workers 2``: two API processes on one database. A client spreading its streams over both gets
    no more than the cap in all, not the cap in each."""
    cap = 2
    settings = make_settings(sqlite_url, tmp_path, queue_board_poll_ms=50,  # type: ignore[arg-type]
                             queue_board_streams_per_client=cap)
    with serving(create_app(settings)) as first, serving(create_app(settings)) as second, \
            httpx.Client(timeout=10) as client, ExitStack() as held:
        lines = []
        for base in (first, second):
            stream = held.enter_context(client.stream("GET", f"{base}/api/queue/board/events"))
            lines.append(stream.iter_lines())
            assert next(lines[-1]).startswith("retry:")
        for base in (first, second):
            assert client.get(f"{base}/api/queue/board/events").status_code == 429
        assert board_streams.open_count(settings, "127.0.0.1") == cap


def test_a_dead_process_s_streams_stop_counting_when_their_lease_runs_out(sqlite_settings: Settings) -> None:
    settings = sqlite_settings.model_copy(update={"queue_board_streams_per_client": 1,
                                                  "queue_board_stream_lease_seconds": 30.0})
    long_ago = time.time() - 31
    assert board_streams.open_stream(settings, "10.0.0.9", now=long_ago) is not None  # its process died: no renewal
    assert board_streams.open_count(settings, "10.0.0.9") == 0
    held = board_streams.open_stream(settings, "10.0.0.9")
    assert held is not None
    assert board_streams.open_stream(settings, "10.0.0.9") is None  # the live one counts
    assert board_streams.open_stream(settings, "10.0.0.10") is not None  # another address has its own places
    board_streams.renew(settings, held, now=time.time() + 25)  # renewed: still counts past its first lease
    assert board_streams.open_count(settings, "10.0.0.9", now=time.time() + 40) == 1


def test_board_streams_are_counted_per_client_behind_a_trusted_proxy(sqlite_url: str, tmp_path: Path) -> None:
    """Behind the load balancer every board comes from its address: the cap is the real client's, and a client
    that does not come through the proxy cannot name another address to escape its own."""
    settings = make_settings(sqlite_url, tmp_path, queue_board_poll_ms=50,  # type: ignore[arg-type]
                             queue_board_streams_per_client=1, trusted_proxies=["127.0.0.1"])
    with serving(create_app(settings)) as base, httpx.Client(base_url=base, timeout=10) as client, \
            ExitStack() as held:
        lines = []
        for hall in ("10.1.0.1", "10.1.0.2"):  # two halls' boards through the one proxy
            stream = held.enter_context(client.stream("GET", "/api/queue/board/events",
                                                      headers={"X-Forwarded-For": hall}))
            lines.append(stream.iter_lines())
            assert next(lines[-1]).startswith("retry:")
        again = client.get("/api/queue/board/events", headers={"X-Forwarded-For": "10.1.0.1"})
        assert again.status_code == 429
    untrusted = settings.model_copy(update={"trusted_proxies": []})
    with serving(create_app(untrusted)) as base, httpx.Client(base_url=base, timeout=10) as client, \
            ExitStack() as held:
        stream = held.enter_context(client.stream("GET", "/api/queue/board/events",
                                                  headers={"X-Forwarded-For": "10.9.9.1"}))
        lines = [stream.iter_lines()]
        assert next(lines[0]).startswith("retry:")
        forged = client.get("/api/queue/board/events", headers={"X-Forwarded-For": "10.9.9.2"})
        assert forged.status_code == 429  # the peer is the client: its header names nobody


def test_the_access_log_of_another_center_is_not_read(world: Centers) -> None:
    api = world.api
    api.client.get(f"/api/cases/{world.case['id']}/history", headers=world.user("auditor", "CITY-A"))
    with Session(engine_for(api.settings.database_url)) as session:
        logged = session.exec(select(AuditAccess.case_id).where(col(AuditAccess.case_id) == world.case["id"])).all()
    assert logged  # the read is there, for those who may see it
    r = api.client.get("/api/audit/reads", params={"case_id": world.case["id"]},
                       headers=world.user("auditor", "CITY-B"))
    assert r.status_code == 200 and r.json() == []
