"""A service's versions: who published them and when, what changed between two, and retiring."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cli.main import main
from engine.core.settings import get_settings
from harness.api import Api
from harness.settings import ROOT
from tests.support.audit import APPROVE, REGISTER, SERVICE, People, deploy, step
from tests.support.versions import second_version


def test_versions_list_who_published_them_and_when(api: Api, tmp_path: Path) -> None:
    deploy(api)
    second_version(api, tmp_path)
    listed = api.client.get("/api/processes?service_code=audit_case", headers=api.user("auditor")).json()
    assert [v["version"] for v in listed] == [1, 2]
    assert all(v["created_by"].startswith("u") and v["created_at"] for v in listed)
    assert listed[0]["created_at"] <= listed[1]["created_at"]


def test_diff_names_elements_added_removed_and_changed(api: Api, tmp_path: Path) -> None:
    deploy(api)
    folder = second_version(api, tmp_path)
    # v3: a changed condition, a changed script, a removed element, a changed form and service.toml.
    v3 = tmp_path / "audit_case_v3"
    shutil.copytree(folder, v3)
    bpmn = v3 / "audit_case.bpmn"
    text = bpmn.read_text(encoding="utf-8").replace("area * 2.5", "area * 3")
    text = text.replace('decision == "approve"', 'decision == "approve" and fee &lt; 1000')
    bpmn.write_text(text, encoding="utf-8")
    review = v3 / "forms" / "review.json"
    review.write_text(review.read_text(encoding="utf-8").replace('"Notes"', '"Remarks"'), encoding="utf-8")
    toml = v3 / "service.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("sla_days = 10", "sla_days = 12"), encoding="utf-8")
    assert api.deploy(v3, api.user("analyst")).json()["version"] == 3

    r = api.client.get("/api/services/audit_case/versions/1/diff/2", headers=api.user("auditor"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["elements"]["added"] == [
        {"id": "double_check", "name": "Double-check", "type": "userTask", "file": "audit_case.bpmn"},
        {"id": "f_checked", "name": None, "type": "sequenceFlow", "file": "audit_case.bpmn"}]
    assert body["elements"]["removed"] == []
    changed = {c["id"]: c["changes"] for c in body["elements"]["changed"]}
    assert changed == {"f_approve": ["attributes"], "hand_over": ["content"], "review": ["name"],
                       "Lane_review": ["content"]}
    review_change = next(c for c in body["elements"]["changed"] if c["id"] == "review")
    assert (review_change["from"], review_change["to"]) == ({"name": "Review request"}, {"name": "Review the request"})
    assert body["forms"] == {"added": [], "removed": [], "changed": []}
    assert body["service"] == {}

    body = api.client.get("/api/services/audit_case/versions/2/diff/3", headers=api.user("analyst")).json()
    changed = {c["id"]: c["changes"] for c in body["elements"]["changed"]}
    assert changed == {"compute_fee": ["content"], "f_approve": ["content"]}
    fee = next(c for c in body["elements"]["changed"] if c["id"] == "compute_fee")
    assert "area * 3" in fee["to"]["content"] and "area * 2.5" in fee["from"]["content"]
    assert body["forms"] == {"added": [], "removed": [], "changed": ["review.json"]}
    assert body["service"] == {"sla_days": {"from": 10.0, "to": 12.0}}

    back = api.client.get("/api/services/audit_case/versions/3/diff/1", headers=api.user("admin")).json()
    assert [e["id"] for e in back["elements"]["removed"]] == ["double_check", "f_checked"]


def test_diff_refusals(api: Api) -> None:
    deploy(api)
    assert api.client.get("/api/services/audit_case/versions/1/diff/1",
                          headers=api.user("front_desk")).status_code == 403
    r = api.client.get("/api/services/audit_case/versions/1/diff/4", headers=api.user("analyst"))
    assert r.status_code == 404
    assert r.json()["detail"] == "the service 'audit_case' has no version 4"
    assert api.client.get("/api/services/audit_case/versions/1/diff/1",
                          headers=api.user("analyst")).json()["elements"]["changed"] == []


def test_retiring_the_newest_version_makes_the_previous_one_live(api: Api, tmp_path: Path) -> None:
    deploy(api)
    people = People(api)
    analyst = api.user("analyst")
    second_version(api, tmp_path)
    on_v2 = api.open_case("audit_case", people.clerk).json()
    assert on_v2["process_version"] == 2
    assert api.client.post("/api/services/audit_case/versions/2/retire", headers=people.clerk).status_code == 403
    r = api.client.post("/api/services/audit_case/versions/2/retire", headers=analyst)
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["retired"]) == (2, True)
    assert api.client.post("/api/services/audit_case/versions/9/retire", headers=analyst).status_code == 404
    assert api.open_case("audit_case", people.clerk).json()["process_version"] == 1
    listed = api.client.get("/api/processes?service_code=audit_case", headers=analyst).json()
    assert [(v["version"], v["retired"]) for v in listed] == [(1, False), (2, True)]
    services = api.client.get("/api/services", headers=people.clerk).json()
    assert [(s["service_code"], s["version"]) for s in services] == [("audit_case", 1)]
    # The case already on the retired version goes on to its end.
    case = step(api, step(api, on_v2, REGISTER, people.clerk), APPROVE, people.reviewer)
    assert [t["name"] for t in case["tasks"]] == ["double_check"]
    # Deploying the retired version's content again does not bring it back.
    again = api.deploy(tmp_path / "audit_case_v2", analyst)
    assert (again.status_code, again.json()["version"]) == (200, 2)
    assert api.open_case("audit_case", people.clerk).json()["process_version"] == 1


def test_a_retired_service_takes_no_new_cases_and_its_open_cases_go_on(api: Api, tmp_path: Path) -> None:
    deploy(api)
    people = People(api)
    analyst = api.user("analyst")
    open_case = api.open_case("audit_case", people.clerk).json()
    assert api.client.post("/api/services/audit_case/retire", headers=api.user("supervisor")).status_code == 403
    assert api.client.post("/api/services/nothing/retire", headers=analyst).status_code == 404
    r = api.client.post("/api/services/audit_case/retire", headers=analyst)
    assert r.status_code == 200, r.text
    assert [(v["version"], v["retired"]) for v in r.json()] == [(1, True)]
    assert api.client.get("/api/services", headers=people.clerk).json() == []
    refused = api.open_case("audit_case", people.clerk)
    assert refused.status_code == 409
    assert refused.json()["detail"] == \
        "the service 'audit_case' is retired: it takes no new cases (its open cases go on)"
    assert api.open_case("no_such_service", people.clerk).status_code == 404
    case = step(api, step(api, open_case, REGISTER, people.clerk), APPROVE, people.reviewer)
    case = step(api, case, {}, people.clerk)
    assert case["status"] == "completed"
    # A new version brings the service back.
    fresh = tmp_path / "audit_case_v2"
    shutil.copytree(SERVICE, fresh)
    (fresh / "service.toml").write_text((SERVICE / "service.toml").read_text(encoding="utf-8") + "\n# v2\n",
                                        encoding="utf-8")
    assert api.deploy(fresh, analyst).json()["version"] == 2
    assert api.open_case("audit_case", people.clerk).json()["process_version"] == 2


def test_the_command_line_and_the_api_give_the_same_version_for_the_same_files(
        sqlite_api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SHUBBAK_DATABASE_URL", sqlite_api.settings.database_url)
    get_settings.cache_clear()
    try:
        assert main(["processes", "deploy", str(ROOT / "processes" / "building_permit")]) == 0
    finally:
        get_settings.cache_clear()
    assert capsys.readouterr().out.startswith(" deployed building_permit v1 ")
    r = sqlite_api.deploy(ROOT / "processes" / "building_permit", sqlite_api.user("analyst"))
    assert (r.status_code, r.json()["version"], r.json()["created"]) == (200, 1, False)
