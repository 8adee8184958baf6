"""A citizen answers a return of their own request from the phone (engine/citizen/returns.py), tried from the
side of someone breaking it: another citizen's token, a staff token, a citizen token on staff routes, a step
that is not the citizen's, a wrong file, a file too large, a retried request, Arabic digits in the phone."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from engine.citizen import signin
from engine.messages import send
from harness.api import CITIZEN, Api
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.cases import Document
from tests.support.citizens import OTHER
from tests.support.documents import JPEG, PDF

NOTE = "أرفقت صورة البطاقة الجديدة"


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(database_url, tmp_path, max_document_bytes=4096)
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings).deployed("citizen_return")


def _returned(api: Api, citizen: dict[str, str] = CITIZEN) -> dict[str, Any]:
    """A case of ``citizen`` that the reviewer returned: it waits on the citizen's ``supply_paper``."""
    case = api.past_first_step("citizen_return", {}, api.user("front_desk")) if citizen is CITIZEN else None
    if case is None:
        opened = api.open_case("citizen_return", api.user("front_desk"), citizen=citizen).json()
        r = api.complete(opened["tasks"][0]["id"], {}, api.user("front_desk"))
        case = r.json()
    review = case["tasks"][0]
    r = api.complete(review["id"], {"decision": "return", "notes": "صورة البطاقة غير واضحة"}, api.user("reviewer"))
    assert r.status_code == 200, r.text
    case = r.json()
    assert [(t["name"], t["lane"]) for t in case["tasks"]] == [("supply_paper", "citizen")]
    return dict(case)


def _bearer(api: Api, phone: str = CITIZEN["phone"]) -> dict[str, str]:
    return {"Authorization": f"Bearer {signin.issue_token(phone, api.settings)}"}


def _answer(api: Api, task_id: str, headers: dict[str, str], *, content: bytes = PDF, name: str = "id.pdf",
            mime: str = "application/pdf", note: str | None = NOTE, kind: str = "national_id_copy",
            extra: dict[str, str] | None = None) -> Any:
    data = {"kind": kind, **({"note": note} if note is not None else {}), **(extra or {})}
    return api.client.post(f"/api/citizen/tasks/{task_id}/answer", data=data, files={"file": (name, content, mime)},
                           headers=headers)


def _documents(api: Api, case_id: int) -> list[Document]:
    with Session(engine_for(api.settings.database_url)) as session:
        return list(session.exec(select(Document).where(Document.case_id == case_id)).all())


def _stored(api: Api) -> list[Path]:
    root = Path(api.settings.storage_url.removeprefix("file://"))
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _still_waiting(api: Api, case: dict[str, Any]) -> None:
    now = api.client.get(f"/api/cases/{case['id']}", headers=api.user("auditor")).json()
    assert [t["name"] for t in now["tasks"]] == ["supply_paper"]
    assert _documents(api, case["id"]) == []


def test_the_citizen_sees_the_return_and_answers_it_with_a_paper_and_a_note(world: Api) -> None:
    api = world
    case = _returned(api)
    me = _bearer(api)
    mine = api.client.get(f"/api/citizen/cases/{case['id']}", headers=me).json()
    task = case["tasks"][0]
    assert [(r["id"], r["name"]) for r in mine["returns"]] == [(task["id"], "supply_paper")]
    assert mine["returns"][0]["title"] == {"ar": "إرسال المستند الناقص", "en": "Send the missing paper"}
    assert {k["kind"] for k in mine["returns"][0]["kinds"]} == {"national_id_copy", "site_plan"}

    r = _answer(api, task["id"], me, content=JPEG, name="photo.jpg", mime="image/jpeg")
    assert r.status_code == 200, r.text
    answered = r.json()
    assert answered["returns"] == [] and answered["status"] == "open"
    # The case moved on to the department, with the paper and the note in its data.
    staff = api.client.get(f"/api/cases/{case['id']}", headers=api.user("auditor")).json()
    assert [t["name"] for t in staff["tasks"]] == ["review"]
    (doc,) = _documents(api, case["id"])
    assert (doc.kind, doc.version, doc.uploaded_by, doc.content_type) == ("national_id_copy", 1, "citizen",
                                                                          "image/jpeg")
    assert staff["data"]["citizen_note"] == NOTE
    assert staff["data"]["returned_paper"] == {"kind": "national_id_copy", "document_id": doc.id, "version": 1,
                                               "filename": "photo.jpg", "sha256": doc.sha256}
    # One step on the chain, in the citizen's name: the paper, then the completed task.
    events = api.client.get(f"/api/cases/{case['id']}/events", headers=api.user("auditor")).json()
    tail = [(e["kind"], e["actor"]) for e in events][-2:]
    assert tail == [("document_uploaded", "citizen"), ("task_completed", "citizen")]
    # The reviewer reads the paper like one scanned at the desk.
    content = api.client.get(f"/api/documents/{doc.id}/content", headers=api.user("reviewer"))
    assert content.status_code == 200 and content.content == JPEG
    # Replay re-runs the citizen's step like any other and reaches the same state.
    replay = api.client.get(f"/api/cases/{case['id']}/replay", headers=api.user("auditor"))
    assert replay.status_code == 200 and replay.json()["consistent"] is True, replay.text


