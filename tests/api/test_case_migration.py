"""Migrating open cases to a newer version: a dry run says who can move and why not; each case moves whole
or not at all, with an audit event; moved cases walk on the new version, the others keep working on the old."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from cli.main import main
from engine.bpmn import diff as bpmn_migrate
from engine.cases import workflows
from engine.cases.workflows import LOST_RACE
from engine.core.refusals import say
from engine.core.settings import get_settings
from harness.api import Api
from tests.support.audit import APPROVE, REGISTER, RETURN, People, deploy, events, step
from tests.support.versions import second_version


def _case(api: Api, case_id: int, who: dict[str, str]) -> dict[str, Any]:
    r = api.client.get(f"/api/cases/{case_id}", headers=who)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _open_four(api: Api, people: People) -> dict[str, dict[str, Any]]:
    """Cases at different steps: before registration, at review, past the decision (twice)."""
    opened = {name: api.open_case("audit_case", people.clerk).json() for name in ("new", "review", "approved",
                                                                                 "returned")}
    opened["review"] = step(api, opened["review"], REGISTER, people.clerk)
    opened["approved"] = step(api, step(api, opened["approved"], REGISTER, people.clerk), APPROVE, people.reviewer)
    opened["returned"] = step(api, step(api, opened["returned"], REGISTER, people.clerk), RETURN, people.reviewer)
    return opened


def _migrate(api: Api, who: dict[str, str], *, dry_run: bool, to: int = 2) -> Any:
    return api.client.post("/api/services/audit_case/migrations", json={"to_version": to, "dry_run": dry_run},
                           headers=who)


DECISION_CHANGED = ("'decision', already done, changed in the new version (conditions, outgoing flows); "
                    "'review', already done, changed in the new version (name)")
DECISION_CHANGED_AR = ("'decision' أُنجز وتغيّر في الإصدار الجديد (الشروط، المسارات الخارجة)؛ "
                       "'review' أُنجز وتغيّر في الإصدار الجديد (الاسم)")


def _why(head: str) -> list[str]:
    """A status line of the command line with its reason in Arabic, and the English under it (cli/refusals.py)."""
    return [f"{head}: {DECISION_CHANGED_AR}", " " * (len(head) + 2) + DECISION_CHANGED]


def test_dry_run_then_migrate(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deploy(api)
    people = People(api)
    analyst = api.user("analyst")
    cases = _open_four(api, people)
    ids = {name: c["id"] for name, c in cases.items()}
    second_version(api, tmp_path)

    r = _migrate(api, analyst, dry_run=True)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["dry_run"], body["moved"], body["not_moved"]) == (True, 0, 4)
    by_id = {c["case_id"]: c for c in body["cases"]}
    assert list(by_id) == sorted(ids.values())
    assert {name: (by_id[i]["movable"], by_id[i]["from_version"]) for name, i in ids.items()} == {
        "new": (True, 1), "review": (True, 1), "approved": (False, 1), "returned": (False, 1)}
    assert by_id[ids["new"]]["reason"] is None
    assert by_id[ids["approved"]]["reason"] == DECISION_CHANGED
    assert by_id[ids["returned"]]["reason"] == DECISION_CHANGED
    assert by_id[ids["approved"]]["tracking_number"] == cases["approved"]["tracking_number"]
    assert all(_case(api, i, people.admin)["process_version"] == 1 for i in ids.values())  # a dry run moves nothing

    # The new case fails half-way through its save (after its row was updated): it must stay whole.
    real_sync = workflows._sync_tasks

    def failing_sync(conn: Any, case: Any, *args: Any) -> None:
        if case.id == ids["new"]:
            raise RuntimeError("the disk is full")
        real_sync(conn, case, *args)

    monkeypatch.setattr(workflows, "_sync_tasks", failing_sync)
    before = _case(api, ids["new"], people.admin)
    before_events = events(api, ids["new"], people.auditor)
    r = _migrate(api, analyst, dry_run=False)
    monkeypatch.undo()
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["dry_run"], body["moved"], body["not_moved"]) == (False, 1, 3)
    outcome = {c["case_id"]: (c["movable"], c["moved"], c["reason"]) for c in body["cases"]}
    assert outcome == {ids["new"]: (True, False, "RuntimeError: the disk is full"),
                       ids["review"]: (True, True, None),
                       ids["approved"]: (False, False, DECISION_CHANGED),
                       ids["returned"]: (False, False, DECISION_CHANGED)}
    assert _case(api, ids["new"], people.admin) == before
    assert events(api, ids["new"], people.auditor) == before_events

    # The moved case: on v2, with its event, its inbox row retitled, and it walks v2's new step to the end.
    moved = _case(api, ids["review"], people.reviewer)
    assert moved["process_version"] == 2
    assert [(t["id"], t["title"]) for t in moved["tasks"]] == [(cases["review"]["tasks"][0]["id"],
                                                               "Review the request")]
    inbox = api.client.get("/api/tasks", headers=people.reviewer).json()
    assert {t["title"] for t in inbox if t["case_id"] == ids["review"]} == {"Review the request"}
    trail = events(api, ids["review"], people.auditor)
    assert [e["kind"] for e in trail] == ["case_opened", "task_completed", "case_migrated"]
    v1, v2 = api.client.get("/api/processes?service_code=audit_case", headers=analyst).json()
    assert trail[-1]["data"] == {"from_version": 1, "to_version": 2, "from_sha256": v1["sha256"],
                                 "to_sha256": v2["sha256"]}
    case = step(api, moved, APPROVE, people.reviewer)
    assert [t["name"] for t in case["tasks"]] == ["double_check"]
    case = step(api, step(api, case, {}, people.reviewer), {}, people.clerk)
    assert (case["status"], case["outcome"], case["process_version"]) == ("completed", "end_approved", 2)
    replayed = api.client.get(f"/api/cases/{ids['review']}/replay", headers=people.auditor).json()
    assert replayed == {"consistent": True, "events_replayed": 7, "divergence": None}

    # The others keep working on v1: no double-check for them.
    case = step(api, step(api, _case(api, ids["new"], people.clerk), REGISTER, people.clerk), APPROVE,
                people.reviewer)
    assert [t["name"] for t in case["tasks"]] == ["hand_over"]
    case = step(api, _case(api, ids["approved"], people.clerk), {}, people.clerk)
    assert (case["status"], case["process_version"]) == ("completed", 1)

    # A second run lists only the open cases still on v1; none can move now.
    again = _migrate(api, analyst, dry_run=False).json()
    assert [(c["case_id"], c["moved"]) for c in again["cases"]] == [(ids["new"], False), (ids["returned"], False)]
    assert again["cases"][0]["reason"] == DECISION_CHANGED


def test_migration_refusals(api: Api, tmp_path: Path) -> None:
    deploy(api)
    people = People(api)
    analyst = api.user("analyst")
    assert _migrate(api, people.clerk, dry_run=True).status_code == 403
    assert _migrate(api, api.user("auditor"), dry_run=False).status_code == 403
    r = _migrate(api, analyst, dry_run=True, to=7)
    assert r.status_code == 404
    assert r.json()["detail"] == "the service 'audit_case' has no version 7"
    assert _migrate(api, analyst, dry_run=True, to=0).status_code == 422
    r = api.client.post("/api/services/audit_case/migrations", json={"to_version": 1, "later": True},
                        headers=analyst)
    assert r.status_code == 422
    assert _migrate(api, analyst, dry_run=True, to=1).json()["cases"] == []
    second_version(api, tmp_path)
    assert api.client.post("/api/services/audit_case/versions/2/retire", headers=analyst).status_code == 200
    r = _migrate(api, analyst, dry_run=True)
    assert r.status_code == 409
    assert r.json()["detail"] == "version 2 of 'audit_case' is retired: cases cannot move to it"


@pytest.fixture
def cli_db(sqlite_api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("SHUBBAK_DATABASE_URL", sqlite_api.settings.database_url)
    get_settings.cache_clear()
    yield sqlite_api
    get_settings.cache_clear()


def test_cli_migrate(cli_db: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api = cli_db
    deploy(api)
    people = People(api)
    cases = _open_four(api, people)
    second_version(api, tmp_path)
    number = {name: c["tracking_number"] for name, c in cases.items()}

    assert main(["processes", "migrate", "audit_case", "--to", "2", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"  movable {number['new']} v1 -> v2", f"  movable {number['review']} v1 -> v2",
        *_why(f"    stays {number['approved']} v1 -> v2"), *_why(f"    stays {number['returned']} v1 -> v2")]
    assert all(_case(api, c["id"], people.admin)["process_version"] == 1 for c in cases.values())

    assert main(["processes", "migrate", "audit_case", "--to", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"    moved {number['new']} v1 -> v2", f"    moved {number['review']} v1 -> v2",
        *_why(f"NOT MOVED {number['approved']} v1 -> v2"), *_why(f"NOT MOVED {number['returned']} v1 -> v2"),
        "2 case(s) moved to v2, 2 not moved"]
    trail = events(api, cases["review"]["id"], people.auditor)
    assert trail[-1]["kind"] == "case_migrated" and trail[-1]["actor"] == "cli"

    assert main(["processes", "migrate", "audit_case", "--to", "9"]) == 1
    assert "error [service.no_version]: the service 'audit_case' has no version 9" in capsys.readouterr().err


def test_a_case_changed_during_its_move_is_not_moved(api: Api, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    deploy(api)
    people = People(api)
    at_review = step(api, api.open_case("audit_case", people.clerk).json(), REGISTER, people.clerk)
    second_version(api, tmp_path)
    real_migrate = bpmn_migrate.migrate

    def meanwhile(workflow: Any, process: Any) -> list[str]:
        # The reviewer decides while the case is being moved: the move must lose, not overwrite the decision.
        assert api.complete(at_review["tasks"][0]["id"], APPROVE, people.reviewer).status_code == 200
        return real_migrate(workflow, process)

    monkeypatch.setattr(bpmn_migrate, "migrate", meanwhile)
    body = _migrate(api, api.user("analyst"), dry_run=False).json()
    monkeypatch.undo()
    assert [(c["movable"], c["moved"], c["reason"]) for c in body["cases"]] == [(True, False, say(LOST_RACE))]
    case = _case(api, at_review["id"], people.clerk)
    assert (case["process_version"], [t["name"] for t in case["tasks"]]) == (1, ["hand_over"])
    assert [e["kind"] for e in events(api, at_review["id"], people.auditor)][-1] == "task_completed"


def test_database_trouble_while_moving_is_a_503_and_a_database_error_names_no_values(
        api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trouble (a locked file, a lost connection) is the database's, not the case's: the request is a 503 (after
    one more try), never a "not moved" with the error's text. Another database error is named by its class only:
    its text would carry the statement's values, citizens' details among them."""
    deploy(api)
    people = People(api)
    analyst = api.user("analyst")
    cases = _open_four(api, people)
    second_version(api, tmp_path)
    real_sync = workflows._sync_tasks
    failure: list[BaseException] = []

    def failing_sync(conn: Any, case: Any, *args: Any) -> None:
        if case.id == cases["new"]["id"] and failure:
            raise failure[0]
        real_sync(conn, case, *args)

    monkeypatch.setattr(workflows, "_sync_tasks", failing_sync)
    locked = sqlite3.OperationalError("database is locked")
    try:
        raise OperationalError("UPDATE task", {"citizen": "Mona 01001234567"}, locked) from locked
    except OperationalError as exc:
        failure.append(exc)
    r = _migrate(api, analyst, dry_run=False)
    assert r.status_code == 503 and r.headers["retry-after"], r.text
    assert "01001234567" not in r.text
    assert _case(api, cases["new"]["id"], people.admin)["process_version"] == 1

    failure[0] = IntegrityError("INSERT INTO task", {"citizen": "Mona 01001234567"}, Exception("duplicate"))
    r = _migrate(api, analyst, dry_run=False)
    assert r.status_code == 200, r.text
    outcome = {c["case_id"]: (c["moved"], c["reason"]) for c in r.json()["cases"]}
    assert outcome[cases["new"]["id"]] == (False, "IntegrityError")
    assert outcome[cases["review"]["id"]] == (True, None)
    assert "01001234567" not in r.text
