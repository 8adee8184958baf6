"""The tracking page of a resolved complaint: it reads resolved, says until when it may be reopened, and
takes the citizen's reason to reopen it (or their acceptance)."""

from __future__ import annotations

from typing import Any

from harness.api import Api
from harness.pages import Pages, deploy
from harness.settings import ROOT
from tests.services.papers import provide_papers
from tests.services.paths import find_path, ready_task


def _resolved(pages: Pages) -> dict[str, Any]:
    deploy(pages.settings, ROOT / "processes" / "complaint")
    api = Api(pages.client, pages.settings)
    path = find_path("complaint", "municipal_resolved")
    case: dict[str, Any] = api.open_case("complaint", api.user("front_desk"), data=path.case_data).json()
    provide_papers(api, "complaint", case["id"])
    for step in path.steps[:4]:
        case = api.complete(ready_task(case, step)["id"], step.data, api.user(step.lane)).json()
    assert [t["name"] for t in case["tasks"]] == ["reopen_window"]
    return case


def test_a_resolved_complaint_is_reopened_from_the_tracking_page(pages: Pages) -> None:
    case = _resolved(pages)
    r = pages.post("/track", {"number": case["tracking_number"], "phone_last4": "4567"}, token_from="/track")
    assert r.status_code == 200
    assert "تم حل شكواك" in r.text and 'id="track-reopen-until"' in r.text and 'id="reopen-form"' in r.text
    assert 'id="track-step"' not in r.text  # the citizen's own step is not shown as work in progress
    empty = pages.post("/track/reopen", {"number": case["tracking_number"], "phone_last4": "4567",
                                         "answer": "reopen", "reason": " "}, token_from="/track")
    assert empty.status_code == 422 and "اذكر سبب عدم حل الشكوى" in empty.text
    wrong = pages.post("/track/reopen", {"number": case["tracking_number"], "phone_last4": "0000",
                                         "answer": "reopen", "reason": "لم تُرفع"}, token_from="/track")
    assert wrong.status_code == 404
    r = pages.post("/track/reopen", {"number": case["tracking_number"], "phone_last4": "4567", "answer": "reopen",
                                     "reason": "عادت القمامة بعد يومين"}, token_from="/track")
    assert r.status_code == 200, r.text
    assert 'id="reopen-done"' in r.text and "طلبك قيد التنفيذ" in r.text and 'id="reopen-form"' not in r.text
    api = Api(pages.client, pages.settings)
    inbox = api.client.get("/api/tasks", headers=api.user("municipal_services")).json()
    assert [t["name"] for t in inbox if t["case_id"] == case["id"]] == ["resolve_municipal"]
    # Staff read on the case's timeline that the citizen reopened it, and why.
    pages.as_user("municipal_services")
    staff = pages.client.get(f"/cases/{case['id']}")
    assert staff.status_code == 200 and "المواطن أنجز" in staff.text and "عادت القمامة بعد يومين" in staff.text
    pages.sign_out()
    again = pages.post("/track/reopen", {"number": case["tracking_number"], "phone_last4": "4567",
                                         "answer": "reopen", "reason": "مرة أخرى"}, token_from="/track")
    assert again.status_code == 409 and 'id="reopen-error"' in again.text


def test_the_citizen_may_accept_the_resolution(pages: Pages) -> None:
    case = _resolved(pages)
    r = pages.post("/track/reopen", {"number": case["tracking_number"], "phone_last4": "4567", "answer": "accept"},
                   token_from="/track")
    assert r.status_code == 200 and "تم إغلاق شكواك" in r.text and "تم الانتهاء من طلبك" in r.text
    later = pages.post("/track/reopen", {"number": case["tracking_number"], "phone_last4": "4567",
                                         "answer": "reopen", "reason": "تراجعت"}, token_from="/track")
    assert later.status_code == 409 and "انتهت مهلة إعادة فتح هذه الشكوى" in later.text