def test_another_citizens_token_finds_no_such_step(world: Api) -> None:
    api = world
    case = _returned(api)
    r = _answer(api, case["tasks"][0]["id"], _bearer(api, OTHER["phone"]))
    assert r.status_code == 404 and r.json()["message_id"] == "citizen.no_task"
    # The same answer as a step that does not exist.
    assert _answer(api, "no-such-task", _bearer(api, OTHER["phone"])).json() == r.json()
    _still_waiting(api, case)
    assert _stored(api) == []


def test_a_session_narrowed_to_another_national_id_finds_no_such_step(world: Api) -> None:
    """A shared family phone: once a relative added their own national ID to their session, the citizen's
    return is not theirs to answer (engine/citizen/signin.py ``add_national_id``)."""
    api = world
    case = _returned(api)
    relative = {"national_id": "29505051234561"}
    narrowed = api.client.put("/api/citizen/national-id", json=relative, headers=_bearer(api))
    assert narrowed.status_code == 200, narrowed.text
    theirs = {"Authorization": f"Bearer {narrowed.json()['access_token']}"}
    r = _answer(api, case["tasks"][0]["id"], theirs)
    assert r.status_code == 404 and r.json()["message_id"] == "citizen.no_task"
    _still_waiting(api, case)
    assert _stored(api) == []
    mine = api.client.put("/api/citizen/national-id", json={"national_id": CITIZEN["national_id"]},
                          headers=_bearer(api)).json()["access_token"]
    assert _answer(api, case["tasks"][0]["id"], {"Authorization": f"Bearer {mine}"}).status_code == 200


def test_a_staff_token_is_no_citizen_token(world: Api) -> None:
    api = world
    case = _returned(api)
    for role in ("front_desk", "reviewer", "admin", "citizen"):
        r = _answer(api, case["tasks"][0]["id"], api.user(role))
        assert r.status_code == 401, (role, r.text)
    assert _answer(api, case["tasks"][0]["id"], {}).status_code == 401
    _still_waiting(api, case)


def test_a_citizen_token_opens_no_staff_route(world: Api) -> None:
    api = world
    case = _returned(api)
    me = _bearer(api)
    task = case["tasks"][0]["id"]
    assert api.complete(task, {"citizen_note": NOTE}, me).status_code == 401
    r = api.client.post(f"/api/cases/{case['id']}/documents", data={"kind": "national_id_copy"},
                        files={"file": ("id.pdf", PDF, "application/pdf")}, headers=me)
    assert r.status_code == 401
    assert api.client.get(f"/api/cases/{case['id']}", headers=me).status_code == 401
    _still_waiting(api, case)


def test_a_step_of_a_department_is_not_the_citizens(world: Api) -> None:
    api = world
    case = api.past_first_step("citizen_return", {}, api.user("front_desk"))  # waits on the reviewer
    r = _answer(api, case["tasks"][0]["id"], _bearer(api))
    assert r.status_code == 403 and r.json()["message_id"] == "citizen.not_your_step"
    now = api.client.get(f"/api/cases/{case['id']}", headers=api.user("auditor")).json()
    assert [t["name"] for t in now["tasks"]] == ["review"] and _documents(api, case["id"]) == []


@pytest.mark.parametrize(("content", "name", "mime", "message_id"), [
    (b"PK\x03\x04" + bytes(60), "id.pdf", "application/pdf", "documents.type_not_accepted"),
    (b"<html><script>alert(1)</script></html>", "id.png", "image/png", "documents.type_not_accepted"),
    (b"#!/bin/sh\necho hello\n", "id.pdf", "application/pdf", "documents.type_not_accepted"),
    (PDF, "id.jpg", "image/jpeg", "documents.type_mismatch"),
    (b"", "id.pdf", "application/pdf", "documents.file_empty"),
])
def test_a_file_that_is_no_paper_is_refused_and_nothing_is_kept(world: Api, content: bytes, name: str, mime: str,
                                                                message_id: str) -> None:
    api = world
    case = _returned(api)
    r = _answer(api, case["tasks"][0]["id"], _bearer(api), content=content, name=name, mime=mime)
    assert r.status_code == 422 and r.json()["message_id"] == message_id, r.text
    assert r.json()["message_ar"] != r.json()["message"]  # in Arabic too
    _still_waiting(api, case)
    assert _stored(api) == []


def test_a_file_over_the_limit_is_refused_and_nothing_is_kept(world: Api) -> None:
    api = world
    case = _returned(api)
    big = PDF + b"%" + b"x" * api.settings.max_document_bytes
    r = _answer(api, case["tasks"][0]["id"], _bearer(api), content=big)
    assert r.status_code == 413 and r.json()["message_id"] == "documents.file_too_large", r.text
    _still_waiting(api, case)
    assert _stored(api) == []


