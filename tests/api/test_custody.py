"""Custody of paper originals: where each one is, who moved it, receipts, and every refusal."""

from __future__ import annotations

from typing import Any

import pytest

from harness.api import Api
from tests.support.documents import open_papers_case


@pytest.fixture
def case(api: Api) -> dict[str, Any]:
    return open_papers_case(api)


def move(api: Api, case_id: int, to: str, headers: dict[str, str], kind: str = "site_plan",
         note: str | None = None) -> Any:
    return api.client.post(f"/api/cases/{case_id}/originals", json={"kind": kind, "to": to, "note": note},
                           headers=headers)


def receipt(api: Api, case_id: int, headers: dict[str, str], kind: str = "site_plan") -> Any:
    return api.client.post(f"/api/cases/{case_id}/originals/{kind}/receipt", headers=headers)


def test_an_original_travels_and_every_step_is_recorded(api: Api, case: dict[str, Any]) -> None:
    clerk, reviewer = api.user("front_desk", username="clerk1"), api.user("reviewer", username="rev1")
    r = move(api, case["id"], "front_desk", clerk)
    assert r.status_code == 201, r.text
    assert (r.json()["location"], r.json()["awaiting_receipt"], r.json()["received_by"]) == (
        "front_desk", False, "clerk1")
    r = move(api, case["id"], "reviewer", clerk, note="in the blue folder")
    assert (r.json()["location"], r.json()["awaiting_receipt"], r.json()["moved_by"]) == ("reviewer", True, "clerk1")
    r = receipt(api, case["id"], reviewer)
    assert r.status_code == 200, r.text
    assert (r.json()["awaiting_receipt"], r.json()["received_by"]) == (False, "rev1")
    assert move(api, case["id"], "front_desk", reviewer).json()["awaiting_receipt"] is True
    assert receipt(api, case["id"], clerk).status_code == 200
    r = move(api, case["id"], "returned_to_citizen", clerk)
    assert (r.json()["location"], r.json()["awaiting_receipt"]) == ("returned_to_citizen", False)
    assert [(h["action"], h["location"], h["actor"]) for h in r.json()["history"]] == [
        ("received", "front_desk", "clerk1"), ("moved", "reviewer", "clerk1"), ("received", "reviewer", "rev1"),
        ("moved", "front_desk", "rev1"), ("received", "front_desk", "clerk1"),
        ("moved", "returned_to_citizen", "clerk1")]

    listed = api.client.get(f"/api/cases/{case['id']}/originals", headers=api.user("auditor")).json()
    assert [(o["kind"], o["location"]) for o in listed] == [("site_plan", "returned_to_citizen")]
    events = api.client.get(f"/api/cases/{case['id']}/events", headers=api.user("auditor")).json()
    custody = [(e["kind"], e["actor"], e["data"]) for e in events if e["kind"].startswith("original_")]
    assert custody == [
        ("original_received", "clerk1", {"kind": "site_plan", "location": "front_desk"}),
        ("original_moved", "clerk1", {"kind": "site_plan", "from": "front_desk", "to": "reviewer",
                                      "note": "in the blue folder"}),
        ("original_received", "rev1", {"kind": "site_plan", "location": "reviewer"}),
        ("original_moved", "rev1", {"kind": "site_plan", "from": "reviewer", "to": "front_desk", "note": None}),
        ("original_received", "clerk1", {"kind": "site_plan", "location": "front_desk"}),
        ("original_moved", "clerk1", {"kind": "site_plan", "from": "front_desk", "to": "returned_to_citizen",
                                      "note": None}),
    ]


