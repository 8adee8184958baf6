"""Automatic assignment (engine/cases/assignment.py), from the side of those who would pick their cases: the rule
gives each ready task to an officer present at the case's center, nobody else claims or completes it, the four
eyes keep a case's registering clerk off its hand-over, and a supervisor of another center cannot change it."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from engine.cases import distribution
from harness.api import Api
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from tests.support.assignment import REGISTER, Place, refused, review


@pytest.fixture
def place(api: Api) -> Place:
    return Place(api)


def test_round_robin_gives_each_reviewer_the_same_number_in_turn(place: Place) -> None:
    heads = {name: place.user(name, "reviewer") for name in ("rev_a", "rev_b", "rev_c")}
    assert place.rule("reviewer", "round_robin").status_code == 200
    given = [review(place.register())["assigned_to"] for _ in range(9)]
    assert given == ["rev_a", "rev_b", "rev_c"] * 3
    # The inbox and a task's page both say whose it is; "mine" holds only one's own.
    for name, headers in heads.items():
        inbox = place.api.client.get("/api/tasks", headers=headers).json()
        mine = [t for t in inbox if t["assigned_to"] == name]
        assert len(mine) == 3 and all(t["claimed_by"] == name for t in mine)
        one = place.api.client.get(f"/api/tasks/{mine[0]['id']}", headers=headers).json()
        assert one["assigned_to"] == name


def test_the_choice_is_on_the_case_chain_and_replay_agrees(place: Place) -> None:
    place.user("rev_a", "reviewer")
    place.rule("reviewer", "round_robin")
    case = place.register()
    kinds = [(e.kind, e.actor, e.data.get("to"), e.data.get("rule")) for e in place.events(case["id"])]
    assert kinds[-1] == ("task_assigned", "system", "rev_a", "round_robin")
    auditor = place.api.user("auditor")
    replay = place.api.client.get(f"/api/cases/{case['id']}/replay", headers=auditor).json()
    assert replay["consistent"] is True, replay


def test_claiming_or_completing_a_task_given_to_another_isrefused(place: Place) -> None:
    owner = place.user("rev_a", "reviewer")
    friend = place.user("rev_b", "reviewer")
    place.rule("reviewer", "round_robin")
    task = review(place.register())
    assert task["assigned_to"] == "rev_a"
    client = place.api.client
    assert client.post(f"/api/tasks/{task['id']}/claim", headers=friend).status_code == 409
    r = client.post(f"/api/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}}, headers=friend)
    assert r.status_code == 409
    # Nor can the owner hand it back to the lane for the friend to take: a supervisor reassigns.
    r = client.post(f"/api/tasks/{task['id']}/unclaim", headers=owner)
    assert refused(r, 409, "assignment.no_release")
    r = client.post(f"/api/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}}, headers=owner)
    assert r.status_code == 200, r.text


def test_a_task_no_one_was_given_is_not_taken_under_an_automatic_rule(place: Place) -> None:
    place.rule("reviewer", "round_robin")  # nobody holds the lane yet: the review waits for no one
    task = review(place.register())
    assert task["assigned_to"] is None
    late = place.user("rev_late", "reviewer")
    r = place.api.client.post(f"/api/tasks/{task['id']}/claim", headers=late)
    assert refused(r, 409, "assignment.by_rule", rule="round_robin")
    r = place.api.client.post(f"/api/tasks/{task['id']}/complete", json={"data": {"decision": "approve"}},
                              headers=late)
    assert r.status_code == 409
    assert place.tick().assigned == 1  # the periodic job gives it out once someone is present
    again = place.api.client.get(f"/api/tasks/{task['id']}", headers=late).json()
    assert again["assigned_to"] == "rev_late"


def test_only_present_officers_of_the_case_center_are_chosen(place: Place) -> None:
    place.user("rev_here", "reviewer")
    away = place.user("rev_away", "reviewer")
    off = place.user("rev_off", "reviewer")
    place.user("rev_sibling", "reviewer", center="CITY-B")
    place.user("rev_parent", "reviewer", center="GOV")
    place.api.user("reviewer", username="rev_everywhere")  # installation-wide staff: no center of its own
    place.user("rev_gone", "reviewer")
    admin = place.api.user("admin")
    assert place.api.client.patch("/api/users/rev_gone", json={"active": False}, headers=admin).status_code == 200
    today = _today(place)
    r = place.api.client.post("/api/users/rev_away/absences", json={"from": today, "to": today}, headers=away)
    assert r.status_code == 201, r.text
    assert place.api.client.put("/api/me/availability", json={"available": False}, headers=off).json() == {
        "available": False}
    for rule in ("round_robin", "least_loaded", "random"):
        assert place.rule("reviewer", rule).status_code == 200
        assert {review(place.register())["assigned_to"] for _ in range(4)} == {"rev_here"}, rule
    # Back at work: chosen again.
    assert place.api.client.put("/api/me/availability", json={"available": True}, headers=off).status_code == 200
    place.rule("reviewer", "round_robin")
    assert "rev_off" in {review(place.register())["assigned_to"] for _ in range(2)}


def test_least_loaded_gives_to_the_one_with_fewest_open_tasks(place: Place) -> None:
    busy = place.user("rev_busy", "reviewer")
    place.user("rev_free", "reviewer")
    for _ in range(2):  # rev_busy claims two reviews under pick
        task = review(place.register())
        assert place.api.client.post(f"/api/tasks/{task['id']}/claim", headers=busy).status_code == 200
    place.rule("reviewer", "least_loaded")
    given = [review(place.register())["assigned_to"] for _ in range(4)]
    # Two each: the tie goes to the one given nothing for longest (rev_busy), then rev_free has fewer again.
    assert given == ["rev_free", "rev_free", "rev_busy", "rev_free"]


def test_four_eyes_keep_the_registering_clerk_off_the_hand_over(place: Place, tmp_path: Path) -> None:
    package = tmp_path / "test_permit"
    shutil.copytree(TEST_PROCESSES / "test_permit", package)
    with (package / "service.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[assignment]\nfour_eyes = ["register", "hand_over"]\nlanes = { front_desk = "round_robin" }\n')
    assert place.api.deploy(package, place.api.user("analyst")).status_code == 201
    other = place.user("clerk_b", "front_desk")
    reviewer = place.user("rev_a", "reviewer")
    for _ in range(3):
        case = place.api.open_case("test_permit", place.clerk).json()
        register = case["tasks"][0]
        if register["assigned_to"] != "clerk_a":  # the registration goes round too: the clerk who got it registers
            headers = other
        else:
            headers = place.clerk
        done = place.api.complete(register["id"], REGISTER, headers).json()
        done = place.api.complete(review(done)["id"], {"decision": "approve"}, reviewer).json()
        hand_over = next(t for t in done["tasks"] if t["name"] == "hand_over")
        assert hand_over["assigned_to"] != register["assigned_to"], done
        assert hand_over["assigned_to"] in ("clerk_a", "clerk_b")
        assigned = [e for e in place.events(done["id"]) if e.kind == "task_assigned" and e.task == "hand_over"]
        assert assigned[0].data["four_eyes"] == [register["assigned_to"]]
    # Under pick, the registering clerk cannot take the hand-over either.
    place.rule("front_desk", "pick")
    case = place.api.open_case("test_permit", place.clerk).json()
    done = place.api.complete(case["tasks"][0]["id"], REGISTER, place.clerk).json()
    done = place.api.complete(review(done)["id"], {"decision": "approve"}, reviewer).json()
    hand_over = next(t for t in done["tasks"] if t["name"] == "hand_over")
    assert hand_over["assigned_to"] is None
    r = place.api.client.post(f"/api/tasks/{hand_over['id']}/claim", headers=place.clerk)
    assert refused(r, 403, "assignment.four_eyes")
    r = place.api.complete(hand_over["id"], {}, place.clerk)
    assert r.status_code == 403
    supervisor = place.supervisor
    r = place.api.client.post(f"/api/supervisor/tasks/{hand_over['id']}/reassign", json={"to": "clerk_a"},
                              headers=supervisor)
    assert refused(r, 422, "assignment.four_eyes_officer", to="clerk_a")
    assert place.api.client.post(f"/api/tasks/{hand_over['id']}/claim", headers=other).status_code == 200


def test_who_may_set_a_center_rule(place: Place) -> None:
    sibling = place.api.user("supervisor", username="sup_b", center_id=place.ids["CITY-B"])
    parent = place.api.user("supervisor", username="sup_gov", center_id=place.ids["GOV"])
    officer = place.user("rev_a", "reviewer")
    assert place.rule("reviewer", "round_robin", sibling).status_code == 403
    assert place.rule("reviewer", "round_robin", officer).status_code == 403
    assert place.rule("reviewer", "round_robin", place.api.user("admin")).status_code == 200
    assert place.rule("reviewer", "least_loaded", parent).status_code == 200
    r = place.rule("reviewer", "random")
    assert r.status_code == 200 and r.json()["rule"] == "random" and r.json()["set_by"] == "sup_a"
    assert place.rule("reviewer", "random").status_code == 200  # the same again: recorded once
    assert place.rule("no_such_lane", "random").status_code == 422
    assert place.rule("supervisor", "random").status_code == 422
    assert place.rule("reviewer", "favourites").status_code == 422
    assert place.rule("reviewer", "random", center="NOWHERE").status_code == 404
    rules = place.api.client.get("/api/centers/CITY-A/assignment", headers=place.supervisor).json()
    assert [(r["lane"], r["rule"]) for r in rules] == [("reviewer", "random")]
    assert place.api.client.get("/api/centers/CITY-A/assignment", headers=sibling).status_code == 403
    with Session(engine_for(place.api.settings.database_url)) as session:
        events = distribution.rule_events(session, place.ids["CITY-A"])
    assert [(e.actor, e.data["rule"], e.data["previous"]) for e in events] == [
        (events[0].actor, "round_robin", None), ("sup_gov", "least_loaded", "round_robin"),
        ("sup_a", "random", "least_loaded")]
    assert all(e.prev_hash == p.hash for p, e in zip(events, events[1:], strict=False))
    # The rule of CITY-A is not CITY-B's: a case there stays under pick.
    place.user("rev_b", "reviewer", center="CITY-B")
    clerk_b = place.user("clerk_b", "front_desk", center="CITY-B")
    assert review(place.register(clerk_b))["assigned_to"] is None


def _today(place: Place) -> str:
    from engine.people.presence import today
    return str(today(place.api.settings))


def test_concurrent_completions_keep_the_round_robin_fair(place: Place) -> None:
    """Registrations completed by several threads at once: every review goes out in turn, none twice."""
    from concurrent.futures import ThreadPoolExecutor

    from engine.cases import tasks
    from engine.people.users import Actor

    for name in ("rev_a", "rev_b", "rev_c"):
        place.user(name, "reviewer")
    place.rule("reviewer", "round_robin")
    opened = [place.api.open_case("test_permit", place.clerk).json()["tasks"][0]["id"] for _ in range(30)]
    clerk = Actor("clerk_a", frozenset({"front_desk"}), "Clerk", place.ids["CITY-A"])
    settings = place.api.settings

    def complete(task_id: str) -> str:
        for _attempt in range(50):
            with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
                try:
                    done = tasks.complete(session=session, task_id=task_id, data=dict(REGISTER), actor=clerk,
                                          settings=settings)
                except Exception as exc:  # noqa: BLE001 - only a lost race may be retried
                    if getattr(exc, "status", None) != 409:
                        raise
                    continue
                return str(next(t.claimed_by for t in done.tasks if t.name == "review"))
        raise AssertionError("never completed")

    with ThreadPoolExecutor(max_workers=6) as pool:
        given = list(pool.map(complete, opened))
    assert Counter(given) == {"rev_a": 10, "rev_b": 10, "rev_c": 10}


@pytest.mark.slow
def test_thirty_building_permits_an_absent_engineer_and_the_four_eyes(place: Place, tmp_path: Path) -> None:
    """The issue's own measure, on the real building permit, its service saying that the front desk's tasks are
    given round the clerks and that who registers a case never hands it over: 30 permits registered one after
    another give each of three engineers 10 reviews; an absent engineer receives none, and at the absence's start
    their open reviews go to the delegate; no hand-over goes to the clerk who registered the case."""
    import json
    from datetime import timedelta

    from engine.people.presence import today
    from tests.services.papers import required_kinds
    from tests.services.paths import PROCESSES, service_paths, take

    api = place.api
    package = tmp_path / "building_permit"
    shutil.copytree(PROCESSES / "building_permit", package)
    with (package / "service.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[assignment]\nlanes = { front_desk = "round_robin" }\n'
                   'four_eyes = ["register_request", "hand_over"]\n')
    assert api.deploy(package, api.user("analyst")).status_code == 201
    walk = json.loads((PROCESSES / "building_permit" / "paths.json").read_text(encoding="utf-8"))[0]
    register, decision, hand_over = (walk["steps"][i]["data"] for i in (0, 1, 3))
    pay = service_paths("building_permit")[0].steps[2]
    assert pay.pay is not None
    clerks = {"clerk_a": place.clerk, "clerk_b": place.user("clerk_b", "front_desk")}
    engineers = {name: place.user(name, "engineering") for name in ("eng_1", "eng_2", "eng_3")}
    assert place.rule("engineering", "round_robin").status_code == 200

    def registered() -> tuple[str, dict[str, Any]]:
        """A permit opened by clerk_a and registered by the clerk the rule gave the registration to."""
        opened = api.open_case("building_permit", place.clerk)
        assert opened.status_code == 201, opened.text
        case = opened.json()
        for kind in required_kinds("building_permit"):
            r = api.client.post(f"/api/cases/{case['id']}/waivers", headers=place.supervisor,
                                json={"kind": kind, "reason": "the original is verified at the window"})
            assert r.status_code == 201, r.text
        first = case["tasks"][0]
        registrar = first["assigned_to"]
        assert registrar in clerks, first
        done = api.complete(first["id"], register, clerks[registrar])
        assert done.status_code == 200, done.text
        return registrar, dict(done.json())

    def reviewing(case: dict[str, Any]) -> dict[str, Any]:
        return next(t for t in case["tasks"] if t["name"] == "engineering_review")

    def mine(name: str) -> list[dict[str, Any]]:
        inbox = api.client.get("/api/tasks?limit=100", headers=engineers[name]).json()
        return [t for t in inbox if t["assigned_to"] == name]

    cases = [registered() for _ in range(30)]
    assert {registrar for registrar, _ in cases} == set(clerks)  # the registrations went round too
    assert Counter(reviewing(case)["assigned_to"] for _, case in cases) == {"eng_1": 10, "eng_2": 10, "eng_3": 10}
    assert all(len(mine(name)) == 10 for name in engineers)

    # eng_3 goes on leave from today, eng_1 standing in: from then on eng_3 is given nothing...
    away = sorted(reviewing(case)["id"] for _, case in cases if reviewing(case)["assigned_to"] == "eng_3")
    start = today(api.settings)
    r = api.client.post("/api/users/eng_3/absences", headers=place.supervisor,
                        json={"from": str(start), "to": str(start + timedelta(days=2)), "delegate": "eng_1"})
    assert r.status_code == 201, r.text
    later = [registered() for _ in range(4)]
    assert Counter(reviewing(case)["assigned_to"] for _, case in later) == {"eng_1": 2, "eng_2": 2}
    # ... and at the absence's start their ten open reviews go to the delegate, shown apart in the inbox.
    assert place.tick().handed_over == 10
    assert mine("eng_3") == []
    delegated = [t for t in mine("eng_1") if t["delegated_from"] == "eng_3"]
    assert sorted(t["id"] for t in delegated) == away
    assert len(mine("eng_1")) == 10 + 2 + 10 and len(mine("eng_2")) == 10 + 2

    # The four eyes: approved, paid, each permit's hand-over is given to the clerk who did not register it.
    for registrar, case in cases[:8]:
        review_task = reviewing(case)
        engineer = "eng_1" if review_task["id"] in away else review_task["assigned_to"]
        r = api.complete(review_task["id"], decision, engineers[engineer])
        assert r.status_code == 200, r.text
        paid = take(api, r.json(), pay)
        handing = next(t for t in paid["tasks"] if t["name"] == "hand_over")
        assert handing["assigned_to"] in clerks and handing["assigned_to"] != registrar, (registrar, handing)
        r = api.complete(handing["id"], hand_over, clerks[handing["assigned_to"]])
        assert r.status_code == 200 and r.json()["status"] == "completed", r.text
        given = [e for e in place.events(case["id"]) if e.kind == "task_assigned" and e.task == "hand_over"]
        assert [e.data["four_eyes"] for e in given] == [[registrar]]


@pytest.mark.parametrize(("section", "named"), [
    ('four_eyes = ["register", "hand_ovr"]', "hand_ovr"),
    ('lanes = { reviewers = "round_robin" }', "reviewers"),
    ('lanes = { reviewer = "favourites" }', "assignment.lanes.reviewer"),
])
def test_a_service_toml_naming_what_the_diagram_lacks_is_refused(place: Place, tmp_path: Path, section: str,
                                                                 named: str) -> None:
    package = tmp_path / "test_permit"
    shutil.copytree(TEST_PROCESSES / "test_permit", package)
    with (package / "service.toml").open("a", encoding="utf-8") as toml:
        toml.write(f"\n[assignment]\n{section}\n")
    r = place.api.deploy(package, place.api.user("analyst"))
    assert r.status_code == 422 and named in r.text, r.text


def test_parent_center_officers_only_when_the_service_says_so(place: Place, tmp_path: Path) -> None:
    place.user("rev_parent", "reviewer", center="GOV")
    place.rule("reviewer", "round_robin")
    assert review(place.register())["assigned_to"] is None  # the governorate's reviewer is not the city's
    package = tmp_path / "test_permit"
    shutil.copytree(TEST_PROCESSES / "test_permit", package)
    with (package / "service.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n[assignment]\nparent_center = true\n")
    assert place.api.deploy(package, place.api.user("analyst")).status_code == 201
    assert review(place.register())["assigned_to"] == "rev_parent"


def test_a_task_nobody_may_have_waits_in_the_lane_where_the_supervisor_sees_it(place: Place) -> None:
    """Under an automatic rule with no one to give it to (the lane's only officer away, the others at another
    center or of another lane): the task is given to nobody, the chain says why, no one takes it, the
    supervisor sees it waiting and may give it only to an officer who could have it."""
    away = place.user("rev_away", "reviewer")
    sibling = place.user("rev_sibling", "reviewer", center="CITY-B")
    place.user("clerk_x", "front_desk")
    today = _today(place)
    assert place.api.client.post("/api/users/rev_away/absences", json={"from": today, "to": today},
                                 headers=away).status_code == 201
    place.rule("reviewer", "least_loaded")
    task = review(place.register())
    assert task["assigned_to"] is None
    waiting = [e for e in place.events(task["case_id"]) if e.kind == "task_waiting"]
    assert [(e.task, e.data["rule"], e.data["reason"], e.data["to"]) for e in waiting] == [
        ("review", "least_loaded", "nobody_present", None)]
    assert not [e for e in place.events(task["case_id"]) if e.kind == "task_assigned" and e.task == "review"]
    client = place.api.client
    assert refused(client.post(f"/api/tasks/{task['id']}/claim", headers=away), 409, "assignment.by_rule",
                   rule="least_loaded")
    assert client.post(f"/api/tasks/{task['id']}/claim",
                       headers=sibling).status_code in (403, 404)
    view = client.get("/api/supervisor/workload", headers=place.supervisor).json()
    lane = next(lane for lane in view["lanes"] if lane["lane"] == "reviewer" and
                lane["center_id"] == place.ids["CITY-A"])
    assert (lane["waiting"], lane["oldest"][:19]) == (1, task["created_at"][:19])
    preview = client.post("/api/supervisor/bulk", json={"action": "reassign", "filter": {"officer": ""},
                                                        "to": "rev_away", "dry_run": True}, headers=place.supervisor)
    assert preview.status_code == 200, preview.text
    assert [i["task_id"] for i in preview.json()["items"]] == [task["id"]]
    assert preview.json()["items"][0]["ok"] is False  # away: refused before anything is written
    for to, message in (("rev_away", "assignment.officer_away"), ("rev_sibling", "escalation.officer_other_center"),
                        ("clerk_x", "escalation.officer_not_in_lane")):
        r = client.post(f"/api/supervisor/tasks/{task['id']}/reassign", json={"to": to}, headers=place.supervisor)
        assert r.status_code == 422 and r.json()["message_id"] == message, (to, r.text)
    assert place.tick().assigned == 0  # still nobody
    place.user("rev_new", "reviewer")
    assert place.tick().assigned == 1
    assert client.get(f"/api/tasks/{task['id']}", headers=place.supervisor).json()["assigned_to"] == "rev_new"
    replay = client.get(f"/api/cases/{task['case_id']}/replay", headers=place.api.user("auditor")).json()
    assert replay["consistent"] is True, replay


def test_database_trouble_while_a_rule_is_saved_is_not_a_conflict(place: Place,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A lost connection or a locked file at the commit is database trouble (run again, else 503), not the 409 of
    two supervisors setting the rule at the same moment."""
    real = Session.commit
    failed: list[bool] = []

    def once(self: Session) -> None:
        if not failed:
            failed.append(True)
            locked = sqlite3.OperationalError("database is locked")
            raise OperationalError("COMMIT", {}, locked) from locked  # as SQLAlchemy raises it
        real(self)

    monkeypatch.setattr(Session, "commit", once)
    r = place.rule("reviewer", "round_robin")
    assert failed and r.status_code == 200, r.text  # run once more by the API, and saved
    rules = place.api.client.get("/api/centers/CITY-A/assignment", headers=place.supervisor).json()
    assert [(x["lane"], x["rule"]) for x in rules] == [("reviewer", "round_robin")]
