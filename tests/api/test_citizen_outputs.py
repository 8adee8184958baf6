"""Citizens never learn who decided: nothing a citizen sees names an officer.

Cases are walked through the API by officers with names of their own (returned and approved, rejected, claimed
and waiting, cancelled), and every citizen-facing output is read after every step: the public tracking answer
(``GET /api/public/track/...``), the tracking page (``POST /track``, read by a visitor who is not signed in) and
the printed part of the receipt the front desk hands over (``/cases/{id}/receipt``), and every message the
outbox holds for the citizen (SMS and e-mail, subject and text). Each text is scanned for every officer's
username and full name.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from engine.citizen import signin
from harness.api import CITIZEN, Api
from harness.pages import Pages
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.messages import OutboxMessage
from tests.support.audit import APPROVE, CORRECT, OFFICERS, REGISTER, RETURN, deploy, login

PHONE_LAST4 = CITIZEN["phone"][-4:]
_PRINTED_RECEIPT = re.compile(r'<article class="receipt.*?</article>', re.S)


def _track(api: Api, case: dict[str, Any]) -> str:
    """What the citizen reads: the public API's answer, and the tracking page as a visitor sees it."""
    r = api.client.get(f"/api/public/track/{case['tracking_number']}", params={"phone_last4": PHONE_LAST4})
    assert r.status_code == 200, r.text
    visitor = Pages(TestClient(api.client.app), api.settings)  # its own cookies: nobody signed in
    page = visitor.post("/track", {"number": case["tracking_number"], "phone_last4": PHONE_LAST4},
                        token_from="/track")
    assert page.status_code == 200, page.text
    assert 'id="track-status"' in page.text
    return r.text + page.text


def _receipt(api: Api, case: dict[str, Any]) -> str:
    """The part of the receipt that is printed and handed to the citizen (the page's header is not printed)."""
    desk = Pages(TestClient(api.client.app, follow_redirects=False), api.settings)
    login(api, "clerk_hoda")
    assert desk.sign_in("clerk_hoda").status_code == 303
    page = desk.client.get(f"/cases/{case['id']}/receipt")
    assert page.status_code == 200, page.text
    printed = _PRINTED_RECEIPT.search(page.text)
    assert printed is not None and case["tracking_number"] in printed.group(0)
    assert "هدى عبد السلام" in page.text  # the clerk's name is on the screen, in the header that is not printed
    return printed.group(0)


def _complete(api: Api, case: dict[str, Any], data: dict[str, Any], who: str, seen: list[str]) -> dict[str, Any]:
    task = case["tasks"][0]
    assert api.client.post(f"/api/tasks/{task['id']}/claim", headers=login(api, who)).status_code == 200
    seen.append(_track(api, case))  # claimed: someone is working on it
    r = api.complete(task["id"], data, login(api, who))
    assert r.status_code == 200, r.text
    seen.append(_track(api, r.json()))
    return dict(r.json())


def _messages(api: Api) -> tuple[set[str], list[str]]:
    """The stages messaged and every text the citizens are sent (subjects of e-mails included)."""
    with Session(engine_for(api.settings.database_url)) as session:
        rows = list(session.execute(select(OutboxMessage)).scalars())
    return {r.stage for r in rows}, [f"{r.subject or ''} {r.body}" for r in rows]


def _walk(api: Api, steps: list[tuple[dict[str, Any], str]], seen: list[str]) -> dict[str, Any]:
    r = api.open_case("audit_case", login(api, "clerk_hoda"))
    assert r.status_code == 201, r.text
    case = dict(r.json())
    seen.append(_track(api, case))
    seen.append(_receipt(api, case))
    for data, who in steps:
        case = _complete(api, case, data, who, seen)
    return case


def _leaks(text: str) -> list[str]:
    lowered = text.casefold()
    return [name for username, (full_name, _roles) in OFFICERS.items() for name in (username, full_name)
            if name.casefold() in lowered]


def test_officer_names_never_reach_citizens(sqlite_api: Api) -> None:
    api = sqlite_api
    deploy(api)
    seen: list[str] = []
    clerk, reviewer = "clerk_hoda", "reviewer_karim"
    approved = _walk(api, [(REGISTER, clerk), (RETURN, reviewer), (CORRECT, clerk), (APPROVE, reviewer),
                           ({}, clerk)], seen)
    rejected = _walk(api, [(REGISTER, clerk), ({"decision": "reject", "notes": "not allowed here"}, reviewer)],
                     seen)
    waiting = _walk(api, [(REGISTER, clerk)], seen)
    claimed = api.client.post(f"/api/tasks/{waiting['tasks'][0]['id']}/claim", headers=login(api, reviewer))
    assert claimed.status_code == 200
    seen.append(_track(api, waiting))
    cancelled = _walk(api, [(REGISTER, clerk)], seen)
    r = api.client.post(f"/api/cases/{cancelled['id']}/cancel", json={"reason": "asked by the citizen"},
                        headers=login(api, "supervisor_laila"))
    assert r.status_code == 200, r.text
    seen.append(_track(api, cancelled))
    assert (approved["status"], rejected["outcome"], r.json()["status"]) == ("completed", "end_rejected",
                                                                               "cancelled")

    assert len(seen) == 28
    assert [_leaks(text) for text in seen] == [[] for _ in seen]
    stages, texts = _messages(api)
    assert stages == {"received", "department", "returned", "ready_for_pickup", "completed", "rejected"}
    assert [_leaks(text) for text in texts] == [[] for _ in texts]
    # The citizen's own requests (engine/citizen/requests.py) name the departments, never the officers.
    mine = {"Authorization": f"Bearer {signin.issue_token(CITIZEN['phone'], api.settings)}"}
    own = [api.client.get("/api/citizen/cases", headers=mine).text] + [
        api.client.get(f"/api/citizen/cases/{c['id']}", headers=mine).text
        for c in (approved, rejected, waiting, cancelled)]
    assert all('"tracking_number"' in text for text in own)
    assert [_leaks(text) for text in own] == [[] for _ in own]
    # The scan would see them: the auditor's view of the same case names both officers.
    events = api.client.get(f"/api/cases/{approved['id']}/events", headers=login(api, "auditor_mona")).text
    assert _leaks(events) == ["clerk_hoda", "reviewer_karim"]


def test_another_service_names_no_officer(sqlite_api: Api) -> None:
    api = sqlite_api
    assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
    case = api.open_case("test_permit", login(api, "clerk_hoda")).json()
    seen = [_track(api, case)]
    case = _complete(api, case, {"area": 10, "purpose": "a shop"}, "clerk_hoda", seen)
    case = _complete(api, case, {"decision": "approve", "notes": "ok"}, "reviewer_karim", seen)
    _complete(api, case, {}, "clerk_hoda", seen)
    assert [_leaks(text) for text in seen] == [[] for _ in seen]
    stages, texts = _messages(api)
    assert "completed" in stages
    assert [_leaks(text) for text in texts] == [[] for _ in texts]