def test_each_original_has_its_own_place(api: Api, case: dict[str, Any]) -> None:
    clerk = api.user("front_desk")
    move(api, case["id"], "front_desk", clerk, kind="national_id_copy")
    move(api, case["id"], "reviewer", clerk, kind="site_plan")
    move(api, case["id"], "archived", clerk, kind="photo")
    listed = api.client.get(f"/api/cases/{case['id']}/originals", headers=clerk).json()
    assert [(o["kind"], o["location"], o["awaiting_receipt"]) for o in listed] == [
        ("national_id_copy", "front_desk", False), ("site_plan", "reviewer", True), ("photo", "archived", False)]


def test_only_the_holder_or_a_supervisor_moves_an_original(api: Api, case: dict[str, Any]) -> None:
    clerk, reviewer = api.user("front_desk"), api.user("reviewer")
    r = move(api, case["id"], "reviewer", reviewer)  # it is at the front desk (not yet recorded)
    assert r.status_code == 403
    assert "only the role front_desk" in r.json()["detail"]
    move(api, case["id"], "reviewer", clerk)
    assert move(api, case["id"], "archived", clerk).status_code == 403  # now the reviewer holds it
    r = move(api, case["id"], "archived", api.user("supervisor"))
    assert r.status_code == 201
    assert r.json()["location"] == "archived"


def test_receipt_is_confirmed_only_where_the_original_was_sent(api: Api, case: dict[str, Any]) -> None:
    clerk = api.user("front_desk")
    assert receipt(api, case["id"], api.user("reviewer")).status_code == 404  # nothing recorded yet
    move(api, case["id"], "front_desk", clerk)
    r = receipt(api, case["id"], clerk)
    assert (r.status_code, r.json()["detail"]) == (
        409, "the original of site_plan is not on its way to anyone (it is at front_desk)")
    move(api, case["id"], "reviewer", clerk)
    for roles in [("front_desk",), ("supervisor",), ("engineering",)]:
        assert (roles, receipt(api, case["id"], api.user(*roles)).status_code) == (roles, 403)
    assert receipt(api, case["id"], api.user("reviewer")).status_code == 200
    assert receipt(api, case["id"], api.user("reviewer")).status_code == 409


@pytest.mark.parametrize("kind, to, words", [
    ("site_plan", "the_moon", "one of: front_desk, reviewer, returned_to_citizen, archived"),
    ("deed_of_sale", "reviewer", "one of: national_id_copy, site_plan, photo"),
])
def test_unknown_places_and_kinds_are_422(api: Api, case: dict[str, Any], kind: str, to: str, words: str) -> None:
    r = move(api, case["id"], to, api.user("front_desk"), kind=kind)
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == words


def test_moving_to_where_it_already_is_is_409(api: Api, case: dict[str, Any]) -> None:
    clerk = api.user("front_desk")
    move(api, case["id"], "front_desk", clerk)
    r = move(api, case["id"], "front_desk", clerk)
    assert (r.status_code, r.json()["detail"]) == (409, "the original of site_plan is already at front_desk")


def test_originals_of_unknown_cases_and_strangers(api: Api, case: dict[str, Any]) -> None:
    assert move(api, 9999, "reviewer", api.user("front_desk")).status_code == 404
    assert receipt(api, 9999, api.user("reviewer")).status_code == 404
    assert api.client.get("/api/cases/9999/originals", headers=api.user("auditor")).status_code == 404
    assert api.client.get(f"/api/cases/{case['id']}/originals", headers=api.user("engineering")).status_code == 403
    assert api.client.get(f"/api/cases/{case['id']}/originals").status_code == 401
    assert move(api, case["id"], "reviewer", {}).status_code == 401


def test_originals_can_be_returned_after_the_case_is_closed(api: Api, case: dict[str, Any]) -> None:
    clerk = api.user("front_desk")
    move(api, case["id"], "front_desk", clerk)
    api.client.post(f"/api/cases/{case['id']}/cancel", json={"reason": "withdrawn"}, headers=api.user("supervisor"))
    r = move(api, case["id"], "returned_to_citizen", clerk)
    assert r.status_code == 201
    assert r.json()["location"] == "returned_to_citizen"
