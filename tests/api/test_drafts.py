"""Analysts' drafts through the API: read, save (overwrite, stale copies refused), validate (a report with
element names, Arabic and fixes), publish (the deploy's own path: same files, same version; tests first).
Drafts never run: a case opened while a draft is saved starts on the newest published version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from cli.main import main
from engine.catalog import drafts, processes
from engine.catalog.packages import read_package
from engine.core.errors import Conflict
from engine.core.settings import get_settings
from engine.people.users import Actor
from harness.api import Api
from storage.db import engine_for
from tests.support.audit import SERVICE, People, deploy

URL = "/api/services/audit_case/draft"
BPMN = "audit_case.bpmn"


def _files() -> dict[str, str]:
    return processes.encode_files(read_package(SERVICE))


def _renamed(files: dict[str, str], title: str = "Hand the permit over") -> dict[str, str]:
    out = dict(files)
    out[BPMN] = out[BPMN].replace('name="Hand over"', f'name="{title}"')
    assert out[BPMN] != files[BPMN]
    return out


def _save(api: Api, who: dict[str, str], files: dict[str, str], revision: int) -> Any:
    return api.client.put(URL, json={"files": files, "revision": revision}, headers=who)


def test_refusals_of_every_draft_route(api: Api) -> None:
    deploy(api)
    analyst, clerk = api.user("analyst"), api.user("front_desk")
    body = {"files": _files(), "revision": 0}
    calls = [("get", URL, None), ("put", URL, body), ("post", URL + "/validate", {"files": _files()}),
             ("post", URL + "/publish", None)]
    for method, url, payload in calls:
        assert api.client.request(method, url, json=payload).status_code == 401, url
        assert api.client.request(method, url, json=payload, headers=clerk).status_code == 403, url
    assert api.client.get("/api/services/nope/draft", headers=analyst).status_code == 404
    assert api.client.put("/api/services/nope/draft", json=body, headers=analyst).status_code == 404
    r = api.client.post(URL + "/publish", headers=analyst)
    assert r.status_code == 404 and "no saved draft" in r.json()["detail"]
    bad = _save(api, analyst, {**_files(), "../evil.bpmn": "<x/>"}, 0)
    assert bad.status_code == 422 and bad.json()["detail"][0]["file"] == "../evil.bpmn"
    bad = _save(api, analyst, {**_files(), "..\\evil.json": "{}"}, 0)
    assert bad.status_code == 422 and bad.json()["detail"][0]["file"] == "..\\evil.json"
    assert _save(api, analyst, {"service.toml": _files()["service.toml"]}, 0).status_code == 422
    assert api.client.put(URL, json={"files": _files()}, headers=analyst).status_code == 422  # no revision


def test_saves_overwrite_and_a_stale_copy_is_refused(api: Api) -> None:
    deploy(api)
    first, second = api.user("analyst", username="analyst_amal"), api.user("admin", username="admin_omar")
    r = api.client.get(URL, headers=first)
    assert r.status_code == 200
    opened = r.json()
    assert (opened["revision"], opened["base_version"], opened["published_version"]) == (0, 1, 1)
    assert opened["files"] == _files()

    r = _save(api, first, _renamed(opened["files"]), 0)
    assert r.status_code == 200, r.text
    assert (r.json()["revision"], r.json()["saved_by"], r.json()["published_version"]) == (1, "analyst_amal", None)
    r = _save(api, second, _renamed(opened["files"], "Deliver"), 1)
    assert (r.status_code, r.json()["revision"], r.json()["saved_by"]) == (200, 2, "admin_omar")
    r = _save(api, first, _renamed(opened["files"], "Mine"), 1)  # amal's copy is stale: omar saved since
    assert r.status_code == 409 and "admin_omar" in r.json()["detail"]
    again = api.client.get(URL, headers=first).json()
    assert again["revision"] == 2 and 'name="Deliver"' in again["files"][BPMN]


def test_validate_reports_the_gateway_with_its_name_arabic_and_fix(api: Api) -> None:
    deploy(api)
    analyst = api.user("analyst")
    r = api.client.post(URL + "/validate", json={"files": _files()}, headers=analyst)
    assert r.status_code == 200 and r.json() == {"service_code": "audit_case", "valid": True, "problems": []}

    files = _files()
    files[BPMN] = (files[BPMN].replace(' default="f_reject"', "")
                   .replace('<bpmn:conditionExpression>decision == "return"</bpmn:conditionExpression>', ""))
    r = api.client.post(URL + "/validate", json={"files": files}, headers=analyst)
    assert r.status_code == 200
    body = r.json()
    assert body["valid"] is False
    assert body["problems"] == [{
        "file": BPMN, "element_id": "decision", "element_name": "Decision?", "element_type": "exclusiveGateway",
        "message": "this exclusive gateway 'Decision?' has 2 outgoing flows without a condition and no default "
                   "flow, so it cannot choose between them",
        "message_ar": "لهذه البوابة 'Decision?' 2 مسارات خارجة بلا شرط ولا مسار افتراضي",
        "fix": "add a condition to each outgoing flow, or mark one flow as the gateway's default",
        "fix_ar": "أضف شرطًا لكل مسار خارج، أو اجعل أحدها المسار الافتراضي للبوابة"}]

    files = _files()
    files[BPMN] = files[BPMN].replace('<bpmn:userTask id="hand_over" name="Hand over">',
                                      '<bpmn:serviceTask id="hand_over" name="Hand over">').replace(
        '</bpmn:userTask>\n    <bpmn:endEvent id="end_approved"',
        '</bpmn:serviceTask>\n    <bpmn:endEvent id="end_approved"')
    r = api.client.post(URL + "/validate", json={"files": files}, headers=analyst)
    problems = r.json()["problems"]
    assert [(p["element_id"], p["element_name"]) for p in problems] == [("hand_over", "Hand over")], problems
    assert problems[0]["message_ar"] and problems[0]["fix_ar"] and problems[0]["fix"].startswith("make it a user")


def test_publish_is_the_deploy_same_files_same_version_tests_first(api: Api) -> None:
    deploy(api)
    people = People(api)
    analyst = api.user("analyst")
    files = _files()
    assert _save(api, analyst, files, 0).status_code == 200
    r = api.client.post(URL + "/publish", headers=analyst)
    assert (r.status_code, r.json()["version"], r.json()["created"]) == (200, 1, False)  # unchanged: version 1

    changed = _renamed(files)
    paths = [{"name": "rejected_at_once", "steps": [
        {"task": "register", "lane": "front_desk", "data": {"area": 120, "purpose": "a house"}},
        {"task": "review", "lane": "reviewer", "data": {"decision": "reject", "notes": "no"}}],
        "end_event": "end_approved"}]
    assert _save(api, analyst, {**changed, "paths.json": json.dumps(paths)}, 1).status_code == 200
    r = api.client.post(URL + "/publish", headers=analyst)
    assert r.status_code == 422
    assert r.json()["detail"][0]["element_id"] == "rejected_at_once"
    assert "ended at 'end_rejected', not at 'end_approved'" in r.json()["detail"][0]["message"]

    assert _save(api, analyst, changed, 2).status_code == 200
    # Drafts never run: a case opened now starts on version 1.
    case = api.open_case("audit_case", people.clerk).json()
    assert case["process_version"] == 1
    r = api.client.post(URL + "/publish", headers=analyst)
    assert r.status_code == 201, r.text
    published = r.json()
    assert (published["version"], published["created"]) == (2, True)
    assert api.open_case("audit_case", people.clerk).json()["process_version"] == 2
    # The command line's deploy of the same files finds the same version.
    with Session(engine_for(api.settings.database_url)) as session:
        row, created = processes.deploy(session=session, files=processes.decode_files(changed),
                                        actor=Actor("cli", frozenset({"admin"})), settings=api.settings)
    assert (row.version, row.sha256, created) == (2, published["sha256"], False)


def test_publish_refuses_a_stale_draft_and_another_service(api: Api) -> None:
    deploy(api)
    amal, omar = api.user("analyst"), api.user("analyst")
    files = _files()
    assert _save(api, amal, _renamed(files), 0).status_code == 200  # amal starts from version 1
    r = api.deploy(SERVICE, omar)  # unchanged files: still version 1, nothing new
    assert r.json()["version"] == 1
    folder_files = {**_renamed(files, "Given")}
    with Session(engine_for(api.settings.database_url)) as session:
        processes.deploy(session=session, files=processes.decode_files(folder_files),
                         actor=Actor("omar", frozenset({"analyst"})), settings=api.settings)  # version 2
    r = api.client.post(URL + "/publish", headers=amal)
    assert r.status_code == 409 and "version 2 was published after this draft" in r.json()["detail"]

    other = api.client.get(URL, headers=amal).json()
    toml = other["files"]["service.toml"].replace('code = "audit_case"', 'code = "another_case"')
    assert _save(api, amal, {**other["files"], "service.toml": toml}, other["revision"]).status_code == 200
    r = api.client.post(URL + "/publish", headers=amal)
    assert r.status_code == 422 and "another_case" in r.json()["detail"][0]["message"]
    assert api.client.get("/api/services/another_case/draft", headers=amal).status_code == 404  # nothing deployed


def test_the_command_line_and_the_modeler_give_one_version(sqlite_api: Api, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The modeler publishes; the folder holding the same files, deployed by `shubbak processes deploy`, is
    the same version; then the other way round: the command line first, the modeler's publish finds it."""
    api = sqlite_api
    monkeypatch.setenv("SHUBBAK_DATABASE_URL", api.settings.database_url)
    get_settings.cache_clear()
    try:
        deploy(api)
        analyst = api.user("analyst")
        changed = _renamed(_files())
        assert _save(api, analyst, changed, 0).status_code == 200
        r = api.client.post(URL + "/publish", headers=analyst)
        assert (r.status_code, r.json()["version"]) == (201, 2)
        folder = _write(tmp_path / "v2", changed)
        assert main(["processes", "deploy", str(folder)]) == 0
        assert capsys.readouterr().out.split() == ["unchanged", "audit_case", "v2", f"({r.json()['sha256'][:12]})"]

        third = _renamed(_files(), "Give the permit")
        assert main(["processes", "deploy", str(_write(tmp_path / "v3", third))]) == 0
        assert capsys.readouterr().out.split()[:3] == ["deployed", "audit_case", "v3"]
        assert _save(api, analyst, third, 1).status_code == 200
        r = api.client.post(URL + "/publish", headers=analyst)
        assert (r.status_code, r.json()["version"], r.json()["created"]) == (200, 3, False)
    finally:
        get_settings.cache_clear()


