"""Revocation and correction: a supervisor of the issuing center only, with a reason; audited; the citizen is
told; every place that shows the document shows it revoked at once."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from engine.core import chain
from harness.pages import Pages
from storage.db import engine_for
from storage.models.cases import Case
from storage.models.messages import OutboxMessage
from tests.outputs.conftest import World

REASON = {"reason": "صدر الترخيص بناءً على سند ملكية ثبت تزويره"}


def test_only_a_supervisor_of_the_issuing_center_revokes(world: World, permit: dict[str, Any]) -> None:
    number, api, ids = permit["output"]["number"], world.api, world.centers
    url = f"/api/outputs/{number}/revoke"
    other_center = api.user("supervisor", center_id=ids["CITY-B"])
    assert api.client.post(url, json=REASON, headers=other_center).status_code == 403
    assert api.client.post(url, json=REASON, headers=world.clerk).status_code == 403  # not a supervisor
    assert api.client.post(url, json=REASON, headers=world.engineer).status_code == 403  # who decided: no
    assert api.client.post(url, json=REASON, headers=api.user("admin")).status_code == 403  # admins administer
    assert api.client.get(f"/api/public/documents/{number}").json()["status"] == "valid"  # nothing happened

    own = api.user("supervisor", username="sup_nadia", center_id=ids["CITY-A"])
    assert api.client.post(url, json={"reason": " "}, headers=own).status_code == 422  # a reason is required
    r = api.client.post(url, json=REASON, headers=own)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked"
    assert api.client.post(url, json=REASON, headers=own).status_code == 409  # once

    # Revoked everywhere at once: the public JSON, the page, the case's list.
    public = api.client.get(f"/api/public/documents/{number}").json()
    assert public["status"] == "revoked" and public["status_at"] is not None
    assert REASON["reason"] not in api.client.get(f"/api/public/documents/{number}").text
    page = Pages(TestClient(api.client.app), api.settings).client.get(f"/verify/{number}")
    assert 'data-status="revoked"' in page.text
    assert [o["status"] for o in world.outputs(permit["case"]["id"])] == ["revoked"]

    with Session(engine_for(api.settings.database_url)) as session:
        case = session.get(Case, permit["case"]["id"])
        assert case is not None
        events = chain.events_of(session, case.id or 0)
        assert chain.verify_chain(case, events) is None
        told = session.exec(select(OutboxMessage).where(OutboxMessage.case_id == case.id,
                                                        OutboxMessage.stage == "document_revoked")).all()
    revoked = [e for e in events if e.kind == "output_revoked"]
    assert len(revoked) == 1 and revoked[0].actor == "sup_nadia" and revoked[0].data["reason"] == REASON["reason"]
    assert len(told) == 1 and number in told[0].body and REASON["reason"] in told[0].body
    assert "sup_nadia" not in told[0].body  # the citizen hears what, not who


def test_the_parent_centers_supervisor_may_revoke(world: World, permit: dict[str, Any]) -> None:
    parent = world.api.user("supervisor", center_id=world.centers["GOV"])
    r = world.api.client.post(f"/api/outputs/{permit['output']['number']}/revoke", json=REASON, headers=parent)
    assert r.status_code == 200, r.text


def test_a_correction_supersedes_and_keeps_the_old_pdf(world: World, permit: dict[str, Any]) -> None:
    number, api = permit["output"]["number"], world.api
    old_pdf = world.pdf(number)
    own = api.user("supervisor", center_id=world.centers["CITY-A"])
    other_center = api.user("supervisor", center_id=world.centers["CITY-B"])
    body = {"reason": "تصحيح عنوان قطعة الأرض"}
    assert api.client.post(f"/api/outputs/{number}/correct", json=body, headers=other_center).status_code == 403
    r = api.client.post(f"/api/outputs/{number}/correct", json=body, headers=own)
    assert r.status_code == 201, r.text
    new_number = r.json()["number"]
    assert r.json()["supersedes"] == number and r.json()["status"] == "pending"
    assert api.client.get(f"/api/public/documents/{number}").json()["status"] == "valid"  # until the new one is out
    assert world.issue_all() == 1
    old = api.client.get(f"/api/public/documents/{number}").json()
    assert old["status"] == "superseded" and old["superseded_by"] == new_number
    assert api.client.get(f"/api/public/documents/{new_number}").json()["status"] == "valid"
    assert world.pdf(number) == old_pdf  # never overwritten
    assert world.pdf(new_number) != old_pdf
    statuses = {o["number"]: o["status"] for o in world.outputs(permit["case"]["id"])}
    assert statuses == {number: "superseded", new_number: "valid"}


def test_reading_a_cases_documents_follows_the_case(world: World, permit: dict[str, Any]) -> None:
    api, case_id, number = world.api, permit["case"]["id"], permit["output"]["number"]
    sibling_clerk = api.user("front_desk", center_id=world.centers["CITY-B"])
    stranger = api.user("civil_registry", center_id=world.centers["CITY-A"])  # a lane of another service
    for who in (sibling_clerk, stranger):
        assert api.client.get(f"/api/cases/{case_id}/outputs", headers=who).status_code == 403
        assert api.client.get(f"/api/outputs/{number}/pdf", headers=who).status_code == 403
    assert api.client.get(f"/api/outputs/{number}/pdf").status_code == 401
    assert api.client.get("/api/outputs/D2026-NOPE-NOPE-NOPE/pdf", headers=world.clerk).status_code == 404


def test_the_hand_over_page_offers_the_permit_to_print(world: World, permit: dict[str, Any]) -> None:
    api, number = world.api, permit["output"]["number"]
    api.user("front_desk", username="desk_hoda", center_id=world.centers["CITY-A"])
    pages = Pages(TestClient(api.client.app, follow_redirects=False), api.settings)
    assert pages.sign_in("desk_hoda").status_code == 303
    [hand_over] = [t for t in permit["case"]["tasks"] if t["name"] == "hand_over"]
    page = pages.client.get(f"/tasks/{hand_over['id']}")
    assert page.status_code == 200
    assert f'action="/outputs/{number}/print"' in page.text and 'data-status="valid"' in page.text
    pdf = pages.client.get(f"/outputs/{number}/pdf")
    assert pdf.status_code == 200 and pdf.content == world.pdf(number)
    # Printing is numbered and audited: the first copy, then a reprint.
    token = pages.token(f"/tasks/{hand_over['id']}")
    for copy in (1, 2):
        printed = pages.client.post(f"/outputs/{number}/print", data={"csrf_token": token})
        assert printed.status_code == 200 and printed.headers["X-Print-Copy"] == str(copy)
        # The issued file, unchanged, with the print's mark added after it (tests/outputs/test_print_qr.py).
        assert printed.content.startswith(pdf.content) and printed.content != pdf.content
    with Session(engine_for(api.settings.database_url)) as session:
        prints = [e for e in chain.events_of(session, permit["case"]["id"]) if e.kind == "output_printed"]
    assert [(e.actor, e.data["copy"]) for e in prints] == [("desk_hoda", 1), ("desk_hoda", 2)]
    # Without the page's token the print is refused: a link elsewhere cannot make the clerk's browser print.
    assert pages.client.post(f"/outputs/{number}/print", data={}).status_code == 403
    api.user("front_desk", username="desk_other", center_id=world.centers["CITY-B"])
    other = Pages(TestClient(api.client.app, follow_redirects=False), api.settings)
    assert other.sign_in("desk_other").status_code == 303
    assert other.client.get(f"/outputs/{number}/pdf").status_code == 403


def test_a_revoked_document_is_not_printed(world: World, permit: dict[str, Any]) -> None:
    api, number = world.api, permit["output"]["number"]
    assert api.client.post(f"/api/outputs/{number}/print", headers=world.clerk).headers["X-Print-Copy"] == "1"
    own = api.user("supervisor", center_id=world.centers["CITY-A"])
    assert api.client.post(f"/api/outputs/{number}/revoke", json=REASON, headers=own).status_code == 200
    assert api.client.post(f"/api/outputs/{number}/print", headers=world.clerk).status_code == 409
    other_center = api.user("front_desk", center_id=world.centers["CITY-B"])
    assert api.client.post(f"/api/outputs/{number}/print", headers=other_center).status_code == 403
