"""A clerk's and a department's day on a center node: everything they do writes only the center's own tables and
its local ones, never central's (storage/nodes.py); what only central does is refused there (409
``node.central_only``), with the words that say where to go."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from api.app import create_app
from engine.people import centers
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for
from tests.journey.test_api_journey import test_ticket_case_messages_rating as clerks_day
from tests.support.nodes import CenterApi, at_central


@pytest.fixture
def center(database_url: str, tmp_path: Path) -> Iterator[CenterApi]:
    settings = make_settings(database_url, tmp_path, node_role="center", node_center="ASW01")
    with at_central(database_url), Session(engine_for(database_url)) as session:  # the center came from central
        centers.create_center(session=session, code="ASW01", name_ar="مركز أسوان", name_en="Aswan center",
                              level="governorate")
    try:
        with TestClient(create_app(settings)) as client:
            yield CenterApi(client, settings)
    finally:
        make_settings(database_url, tmp_path)


def central_only(r: Any) -> None:
    assert r.status_code == 409, r.text
    assert r.json()["message_id"] == "node.central_only"
    assert "governorate" in r.json()["message"] and "المحافظة" in r.json()["message_ar"]


def test_a_clerks_and_a_departments_day_at_a_center_node(center: CenterApi) -> None:
    clerks_day(center)
    with engine_for(center.settings.database_url).connect() as conn:  # every case of the day is the node's own
        assert set(conn.execute(text("SELECT node FROM case_file")).scalars()) == {"ASW01"}


def test_a_center_node_refuses_what_central_does(center: CenterApi) -> None:
    admin, analyst = center.user("admin"), center.user("analyst")
    central_only(center.deploy_here(TEST_PROCESSES / "test_permit", analyst))
    central_only(center.client.post("/api/users", json={"username": "newbie", "password": "correct horse battery",
                                                        "full_name": "New", "roles": ["front_desk"],
                                                        "installation_wide": True}, headers=admin))
    # Each route of what central does says so before it reads its input (an empty body: no 422 first).
    for method, path in [("PATCH", "/api/users/someone"), ("POST", "/api/centers"),
                         ("PUT", "/api/centers/GOV/holidays"), ("PUT", "/api/users/someone/center"),
                         ("PUT", "/api/centers/GOV/assignment/reviewer"), ("POST", "/api/users/someone/absences"),
                         ("DELETE", "/api/users/someone/absences/1"), ("PUT", "/api/queue/categories/permits"),
                         ("PUT", "/api/queue/counters/1"), ("PUT", "/api/appointments/plans/permits"),
                         ("PUT", "/api/appointments/calendar"), ("POST", "/api/open311/keys"),
                         ("DELETE", "/api/open311/keys/app"), ("POST", "/api/services/test_permit/retire"),
                         ("POST", "/api/services/test_permit/versions/1/retire"),
                         ("POST", "/api/services/test_permit/draft/publish")]:
        central_only(center.client.request(method, path, json={}, headers=admin))


def test_signing_out_at_a_center_node_is_counted_there_and_ends_every_token(center: CenterApi) -> None:
    center.user("front_desk", username="mona")
    url = center.settings.database_url

    def sign_in() -> dict[str, str]:
        r = center.client.post("/api/auth/token", data={"username": "mona", "password": "correct horse"})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    first = sign_in()
    assert center.client.get("/api/me", headers=first).status_code == 200
    assert center.client.post("/api/auth/logout", headers=first).status_code == 204
    assert center.client.get("/api/me", headers=first).status_code == 401
    with engine_for(url).connect() as conn:  # central's row untouched; the node's own count
        assert conn.execute(text("SELECT session_version FROM app_user WHERE username = 'mona'")).scalar() == 0
        assert conn.execute(text("SELECT sign_outs FROM node_sign_out WHERE username = 'mona'")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM user_event e JOIN app_user u ON u.id = e.user_id "
                                 "WHERE u.username = 'mona' AND e.kind = 'signed_out'")).scalar() == 0
    second = sign_in()
    assert center.client.get("/api/me", headers=second).status_code == 200
    # Central then ends her sessions (a new password, a deactivation): replicated, it ends this node's tokens too.
    with at_central(url), engine_for(url).begin() as conn:
        conn.execute(text("UPDATE app_user SET session_version = session_version + 1 WHERE username = 'mona'"))
    assert center.client.get("/api/me", headers=second).status_code == 401
    assert center.client.get("/api/me", headers=sign_in()).status_code == 200
    # A new password is set at central only.
    r = center.client.post("/api/me/password", json={"current_password": "correct horse",
                                                     "new_password": "another good horse 42"}, headers=sign_in())
    central_only(r)


def test_a_center_nodes_token_is_never_one_of_centrals(center: CenterApi) -> None:
    # The node's session version is central's plus its own sign-outs: mona's token after one sign-out there says
    # 1, which is what central's own version becomes at her next sign-out at central. A token stolen at the node
    # (ended there by the sign-out) must not come back to life at central, whose secret may be the same.
    from sqlmodel import select

    from engine.core.errors import Unauthorized
    from engine.people import users
    from storage.models.people import User

    center.user("front_desk", username="mona")
    url = center.settings.database_url

    def sign_in() -> str:
        r = center.client.post("/api/auth/token", data={"username": "mona", "password": "correct horse"})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    assert center.client.post("/api/auth/logout", headers={"Authorization": f"Bearer {sign_in()}"}).status_code == 204
    stolen = sign_in()  # the node's version: central's 0 and its one sign-out
    central = center.settings.model_copy(update={"node_role": "central", "node_center": None})
    with at_central(url), Session(engine_for(url)) as session:
        session.connection().execute(text("UPDATE app_user SET session_version = 1 WHERE username = 'mona'"))
        session.commit()
        with pytest.raises(Unauthorized):  # mona signed out at central too: nothing of before is valid there
            users.actor_from_token(session=session, token=stolen, settings=central)
        user = session.exec(select(User).where(User.username == "mona")).one()
        from_central = users.issue_token(user, central)
    # Central's token is not good at the node either once she signed out there: its 1 is not the node's 1.
    assert center.client.get("/api/me", headers={"Authorization": f"Bearer {from_central}"}).status_code == 401
    center.user("front_desk", username="omar")
    with Session(engine_for(url)) as session:
        omar = session.exec(select(User).where(User.username == "omar")).one()
        omar_central = users.issue_token(omar, central)
    # Where the user never signed out, the node's version is central's alone: central's token is good there.
    assert center.client.get("/api/me", headers={"Authorization": f"Bearer {omar_central}"}).status_code == 200
    # The pages' cookie alike: one signed in at the node is not one of central's.
    from types import SimpleNamespace

    from admin_ui import session as cookie

    request: Any = SimpleNamespace(session={})
    cookie.sign_in(request, "mona", 1, center.settings.node_center)
    assert cookie.username(request, center.settings) == ("mona", 1)
    assert cookie.username(request, central) is None


def test_a_center_nodes_pages_sign_in_and_out_and_keep_the_language_in_the_session(center: CenterApi) -> None:
    from harness.pages import Pages

    center.client.follow_redirects = False
    pages = Pages(center.client, center.settings)
    with at_central(center.settings.database_url):
        name = pages.user("front_desk")
    assert pages.sign_in(name).status_code == 303
    r = pages.post("/preferences", {"language": "en", "next": "/cases"}, token_from="/track")
    assert r.status_code == 303, r.text
    assert 'lang="en"' in pages.client.get("/track").text
    assert pages.sign_out().status_code == 303
    assert pages.sign_in(name).status_code == 303
    with engine_for(center.settings.database_url).connect() as conn:
        assert conn.execute(text("SELECT sign_outs FROM node_sign_out")).scalar() == 1
    r = pages.post("/account/password", {"current_password": "correct horse",
                                         "new_password": "another good horse 42",
                                         "confirm": "another good horse 42"}, token_from="/track")
    assert r.status_code == 409, r.text
    assert "governorate" in r.text


def test_the_command_line_of_a_center_node_says_users_are_changed_at_central(
        center: CenterApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    monkeypatch.setattr("cli.main.get_settings", lambda: center.settings)
    center.user("front_desk", username="samir")
    assert main(["users", "deactivate", "samir"]) == 1
    assert "node.central_only" in capsys.readouterr().err
    assert main(["users", "sign-out", "samir"]) == 0  # counted on the node, as a sign-out there
    with engine_for(center.settings.database_url).connect() as conn:
        assert conn.execute(text("SELECT active, session_version FROM app_user WHERE username = 'samir'")).one() \
            == (True, 0)


def test_an_officer_marks_the_day_unavailable_at_a_center_node(center: CenterApi) -> None:
    officer = center.user("reviewer", username="huda")
    for available in (False, True, False):
        r = center.client.put("/api/me/availability", json={"available": available}, headers=officer)
        assert r.status_code == 200 and r.json()["available"] is available, r.text
    with engine_for(center.settings.database_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM unavailable_day WHERE username = 'huda'")).scalar() == 1


def test_a_center_node_whose_center_has_not_reached_it_yet_says_so(database_url: str, tmp_path: Path) -> None:
    """The node is set up under CAI09, which central has not created (or whose row has not replicated yet): opening a
    case and a booked visit's check-in at its kiosk are refused with what to do, never a 500, and nothing is written."""
    settings = make_settings(database_url, tmp_path, node_role="center", node_center="CAI09")
    try:
        with TestClient(create_app(settings)) as client:
            center = CenterApi(client, settings)
            center.deploy(TEST_PROCESSES / "test_permit", {})
            clerk = center.user("front_desk")
            r = center.open_case("test_permit", clerk)
            assert r.status_code == 409 and r.json()["message_id"] == "node.center_not_known", r.text
            assert "CAI09" in r.json()["message"]
            r = client.post("/api/queue/bookings/redeem", json={"code": "12345678"})
            assert r.status_code == 409 and r.json()["message_id"] == "node.center_not_known", r.text
        with engine_for(database_url).connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM case_file")).scalar() == 0
            assert conn.execute(text("SELECT count(*) FROM queue_ticket")).scalar() == 0
    finally:
        make_settings(database_url, tmp_path)