def _write(folder: Path, files: dict[str, str]) -> Path:
    """A service folder as processes/ holds it: forms under forms/."""
    for name, text in files.items():
        path = folder / ("forms" if name.endswith(".json") and name != "paths.json" else "") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def test_unreadable_or_too_deeply_nested_files_are_refused_by_name_not_a_server_error(api: Api) -> None:
    deploy(api)
    analyst = api.user("analyst")
    bad = {**_files(), BPMN: "base64:a"}  # not base64: one character too many
    for r in (_save(api, analyst, bad, 0), api.client.post(URL + "/validate", json={"files": bad}, headers=analyst)):
        assert r.status_code == 422 and r.json()["detail"][0]["file"] == BPMN, r.text

    deep = "[" * 100_000  # json and tomllib recurse: nesting this deep raised RecursionError
    schema = '{"properties": {"a": ' * 400 + "{}" + "}}" * 400  # checking this schema recursed as deep
    for name, content, words in [("paths.json", deep, "not valid JSON"), ("deep.json", deep, "not valid JSON"),
                                 ("deep.json", schema, "nested too deeply"),
                                 ("service.toml", "a = " + deep, "not valid TOML")]:
        r = api.client.post(URL + "/validate", json={"files": {**_files(), name: content}}, headers=analyst)
        assert r.status_code == 200, (name, r.text)
        problems = r.json()["problems"]
        assert [p["file"] for p in problems] == [name] and words in problems[0]["message"], problems


