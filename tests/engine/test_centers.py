"""Centers: who sees which, and cases and tasks taking the center of the clerk who opened them."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from cli.main import main
from engine.core.errors import Conflict, Invalid, NotFound
from engine.core.settings import Settings, get_settings
from engine.people import centers, policy
from engine.people.demo import DEMO_CENTERS, ensure_demo_users
from engine.people.users import Actor, actor_of
from harness.api import Api
from harness.pages import center_tree
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.cases import Case, Task
from storage.models.centers import Center
from storage.models.people import User


def _tree(session: Session) -> dict[str, int]:
    return center_tree(session, ("DIST-A1", "district", "CITY-A"))


def test_visible_centers_are_own_and_below(settings: Settings) -> None:
    with Session(engine_for(settings.database_url)) as session:
        ids = _tree(session)
        see = policy.centers_seen
        assert see(session, Actor("gov", frozenset({"supervisor"}), center_id=ids["GOV"])) == set(ids.values())
        assert see(session, Actor("a", frozenset({"front_desk"}), center_id=ids["CITY-A"])) == {
            ids["CITY-A"], ids["DIST-A1"]}
        assert see(session, Actor("b", frozenset({"front_desk"}), center_id=ids["CITY-B"])) == {ids["CITY-B"]}
        assert see(session, Actor("d", frozenset({"front_desk"}), center_id=ids["DIST-A1"])) == {ids["DIST-A1"]}
        assert see(session, Actor("nowhere", frozenset({"front_desk"}))) is None
        assert see(session, Actor("admin", frozenset({"admin"}), center_id=ids["DIST-A1"])) is None


def test_center_refusals(settings: Settings) -> None:
    with Session(engine_for(settings.database_url)) as session:
        _tree(session)
        with pytest.raises(Conflict):
            centers.create_center(session=session, code="GOV", name_ar="x", name_en="x", level="governorate")
        with pytest.raises(Conflict):  # the code is stored stripped: " GOV " is the same center
            centers.create_center(session=session, code=" GOV ", name_ar="x", name_en="x", level="governorate")
        with pytest.raises(Invalid):  # a district under a governorate skips the city
            centers.create_center(session=session, code="D2", name_ar="x", name_en="x", level="district",
                                  parent_code="GOV")
        with pytest.raises(Invalid):
            centers.create_center(session=session, code="X", name_ar="x", name_en="x", level="village")
        with pytest.raises(NotFound):
            centers.create_center(session=session, code="C3", name_ar="x", name_en="x", level="city",
                                  parent_code="NOPE")


# Set up like tests/api/test_policy_breaker.py's world (a tree, the permit, a clerk's case), kept apart: here the
# clerk sits at a district and the test reads the rows the engine wrote, with no world of many users.
def test_case_and_its_tasks_take_the_clerks_center(api: Api) -> None:
    with Session(engine_for(api.settings.database_url)) as session:
        ids = _tree(session)
    api.deployed("test_permit")
    clerk = api.user("front_desk", center_id=ids["DIST-A1"])
    case = api.past_first_step("test_permit", {"area": 120, "purpose": "family house"}, clerk)
    with Session(engine_for(api.settings.database_url)) as session:
        row = session.get(Case, case["id"])
        assert row is not None and row.center_id == ids["DIST-A1"]
        tasks = session.exec(select(Task.name, Task.center_id).where(col(Task.case_id) == case["id"])
                             .order_by(col(Task.created_at))).all()
    assert [(name, center) for name, center in tasks] == [("register", ids["DIST-A1"]),
                                                           ("review", ids["DIST-A1"])]


def test_cli_adds_a_user_at_a_center_and_ticks_escalation(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    with Session(engine_for(settings.database_url)) as session:
        ids = _tree(session)
    monkeypatch.setenv("SHUBBAK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SHUBBAK_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("SHUBBAK_PASSWORD_TIME_COST", "1")
    monkeypatch.setenv("SHUBBAK_PASSWORD_MEMORY_KIB", "64")
    get_settings.cache_clear()
    try:
        assert main(["users", "add", "clerk_a1", "--password", "correct horse", "--role", "front_desk",
                     "--center", "DIST-A1"]) == 0
        assert main(["users", "add", "clerk_x", "--password", "correct horse", "--center", "NOPE"]) == 1
        # No center is not a default: staff of the whole installation are made so on purpose.
        with pytest.raises(SystemExit):
            main(["users", "add", "clerk_y", "--password", "correct horse", "--role", "front_desk"])
        assert "one of the arguments --center --installation-wide is required" in capsys.readouterr().err
        assert main(["users", "add", "hq_auditor", "--password", "correct horse", "--role", "auditor",
                     "--installation-wide"]) == 0
        assert main(["tick"]) == 0
        assert "0 task(s) reminded, 0 escalated" in capsys.readouterr().out
    finally:
        get_settings.cache_clear()
    with Session(engine_for(settings.database_url)) as session:
        user = session.exec(select(User).where(col(User.username) == "clerk_a1")).one()
        assert user.center_id == ids["DIST-A1"]
        assert session.exec(select(User).where(col(User.username) == "clerk_x")).first() is None


def test_demo_has_a_tree_of_centers_with_users_in_them(sqlite_settings: Settings) -> None:
    with Session(engine_for(sqlite_settings.database_url)) as session:
        first = ensure_demo_users(session, sqlite_settings)
        assert ensure_demo_users(session, sqlite_settings) == first  # a second start adds nothing
        users = {u.username: u for u in session.exec(select(User)).all()}
        assert len(session.exec(select(Center)).all()) == len(DEMO_CENTERS) == 4
        governor = policy.centers_seen(session, actor_of(users["governor"]))
        dokki = policy.centers_seen(session, actor_of(users["clerk"]))
        haram = policy.centers_seen(session, actor_of(users["clerk_haram"]))
        assert governor is not None and dokki is not None and haram is not None
        assert len(governor) == 4 and len(dokki) == 2 and len(haram) == 1 and not dokki & haram
        assert policy.centers_seen(session, actor_of(users["admin"])) is None


def test_another_centers_case_is_not_written_to_nor_its_scans_read(api: Api) -> None:
    """A supervisor or clerk of one city does not cancel, waive papers of, scan into, move the originals of, or
    read the scans of a case of another city (403); one of the governorate above both does."""
    from tests.support.documents import PDF

    with Session(engine_for(api.settings.database_url)) as session:
        ids = _tree(session)
    assert api.deploy(TEST_PROCESSES / "papers", api.user("analyst")).status_code == 201
    clerk_a = api.user("front_desk", center_id=ids["CITY-A"])
    case = api.open_case("papers", clerk_a).json()
    url = f"/api/cases/{case['id']}"
    scan = {"data": {"kind": "photo"}, "files": {"file": ("p.pdf", PDF, "application/pdf")}}
    r = api.client.post(f"{url}/documents", headers=clerk_a, **scan)  # type: ignore[arg-type]
    assert r.status_code == 201, r.text
    document_id = r.json()["id"]
    boss_b, clerk_b = api.user("supervisor", center_id=ids["CITY-B"]), api.user("front_desk", center_id=ids["CITY-B"])
    refused = [
        api.client.post(f"{url}/cancel", json={"reason": "not ours"}, headers=boss_b),
        api.client.post(f"{url}/waivers", json={"kind": "site_plan", "reason": "not ours"}, headers=boss_b),
        api.client.post(f"{url}/documents", headers=clerk_b, **scan),  # type: ignore[arg-type]
        api.client.post(f"{url}/originals", json={"kind": "photo", "to": "front_desk"}, headers=clerk_b),
        api.client.post(f"{url}/originals/photo/receipt", headers=clerk_b),
        api.client.get(f"{url}/documents", headers=clerk_b),
        api.client.get(f"/api/documents/{document_id}/content", headers=boss_b),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused]
    boss_gov = api.user("supervisor", center_id=ids["GOV"])
    assert api.client.get(f"{url}/documents", headers=boss_gov).status_code == 200
    r = api.client.post(f"{url}/cancel", json={"reason": "withdrawn"}, headers=boss_gov)
    assert (r.status_code, r.json()["status"]) == (200, "cancelled")
