"""The citizen answers a return on their request's page (admin_ui/routes/citizen.py): the form takes a photo or
a PDF from the phone's camera, the refusals are said in words, and nobody else's step can be answered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from admin_ui.pages import CITIZEN_COOKIE
from api.app import create_app
from engine.citizen import signin
from harness.api import CITIZEN, Api
from harness.pages import csrf_of
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.cases import Document
from tests.support.documents import JPEG, PDF

OTHER_PHONE = "+201112223334"
NOTE = "هذه صورة البطاقة الجديدة"


@pytest.fixture
def world(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[Api, dict[str, Any]]]:
    settings = make_settings(sqlite_url, tmp_path, max_document_bytes=4096)
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings).deployed("citizen_return")
        case = api.past_first_step("citizen_return", {}, api.user("front_desk"))
        r = api.complete(case["tasks"][0]["id"], {"decision": "return"}, api.user("reviewer"))
        assert r.status_code == 200, r.text
        yield api, r.json()


def _as(api: Api, phone: str) -> str:
    """The citizen's page of the case, signed in with the cookie of ``phone``; its CSRF token."""
    api.client.cookies.set(CITIZEN_COOKIE, signin.issue_token(phone, api.settings), path="/citizen")
    return csrf_of(api.client.get("/citizen").text)


def _send(api: Api, case: dict[str, Any], token: str, *, content: bytes = JPEG, name: str = "p.jpg",
          mime: str = "image/jpeg", note: str = NOTE, task: str | None = None) -> Any:
    return api.client.post(f"/citizen/tasks/{task or case['tasks'][0]['id']}/answer",
                           data={"csrf_token": token, "case": str(case["id"]), "kind": "national_id_copy",
                                 "note": note}, files={"file": (name, content, mime)}, follow_redirects=False)


def _papers(api: Api, case: dict[str, Any]) -> list[Document]:
    with Session(engine_for(api.settings.database_url)) as session:
        return list(session.exec(select(Document).where(Document.case_id == case["id"])).all())


def test_the_page_offers_the_camera_and_the_answer_moves_the_request_on(world: tuple[Api, dict[str, Any]]) -> None:
    api, case = world
    token = _as(api, CITIZEN["phone"])
    page = api.client.get(f"/citizen/cases/{case['id']}")
    assert page.status_code == 200 and "في انتظارك" in page.text and "إرسال المستند الناقص" in page.text
    # Where it stands: with the citizen, in words, not the lane's id; in the API as on the page.
    assert "<dd>في انتظارك: أرسل المستند المطلوب</dd>" in page.text and "<dd>citizen</dd>" not in page.text
    mine = api.client.get(f"/api/citizen/cases/{case['id']}", headers={
        "Authorization": "Bearer " + signin.issue_token(CITIZEN["phone"], api.settings)}).json()
    assert mine["current_step"] == [{"ar": "في انتظارك: أرسل المستند المطلوب",
                                     "en": "Waiting for you: send the paper asked for"}]
    assert 'enctype="multipart/form-data"' in page.text
    assert 'type="file" accept="image/*,application/pdf" capture required' in page.text
    assert f'action="/citizen/tasks/{case["tasks"][0]["id"]}/answer"' in page.text
    r = _send(api, case, token)
    assert r.status_code == 303 and r.headers["location"] == f"/citizen/cases/{case['id']}?answered=1"
    after = api.client.get(r.headers["location"])
    assert "تم إرسال المستند" in after.text and 'class="citizen-answer"' not in after.text
    assert [d.uploaded_by for d in _papers(api, case)] == ["citizen"]


@pytest.mark.parametrize(("content", "name", "mime", "words"), [
    (b"<html></html>", "p.jpg", "image/jpeg", "لا يُقبل إلا صورة"),
    (PDF + b"%" + b"x" * 5000, "p.pdf", "application/pdf", "الملف أكبر من المسموح"),
])
def test_a_wrong_or_large_file_is_refused_in_words(world: tuple[Api, dict[str, Any]], content: bytes, name: str,
                                                   mime: str, words: str) -> None:
    api, case = world
    r = _send(api, case, _as(api, CITIZEN["phone"]), content=content, name=name, mime=mime)
    assert r.status_code in (413, 422) and words in r.text and 'class="citizen-answer"' in r.text
    assert _papers(api, case) == []


def test_another_citizen_cannot_answer_and_a_form_without_csrf_is_refused(
        world: tuple[Api, dict[str, Any]]) -> None:
    api, case = world
    r = _send(api, case, _as(api, OTHER_PHONE))
    assert r.status_code == 404
    api.client.cookies.set(CITIZEN_COOKIE, signin.issue_token(CITIZEN["phone"], api.settings), path="/citizen")
    r = api.client.post(f"/citizen/tasks/{case['tasks'][0]['id']}/answer", data={"kind": "national_id_copy"},
                        files={"file": ("p.jpg", JPEG, "image/jpeg")})
    assert r.status_code == 403
    api.client.cookies.clear()
    signed_out = _send(api, case, csrf_of(api.client.get("/citizen").text))
    assert signed_out.status_code in (303, 307) and signed_out.headers["location"] == "/citizen"
    assert _papers(api, case) == []


def test_a_case_number_of_thousands_of_digits_is_no_request_not_a_server_error(
        world: tuple[Api, dict[str, Any]]) -> None:
    # The form's "case" says which request to show again when the answer is refused; past Python's longest
    # integer text it was a 500.
    api, case = world
    token = _as(api, CITIZEN["phone"])
    for number in ("9" * 5000, "9" * 30):
        r = api.client.post(f"/citizen/tasks/{case['tasks'][0]['id']}/answer",
                            data={"csrf_token": token, "case": number, "kind": "national_id_copy", "note": NOTE},
                            files={"file": ("p.jpg", b"<html></html>", "image/jpeg")}, follow_redirects=False)
        assert r.status_code == 404 and "ليس لك طلب بهذا الرقم" in r.text, number
    assert _papers(api, case) == []