def test_a_save_made_while_another_is_under_way_is_refused_not_lost(api: Api,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Amal and Omar both opened revision 1; Omar's save lands between Amal's read of the draft and her write.
    Amal's save must be refused: writing over revision 2 would lose Omar's work without a word."""
    deploy(api)
    assert _save(api, api.user("analyst"), _renamed(_files(), "First"), 0).status_code == 200
    amal, omar = Actor("amal", frozenset({"analyst"})), Actor("omar", frozenset({"analyst"}))
    db = engine_for(api.settings.database_url)
    newest = drafts._newest
    between: list[int] = []

    def omar_saves_meanwhile(session: Session, service_code: str) -> Any:
        if not between:  # Amal has read revision 1 and is about to write
            between.append(0)
            with Session(db) as other:
                between.append(drafts.save_draft(session=other, service_code=service_code, files=omars,
                                                 revision=1, actor=omar, settings=api.settings).revision)
        return newest(session, service_code)

    omars = processes.decode_files(_renamed(_files(), "Omar's"))
    monkeypatch.setattr(drafts, "_newest", omar_saves_meanwhile)
    with Session(db) as session, pytest.raises(Conflict):
        drafts.save_draft(session=session, service_code="audit_case",
                          files=processes.decode_files(_renamed(_files(), "Amal's")), revision=1, actor=amal,
                          settings=api.settings)
    assert between == [0, 2]
    kept = api.client.get(URL, headers=api.user("analyst")).json()
    assert (kept["revision"], kept["saved_by"]) == (2, "omar") and "Omar's" in kept["files"][BPMN]


def test_a_draft_may_be_as_large_as_a_deploy_not_larger(api: Api) -> None:
    """The API's draft routes take a whole service's files, like ``/api/processes`` and the modeler's calls:
    a body over the ordinary request limit is read (and judged on its content), one over the deploy limit is 413."""
    deploy(api)
    analyst = api.user("analyst")
    files = _files()
    padding = api.settings.max_request_bytes + 1024
    assert padding < api.settings.max_deploy_bytes
    files[BPMN] = files[BPMN].replace("</bpmn:definitions>", "<!--" + "x" * padding + "--></bpmn:definitions>")
    r = api.client.post(URL + "/validate", json={"files": files}, headers=analyst)
    assert r.status_code == 200, r.text
    over = {"files": {BPMN: "x" * (api.settings.max_deploy_bytes + 1)}, "revision": 0}
    assert api.client.put(URL, json=over, headers=analyst).status_code == 413
