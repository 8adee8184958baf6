"""Analysts' pages: the services, a service's versions and what changed, retiring, the migration's dry run and
its per-case results, and the modeler's calls (draft, save, validate with problems on elements, form preview,
publish). Every page is refused to readers who are not analysts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlmodel import Session, select

from engine.catalog import processes
from harness.api import Api
from harness.pages import Pages
from storage.db import engine_for
from storage.models.audit import AuditEvent
from storage.models.cases import Case
from storage.models.catalog import ProcessVersion
from tests.support.audit import APPROVE, REGISTER, People, deploy, step
from tests.support.versions import second_version

_DATA_CSRF = re.compile(r'data-csrf="([^"]+)"')


def _csrf(pages: Pages, code: str = "audit_case") -> str:
    found = _DATA_CSRF.search(pages.client.get(f"/services/{code}/modeler").text)
    assert found is not None
    return found.group(1)


def test_only_analysts_and_admins_open_the_pages(pages: Pages) -> None:
    api = Api(pages.client, pages.settings)
    deploy(api)
    r = pages.client.get("/services")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    pages.as_user("front_desk")
    for path in ("/services", "/services/audit_case", "/services/audit_case/modeler",
                 "/services/audit_case/migrations", "/services/audit_case/draft.json"):
        assert pages.client.get(path).status_code == 403, path
    assert 'href="/services"' not in pages.client.get("/cases").text
    pages.as_user("analyst")
    r = pages.client.get("/services")
    assert r.status_code == 200
    assert 'href="/services/audit_case"' in r.text and "طلب خاضع للمراجعة" in r.text
    assert pages.client.get("/services/nope").status_code == 404
    assert pages.client.get("/services/nope/modeler").status_code == 404


def test_versions_diff_and_retiring(pages: Pages, tmp_path: Path) -> None:
    api = Api(pages.client, pages.settings)
    deploy(api)
    second_version(api, tmp_path)
    pages.as_user("analyst", full_name="أمل")
    page = pages.client.get("/services/audit_case").text
    rows = re.findall(r'<tr data-version="(\d+)">(.*?)</tr>', page, re.S)
    assert [v for v, _ in rows] == ["2", "1"]
    assert all("نشط" in row for _, row in rows) and "فتح في محرر النماذج" in page
    page = pages.client.get("/services/audit_case?a=1&b=2").text
    table = page[page.index('id="diff"'):]
    assert re.search(r'<tr class="added">.*?double_check</td><td>Double-check</td>', table, re.S)
    assert re.search(r'<tr class="changed">.*?review</td><td>Review the request</td><td dir="ltr">userTask</td>'
                     r'<td dir="ltr">name</td>', table, re.S)
    r = pages.post("/services/audit_case/versions/2/retire", {}, token_from="/services/audit_case")
    assert r.status_code == 303
    page = pages.client.get("/services/audit_case").text
    assert "الإصدار 2 متوقف" in page and "متوقف" in re.findall(r'<tr data-version="2">(.*?)</tr>', page, re.S)[0]
    with Session(engine_for(pages.settings.database_url)) as session:
        assert processes.latest_version(session, "audit_case").version == 1  # new cases: version 1 again
    assert pages.post("/services/nope/retire", {}, token_from="/services/audit_case").status_code == 404


def test_dry_run_then_migrate_all_movable(pages: Pages, tmp_path: Path) -> None:
    api = Api(pages.client, pages.settings)
    deploy(api)
    people = People(api)
    waiting = step(api, api.open_case("audit_case", people.clerk).json(), REGISTER, people.clerk)
    decided = step(api, step(api, api.open_case("audit_case", people.clerk).json(), REGISTER, people.clerk),
                   APPROVE, people.reviewer)
    second_version(api, tmp_path)
    pages.as_user("analyst")
    page = pages.client.get("/services/audit_case/migrations?to=2").text
    assert "يمكن نقل 1 من 2 من الطلبات المفتوحة" in page
    rows = dict(re.findall(r'<tr data-case="(\d+)">(.*?)</tr>', page, re.S))
    assert "<td>نعم</td>" in rows[str(waiting["id"])]
    refused = rows[str(decided["id"])]
    assert "<td>لا</td>" in refused
    assert "&#39;decision&#39; أُنجز وتغيّر في الإصدار الجديد (الشروط، المسارات الخارجة)" in refused
    r = pages.post("/services/audit_case/migrations", {"to": "2"}, token_from="/services/audit_case/migrations")
    assert r.status_code == 200
    assert "نُقل من الطلبات: 1 من 2" in r.text
    with Session(engine_for(pages.settings.database_url)) as session:
        moved = session.get(Case, waiting["id"])
        assert moved is not None
        version = session.get(ProcessVersion, moved.process_version_id)
        assert version is not None and version.version == 2
        assert session.exec(select(AuditEvent).where(AuditEvent.case_id == waiting["id"],
                                                     AuditEvent.kind == "case_migrated")).first() is not None


def test_the_modelers_calls(pages: Pages) -> None:
    api = Api(pages.client, pages.settings)
    deploy(api)
    pages.as_user("analyst")
    page = pages.client.get("/services/audit_case/modeler")
    assert page.status_code == 200
    assert "/static/vendor/bpmn-js/bpmn-modeler.production.min.js" in page.text and "<script>" not in page.text
    draft = pages.client.get("/services/audit_case/draft.json").json()
    assert draft["revision"] == 0 and "audit_case.bpmn" in draft["files"]
    files = draft["files"]
    token = _csrf(pages)
    headers = {"X-CSRF-Token": token}

    assert pages.client.post("/services/audit_case/draft", json={"files": files, "revision": 0}).status_code == 403
    r = pages.client.post("/services/audit_case/draft/validate", json={"files": files}, headers=headers)
    assert r.status_code == 200 and r.json()["problems"] == [] and "يمكن نشر الخدمة" in r.json()["message"]
    broken = {**files, "audit_case.bpmn": files["audit_case.bpmn"].replace(' default="f_reject"', "").replace(
        '<bpmn:conditionExpression>decision == "return"</bpmn:conditionExpression>', "")}
    problem = pages.client.post("/services/audit_case/draft/validate", json={"files": broken},
                                headers=headers).json()["problems"][0]
    assert (problem["element_id"], problem["element_name"], problem["kind"]) == ("decision", "Decision?",
                                                                                 "بوابة حصرية")
    assert problem["reason"].startswith("لهذه البوابة") and problem["remedy"].startswith("أضف شرطًا")

    form = json.loads(files["review.json"])
    r = pages.client.post("/services/audit_case/form-preview", json={"schema": form}, headers=headers)
    assert r.status_code == 200 and 'name="data.decision"' in r.text
    assert pages.client.post("/services/audit_case/form-preview", json={"schema": []}, headers=headers
                             ).status_code == 422

    changed = {**files, "audit_case.bpmn": files["audit_case.bpmn"].replace('name="Hand over"', 'name="Deliver"')}
    r = pages.client.post("/services/audit_case/draft", json={"files": changed, "revision": 0}, headers=headers)
    assert r.status_code == 200 and r.json()["revision"] == 1
    assert pages.client.post("/services/audit_case/draft", json={"files": changed, "revision": 0},
                             headers=headers).status_code == 409
    r = pages.client.post("/services/audit_case/draft/publish", json={}, headers=headers)
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["created"] is True
    assert r.json()["migrate"] == "/services/audit_case/migrations?to=2"
    r = pages.client.post("/services/audit_case/draft/publish", json={}, headers=headers)
    assert r.json()["created"] is False and "الإصدار 2" in r.json()["message"]


def test_an_english_reader_gets_the_problems_in_english(pages: Pages) -> None:
    api = Api(pages.client, pages.settings)
    deploy(api)
    pages.as_user("analyst")
    assert pages.post("/preferences", {"language": "en", "next": "/services"}, token_from="/services"
                      ).status_code == 303
    page = pages.client.get("/services/audit_case/modeler").text
    assert ">Save draft<" in page and 'lang="en"' in page
    files = pages.client.get("/services/audit_case/draft.json").json()["files"]
    broken = {**files, "audit_case.bpmn": files["audit_case.bpmn"].replace(' default="f_reject"', "").replace(
        '<bpmn:conditionExpression>decision == "return"</bpmn:conditionExpression>', "")}
    body = pages.client.post("/services/audit_case/draft/validate", json={"files": broken},
                             headers={"X-CSRF-Token": _csrf(pages)}).json()
    assert body["message"] == "Problems found: 1"
    problem = body["problems"][0]
    assert problem["kind"] == "exclusive gateway"
    assert problem["reason"].startswith("this exclusive gateway 'Decision?' has 2 outgoing flows")
    assert problem["remedy"] == "add a condition to each outgoing flow, or mark one flow as the gateway's default"


def test_the_modelers_calls_refuse_half_typed_forms_and_unreadable_files_with_a_422(pages: Pages) -> None:
    api = Api(pages.client, pages.settings)
    deploy(api)
    pages.as_user("analyst")
    headers = {"X-CSRF-Token": _csrf(pages), "Content-Type": "application/json"}
    half_typed = [{"required": 5}, {"properties": {"a": {"enum": 5}}},
                  {"properties": {"a": {"type": "string", "examples": 5}}},
                  {"properties": {"a": {"enum": ["x"], "x-enum-titles": {"ar": 5}}}}]
    for schema in half_typed:  # the live preview posts the form as the analyst types it
        r = pages.client.post("/services/audit_case/form-preview", json={"schema": schema}, headers=headers)
        assert r.status_code == 422, schema
    deep = '{"schema": ' + "[" * 50_000 + "]" * 50_000 + "}"
    assert pages.client.post("/services/audit_case/form-preview", content=deep, headers=headers).status_code == 422
    files = pages.client.get("/services/audit_case/draft.json").json()["files"]
    for text in ("base64:a", "\\ud800"):  # not base64; a lone surrogate is no UTF-8 text
        body = '{"revision": 0, "files": {"audit_case.bpmn": "' + text + '"}}'
        for path in ("/draft", "/draft/validate"):
            r = pages.client.post("/services/audit_case" + path, content=body, headers=headers)
            assert r.status_code == 422, (path, text)
    assert pages.client.get("/services/audit_case/draft.json").json()["files"] == files
