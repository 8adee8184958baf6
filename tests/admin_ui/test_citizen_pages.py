"""The citizen's own pages (admin_ui/routes/citizen.py): phone, then the code read from the development
gateway's file, then one's requests; the citizen's cookie is apart from the staff's session both ways."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from admin_ui.pages import CITIZEN_COOKIE
from engine.messages import send
from harness.api import CITIZEN, Api
from harness.pages import csrf_of
from tests.support.citizens import OTHER, cases_of


@pytest.fixture
def world(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[Api, dict[str, Any]]]:
    with cases_of(sqlite_url, tmp_path, {"mine": CITIZEN, "theirs": OTHER}) as found:
        yield found


def _last_code(api: Api) -> str:
    send.drain(settings=api.settings, now=datetime.now(UTC) + timedelta(seconds=1))
    lines = Path(api.settings.message_log_path).read_text("utf-8").splitlines()
    found = re.search(r"\b(\d{6})\b", json.loads(lines[-1])["body"])
    assert found is not None
    return found.group(1)


def _sign_in(client: TestClient, api: Api, phone: str) -> Any:
    token = csrf_of(client.get("/citizen").text)
    asked = client.post("/citizen/code", data={"csrf_token": token, "phone": phone})
    assert asked.status_code == 202 and 'id="citizen-code-form"' in asked.text
    return client.post("/citizen/token", data={"csrf_token": token, "phone": phone, "code": _last_code(api)},
                       follow_redirects=False)


def test_phone_then_code_then_my_requests_in_arabic(world: tuple[Api, dict[str, Any]]) -> None:
    api, cases = world
    client = api.client
    signed = _sign_in(client, api, "٠١٠٠١٢٣٤٥٦٧")  # the citizen's phone, local form, Arabic-Indic digits
    assert signed.status_code == 303 and signed.headers["location"] == "/citizen/cases"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(CITIZEN_COOKIE + "=") and "HttpOnly" in cookie and "Max-Age=1800" in cookie
    page = client.get("/citizen/cases")
    assert page.status_code == 200 and "طلباتي" in page.text
    assert cases["mine"]["tracking_number"] in page.text and cases["theirs"]["tracking_number"] not in page.text
    one = client.get(f"/citizen/cases/{cases['mine']['id']}")
    assert one.status_code == 200 and 'id="citizen-case"' in one.text
    theirs = client.get(f"/citizen/cases/{cases['theirs']['id']}")
    assert theirs.status_code == 404 and OTHER["full_name"] not in theirs.text
    # The citizen's cookie is no staff session.
    assert client.get("/inbox", follow_redirects=False).headers["location"].startswith("/login")
    out = client.post("/citizen/sign-out", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 200 and 'id="citizen-phone-form"' in out.text
    assert client.get("/citizen/cases", follow_redirects=False).headers["location"] == "/citizen"


def test_a_form_without_the_csrf_token_is_refused(world: tuple[Api, dict[str, Any]]) -> None:
    api, _ = world
    api.client.get("/citizen")
    r = api.client.post("/citizen/code", data={"phone": CITIZEN["phone"]})
    assert r.status_code == 403


def test_a_wrong_code_shows_the_form_again(world: tuple[Api, dict[str, Any]]) -> None:
    api, _ = world
    token = csrf_of(api.client.get("/citizen").text)
    api.client.post("/citizen/code", data={"csrf_token": token, "phone": CITIZEN["phone"]})
    code = _last_code(api)
    r = api.client.post("/citizen/token", data={"csrf_token": token, "phone": CITIZEN["phone"],
                                                "code": f"{(int(code) + 1) % 1_000_000:06d}"})
    assert r.status_code == 401 and 'id="citizen-error"' in r.text and CITIZEN_COOKIE not in r.headers.get(
        "set-cookie", "")


def test_a_staff_session_opens_no_citizen_page(world: tuple[Api, dict[str, Any]]) -> None:
    api, cases = world
    api.user("front_desk", username="desk_clerk_pages")
    client = api.client
    token = csrf_of(client.get("/login").text)
    signed = client.post("/login", data={"csrf_token": token, "username": "desk_clerk_pages",
                                         "password": "correct horse"}, follow_redirects=False)
    assert signed.status_code == 303
    for url in ("/citizen/cases", f"/citizen/cases/{cases['mine']['id']}"):
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/citizen"


def test_not_a_phone_is_said_on_the_page(world: tuple[Api, dict[str, Any]]) -> None:
    api, _ = world
    token = csrf_of(api.client.get("/citizen").text)
    r = api.client.post("/citizen/code", data={"csrf_token": token, "phone": "abc"})
    assert r.status_code == 422 and 'id="citizen-error"' in r.text
