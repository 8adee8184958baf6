"""A complaint closed as resolved can be reopened by the citizen from the tracking page, within the days the
settings give; reopened, it goes back to its department. Replay and the audit chain stay exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from engine import clock, complaints, timers
from engine.errors import Conflict
from engine.refusals import say
from engine.replay import replay_case
from engine.verify import verify_all
from storage.db import engine_for
from storage.models import AuditEvent
from tests.services.papers import provide_papers
from tests.services.paths import PROCESSES, ServicePath, find_path, ready_task
from tests.support.api import Api

REASON = "رُفعت القمامة يومًا واحدًا ثم عادت تتراكم من جديد"


def _resolved(api: Api, path: ServicePath) -> dict[str, Any]:
    """A complaint walked through its path up to the citizen's time to reopen."""
    assert api.deploy(PROCESSES / "complaint", api.user("analyst")).status_code in (200, 201)  # 200: deployed
    r = api.open_case("complaint", api.user("front_desk"), data=path.case_data)
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    # The window's length is the installation's setting, copied into the case at open (not the path's).
    assert case["data"]["settings"] == {"complaint_reopen_days": api.settings.complaint_reopen_days}
    provide_papers(api, "complaint", case["id"])
    for step in path.steps:
        if step.task == "reopen_window":
            break
        r = api.complete(ready_task(case, step)["id"], step.data, api.user(step.lane))
        assert r.status_code == 200, r.text
        case = r.json()
    return case


def _track(api: Api, case: dict[str, Any]) -> Any:
    return api.client.get(f"/api/public/track/{case['tracking_number']}", params={"phone_last4": "4567"})


def _reopen(api: Api, case: dict[str, Any], reason: str = REASON, last4: str = "4567") -> Any:
    return api.client.post(f"/api/public/track/{case['tracking_number']}/reopen",
                           json={"phone_last4": last4, "reason": reason})


def _consistent(api: Api, case_id: int) -> None:
    with Session(engine_for(api.settings.database_url)) as session:
        result = replay_case(session=session, case_id=case_id, settings=api.settings)
        assert result.consistent, result.divergence
        assert verify_all(session=session, settings=api.settings).findings == []


def test_reopened_within_the_window_goes_back_to_its_department(api: Api) -> None:
    case = _resolved(api, find_path("complaint", "municipal_resolved"))
    assert [(t["name"], t["lane"]) for t in case["tasks"]] == [("reopen_window", "citizen")]
    tracked = _track(api, case).json()
    assert tracked["status"] == "resolved"
    until = datetime.fromisoformat(tracked["reopen_until"])
    expected = datetime.now(UTC) + timedelta(days=api.settings.complaint_reopen_days)
    assert abs((until - expected).total_seconds()) < 120

    r = _reopen(api, case)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open" and r.json()["reopen_until"] is None
    officer = api.user("municipal_services")
    inbox = api.client.get("/api/tasks", headers=officer).json()
    back = [t for t in inbox if t["case_id"] == case["id"]]
    assert [t["name"] for t in back] == ["resolve_municipal"]
    detail = api.client.get(f"/api/cases/{case['id']}", headers=officer).json()
    assert detail["data"]["reopen_reason"] == REASON and detail["data"]["reopen"] is True
    events = api.client.get(f"/api/cases/{case['id']}/events", headers=api.user("auditor")).json()
    assert (events[-1]["actor"], events[-1]["kind"], events[-1]["task"]) == (
        "citizen", "task_completed", "reopen_window")

    # Resolved again, the citizen gets a new time to reopen.
    r = api.complete(back[0]["id"], {"resolution": "resolved", "resolution_notes": "صندوق كبير ورفع يومي"},
                     officer)
    r = api.complete(r.json()["tasks"][0]["id"], {"citizen_informed": True, "informed_via": "sms"},
                     api.user("front_desk"))
    assert [t["name"] for t in r.json()["tasks"]] == ["reopen_window"]
    assert _track(api, case).json()["status"] == "resolved"
    _consistent(api, case["id"])


def test_after_the_window_reopening_is_refused_and_the_complaint_closes(api: Api) -> None:
    case = _resolved(api, find_path("complaint", "licensing_resolved_email"))
    later = datetime.now(UTC) + timedelta(days=api.settings.complaint_reopen_days, minutes=5)
    with Session(engine_for(api.settings.database_url)) as session, clock.frozen(later):
        # Before the periodic tick has closed it, the window is already over.
        with pytest.raises(Conflict) as refused:
            complaints.answer(session=session, tracking_number=case["tracking_number"], phone_last4="4567",
                              reopen=True, reason=REASON, settings=api.settings)
        assert refused.value.message_id == complaints.WINDOW_ENDED
        assert timers.tick(session=session, settings=api.settings, now=later) == 1
    tracked = _track(api, case).json()
    assert tracked["status"] == "completed" and tracked["reopen_until"] is None
    r = _reopen(api, case)
    assert r.status_code == 409
    assert r.json()["detail"] == say(complaints.WINDOW_ENDED)
    closed = api.client.get(f"/api/cases/{case['id']}", headers=api.user("supervisor")).json()
    assert closed["outcome"] == "complaint_closed" and closed["tasks"] == []
    with Session(engine_for(api.settings.database_url)) as session:
        kinds = session.exec(select(AuditEvent.kind).where(AuditEvent.case_id == case["id"])
                             .order_by(col(AuditEvent.seq))).all()
    assert kinds[-2:] == ["timer_fired", "case_completed"]
    _consistent(api, case["id"])


def test_refusals(api: Api) -> None:
    case = _resolved(api, find_path("complaint", "municipal_resolved"))
    assert _reopen(api, case, last4="0000").status_code == 404
    assert _reopen(api, case, reason="   ").status_code == 422
    assert _reopen(api, case, reason="x" * (api.settings.reopen_reason_max_chars + 1)).status_code == 422
    assert _track(api, case).json()["status"] == "resolved"  # nothing moved

    not_resolved = _resolved(api, find_path("complaint", "utilities_not_resolvable"))
    assert not_resolved["status"] == "completed"
    r = _reopen(api, not_resolved)
    assert r.status_code == 409 and r.json()["detail"] == say(complaints.NOT_REOPENABLE)
    # A complaint still with its department is not "resolved" either.
    path = find_path("complaint", "municipal_resolved")
    opened = api.open_case("complaint", api.user("front_desk"), data=path.case_data).json()
    assert _reopen(api, opened).status_code == 409


def test_the_citizens_own_step_sends_no_department_message(api: Api) -> None:
    case = _resolved(api, find_path("complaint", "municipal_resolved"))
    r = api.client.get(f"/api/cases/{case['id']}/messages", headers=api.user("supervisor"))
    assert r.status_code == 200, r.text
    # The citizen lane is not a department that "received the papers": only the departments that did.
    found = r.json()
    assert [m["stage"] for m in found] == ["received", "department"]
    assert "citizen" not in found[1]["body"]