def test_the_note_and_the_form_are_checked(world: Api) -> None:
    api = world
    case = _returned(api)
    task = case["tasks"][0]["id"]
    me = _bearer(api)
    long = _answer(api, task, me, note="ن" * (api.settings.citizen_note_max_chars + 1))
    assert long.status_code == 422 and long.json()["message_id"] == "citizen.note_too_long", long.text
    missing = _answer(api, task, me, note=None)  # the return's form requires the note
    assert missing.status_code == 422 and missing.json()["message_id"] == "form.has_errors", missing.text
    assert [d["field"] for d in missing.json()["detail"]] == ["citizen_note"]
    unknown = _answer(api, task, me, extra={"decision": "approve"})
    assert unknown.status_code == 422 and unknown.json()["message_id"] == "documents.unexpected_form_field"
    kind = _answer(api, task, me, kind="passport")
    assert kind.status_code == 422 and kind.json()["message_id"] == "documents.not_a_kind_of_service"
    _still_waiting(api, case)
    assert _stored(api) == []


def test_a_retried_answer_gets_the_first_answer_and_keeps_one_paper(world: Api) -> None:
    api = world
    case = _returned(api)
    task = case["tasks"][0]["id"]
    # A retry sends the same bytes again (the same multipart boundary).
    body = (b"--b0undary\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nnational_id_copy\r\n"
            b"--b0undary\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n" + NOTE.encode() + b"\r\n"
            b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"id.pdf\"\r\n"
            b"Content-Type: application/pdf\r\n\r\n" + PDF + b"\r\n--b0undary--\r\n")

    def send_once(phone: str = CITIZEN["phone"]) -> Any:
        return api.client.post(f"/api/citizen/tasks/{task}/answer", content=body, headers={
            **_bearer(api, phone), "Idempotency-Key": "answer-1",
            "Content-Type": "multipart/form-data; boundary=b0undary"})

    first = send_once()
    assert first.status_code == 200, first.text
    again = send_once()
    assert again.status_code == 200 and again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    assert len(_documents(api, case["id"])) == 1
    # Another citizen cannot use the key to read the first answer: keys are the phone's own.
    theirs = send_once(OTHER["phone"])
    assert theirs.status_code == 404 and "idempotent-replayed" not in theirs.headers
    # Without the key, a second answer finds the step done.
    twice = _answer(api, task, _bearer(api))
    assert twice.status_code == 409 and twice.json()["message_id"] == "citizen.return_answered"
    assert len(_documents(api, case["id"])) == 1


def test_a_phone_typed_in_arabic_digits_signs_in_and_answers(world: Api) -> None:
    api = world
    case = _returned(api)
    arabic = "٠١٠٠١٢٣٤٥٦٧"  # 01001234567, the number on the case, as a phone's Arabic keyboard types it
    assert api.client.post("/api/citizen/code", json={"phone": arabic}).status_code == 202
    send.drain(settings=api.settings, now=datetime.now(UTC) + timedelta(seconds=1))
    sent = [json.loads(line) for line in Path(api.settings.message_log_path).read_text("utf-8").splitlines()]
    found = re.search(r"\b(\d{6})\b", [m for m in sent if m["to"] == CITIZEN["phone"]][-1]["body"])
    assert found is not None
    code = found.group(1).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    token = api.client.post("/api/citizen/token", json={"phone": arabic, "code": code})
    assert token.status_code == 200, token.text
    r = _answer(api, case["tasks"][0]["id"], {"Authorization": f"Bearer {token.json()['access_token']}"})
    assert r.status_code == 200, r.text


def test_a_closed_case_has_no_return(world: Api) -> None:
    api = world
    case = _returned(api)
    task = case["tasks"][0]["id"]
    assert _answer(api, task, _bearer(api)).status_code == 200
    review = api.client.get(f"/api/cases/{case['id']}", headers=api.user("auditor")).json()["tasks"][0]["id"]
    assert api.complete(review, {"decision": "approve"}, api.user("reviewer")).status_code == 200
    r = _answer(api, task, _bearer(api))
    assert r.status_code == 409 and r.json()["message_id"] == "citizen.return_answered"
    assert api.client.get(f"/api/citizen/cases/{case['id']}", headers=_bearer(api)).json()["returns"] == []


def test_the_paper_sent_is_a_scan_and_the_front_desk_still_receives_the_original(world: Api) -> None:
    api = world
    case = _returned(api)
    assert _answer(api, case["tasks"][0]["id"], _bearer(api)).status_code == 200
    auditor = api.user("auditor")
    # Custody is of paper originals: a photo from the phone records none.
    assert api.client.get(f"/api/cases/{case['id']}/originals", headers=auditor).json() == []
    clerk = api.user("front_desk")
    r = api.client.post(f"/api/cases/{case['id']}/originals", json={"kind": "national_id_copy", "to": "front_desk"},
                        headers=clerk)
    assert r.status_code == 201, r.text
    (original,) = api.client.get(f"/api/cases/{case['id']}/originals", headers=auditor).json()
    assert (original["kind"], original["location"]) == ("national_id_copy", "front_desk")
    # A citizen token moves no original.
    assert api.client.post(f"/api/cases/{case['id']}/originals", json={"kind": "site_plan", "to": "front_desk"},
                           headers=_bearer(api)).status_code == 401
