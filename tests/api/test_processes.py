"""Deploying process versions: content-addressed, immutable, refused whole when they cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.catalog.packages import read_package
from harness.api import Api
from harness.settings import TEST_PROCESSES

PERMIT = TEST_PROCESSES / "test_permit"


def _files(folder: Path, **replace: bytes) -> list[tuple[str, tuple[str, bytes]]]:
    files = read_package(folder)
    files.update(replace)
    return [("files", (name, content)) for name, content in files.items()]


def test_deploy_then_same_content_returns_existing_version(api: Api) -> None:
    analyst = api.user("analyst")
    first = api.deploy(PERMIT, analyst)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["service_code"] == "test_permit" and body["process_id"] == "test_permit"
    assert body["version"] == 1 and len(body["sha256"]) == 64
    again = api.deploy(PERMIT, analyst)
    assert again.status_code == 200
    assert again.json()["sha256"] == body["sha256"] and again.json()["version"] == 1


def test_changed_content_is_a_new_version_and_old_cases_stay_pinned(api: Api) -> None:
    analyst, clerk = api.user("analyst"), api.user("front_desk")
    assert api.deploy(PERMIT, analyst).status_code == 201
    old_case = api.open_case("test_permit", clerk).json()
    bpmn = (PERMIT / "test_permit.bpmn").read_bytes().replace(b"area * 2.5", b"area * 3")
    r = api.client.post("/api/processes", files=_files(PERMIT, **{"test_permit.bpmn": bpmn}), headers=analyst)
    assert r.status_code == 201
    assert r.json()["version"] == 2
    new_case = api.open_case("test_permit", clerk).json()
    assert old_case["process_version"] == 1 and new_case["process_version"] == 2
    old = api.complete(old_case["tasks"][0]["id"], {"area": 10, "purpose": "shop"}, clerk).json()
    new = api.complete(new_case["tasks"][0]["id"], {"area": 10, "purpose": "shop"}, clerk).json()
    assert old["data"]["fee"] == 25.0
    assert new["data"]["fee"] == 30.0
    listed = api.client.get("/api/processes", headers=analyst).json()
    assert [(p["service_code"], p["version"]) for p in listed] == [("test_permit", 1), ("test_permit", 2)]


def test_services_list_shows_names_and_sla(api: Api) -> None:
    api.deploy(PERMIT, api.user("analyst"))
    services = api.client.get("/api/services", headers=api.user("front_desk")).json()
    assert services == [{
        "service_code": "test_permit", "process_id": "test_permit", "version": 1,
        "name": {"ar": "ترخيص تجريبي", "en": "Test permit"}, "agency": {"ar": "جهة تجريبية", "en": "Test agency"},
        "sla_days": 10.0, "fee": {"currency": "EGP", "amount": 10.0, "decision": None, "partial": False},
        "documents": [], "lanes": ["front_desk", "reviewer"]}]


def test_only_analysts_and_admins_deploy(api: Api) -> None:
    r = api.deploy(PERMIT, api.user("front_desk"))
    assert r.status_code == 403
    assert api.deploy(PERMIT, api.user("admin")).status_code == 201


def test_service_code_comes_from_process_id_without_service_toml(api: Api) -> None:
    files = [f for f in _files(PERMIT) if f[1][0] != "service.toml"]
    r = api.client.post("/api/processes", files=files, headers=api.user("analyst"))
    assert r.status_code == 201
    assert r.json()["service_code"] == "test_permit"


def test_missing_form_is_refused_naming_the_task(api: Api) -> None:
    files = [f for f in _files(PERMIT) if f[1][0] != "review.json"]
    r = api.client.post("/api/processes", files=files, headers=api.user("analyst"))
    assert r.status_code == 422
    assert r.json()["detail"] == [{"file": "test_permit.bpmn", "element_id": "review",
                                   "message": "the task's form 'review.json' was not sent with the diagram",
                                   "message_ar": "نموذج المهمة 'review.json' لم يُرسل مع المخطط"}]
    assert api.client.get("/api/processes", headers=api.user("analyst")).json() == []


@pytest.mark.parametrize(("found", "written", "element_id", "words"), [
    pytest.param(b"fee = round_money(area * 2.5)", b"import os\nfee = 1", "compute_fee", "import",
                 id="unsafe_script"),
    pytest.param(b'decision == "approve"', b"decision.__class__ is str", "f_approve", "__class__",
                 id="dunder_condition"),
])
def test_unsafe_code_is_refused_at_deploy(api: Api, found: bytes, written: bytes, element_id: str,
                                          words: str) -> None:
    bpmn = (PERMIT / "test_permit.bpmn").read_bytes().replace(found, written)
    r = api.client.post("/api/processes", files=_files(PERMIT, **{"test_permit.bpmn": bpmn}),
                        headers=api.user("analyst"))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail[0]["file"] == "test_permit.bpmn" and detail[0]["element_id"] == element_id
    assert words in detail[0]["message"]


def test_invalid_form_schema_and_bad_service_toml_are_refused(api: Api) -> None:
    r = api.client.post("/api/processes", headers=api.user("analyst"), files=_files(
        PERMIT, **{"review.json": b'{"type": "object", "properties": {"x": {"type": "no-such-type"}}}',
                   "service.toml": b'code = "test_permit"\nsla_days = -1\n'}))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert {d["file"] for d in detail} == {"review.json", "service.toml"}
    assert any(d["element_id"] == "sla_days" for d in detail)


def test_no_executable_process_is_refused(api: Api) -> None:
    bpmn = (PERMIT / "test_permit.bpmn").read_bytes().replace(b'isExecutable="true"', b'isExecutable="false"')
    r = api.client.post("/api/processes", files=_files(PERMIT, **{"test_permit.bpmn": bpmn}),
                        headers=api.user("analyst"))
    assert r.status_code == 422
    assert "executable" in r.json()["detail"][0]["message"]
