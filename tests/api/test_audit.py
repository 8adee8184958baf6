"""The auditors' routes: who may use them, auditor search, replay and history over HTTP, and the access log."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from engine.audit import access_log
from harness.api import CITIZEN, Api
from storage.db import engine_for
from storage.models.audit import AuditAccess
from tests.support.audit import (
    REGISTER,
    People,
    deploy,
    returned_and_resubmitted,
    rows,
    step,
)

OTHER_CITIZEN = {"national_id": "28501011234567", "full_name": "أحمد محمود", "phone": "+201112223344"}


@pytest.fixture
def walked(api: Api) -> tuple[Api, People, dict[str, Any], dict[str, Any]]:
    deploy(api)
    people = People(api)
    done = returned_and_resubmitted(api, people)
    waiting = step(api, api.open_case("audit_case", people.clerk, citizen=OTHER_CITIZEN).json(), REGISTER,
                   people.clerk)
    return api, people, done, waiting


ROUTES = ["/api/cases/{id}/replay", "/api/cases/{id}/history", "/api/cases/{id}/export", "/api/audit/cases",
          "/api/audit/reads"]


@pytest.mark.parametrize("route", ROUTES)
def test_only_auditors_and_admins(walked: tuple[Api, People, dict[str, Any], dict[str, Any]], route: str) -> None:
    api, people, done, _ = walked
    url = route.format(id=done["id"])
    assert api.client.get(url).status_code == 401
    assert api.client.get(url, headers=people.clerk).status_code == 403
    assert api.client.get(url, headers=api.user("supervisor")).status_code == 403
    assert api.client.get(url, headers=people.auditor).status_code == 200
    assert api.client.get(url, headers=people.admin).status_code == 200


@pytest.mark.parametrize("route", ROUTES[:3])
def test_unknown_case(walked: tuple[Api, People, dict[str, Any], dict[str, Any]], route: str) -> None:
    api, people, _, _ = walked
    assert api.client.get(route.format(id=999999), headers=people.auditor).status_code == 404


def test_replay_and_history_over_http(walked: tuple[Api, People, dict[str, Any], dict[str, Any]]) -> None:
    api, people, done, waiting = walked
    r = api.client.get(f"/api/cases/{done['id']}/replay", headers=people.auditor)
    assert r.json() == {"consistent": True, "events_replayed": 7, "divergence": None}
    r = api.client.get(f"/api/cases/{waiting['id']}/history", headers=people.auditor)
    body = r.json()
    assert body["replay"] == {"consistent": True, "events_replayed": 2, "divergence": None}
    assert body["tracking_number"] == waiting["tracking_number"]
    assert [(s["seq"], s["kind"], s["ready"], s["waiting"]) for s in body["steps"]] == [
        (1, "case_opened", ["register"], []), (2, "task_completed", ["review"], ["review_overdue"])]
    second = body["steps"][1]
    assert second["actor"] == "clerk_hoda" and second["process_version"] == 1
    # The intake task's recorded data: the form, and the papers' checklist it was completed with.
    assert second["event_data"]["data"] == {**REGISTER, "documents_complete": True, "documents_missing": []}
    assert second["diff"]["added"]["fee"] == 300.0 and second["data"]["area"] == 120
    assert {"start", "register", "compute_fee"} <= set(second["completed"])


def _search(api: Api, who: dict[str, str], **query: Any) -> Any:
    r = api.client.get("/api/audit/cases", params=query, headers=who)
    assert r.status_code == 200, r.text
    return r.json()


def test_search_by_every_field(walked: tuple[Api, People, dict[str, Any], dict[str, Any]]) -> None:
    api, people, done, waiting = walked
    a = people.auditor

    def ids(**query: Any) -> list[int]:
        return [c["id"] for c in _search(api, a, **query)["items"]]

    both = sorted([done["id"], waiting["id"]], reverse=True)
    assert ids() == both
    assert ids(tracking_number=done["tracking_number"].replace("-", "")) == [done["id"]]
    assert ids(national_id=CITIZEN["national_id"]) == [done["id"]]
    assert ids(national_id=OTHER_CITIZEN["national_id"]) == [waiting["id"]]
    assert ids(service_code="audit_case") == both and ids(service_code="building_permit") == []
    assert ids(status="completed") == [done["id"]] and ids(status="open") == [waiting["id"]]
    assert ids(officer="reviewer_karim") == [done["id"]]  # only the first case reached a reviewer
    assert ids(officer="Karim El-Masry") == [done["id"]]  # by full name as well
    assert ids(officer="clerk_hoda") == both
    assert ids(officer="nobody") == []
    today = done["created_at"][:10]
    assert ids(**{"from": today, "to": today}) == both
    assert ids(**{"from": "2000-01-01", "to": "2000-12-31"}) == []
    assert ids(**{"to": "2000-12-31"}) == [] and ids(**{"from": "2000-01-01"}) == both
    assert ids(status="open", officer="clerk_hoda", service_code="audit_case") == [waiting["id"]]
    page = _search(api, a, limit=1, offset=1)
    assert page["total"] == 2 and [c["id"] for c in page["items"]] == [done["id"]]
    found = _search(api, a, tracking_number=done["tracking_number"])["items"][0]
    assert found["officers"] == ["clerk_hoda", "reviewer_karim"]
    assert (found["status"], found["outcome"]) == ("completed", "end_approved")


def test_search_refusals(walked: tuple[Api, People, dict[str, Any], dict[str, Any]]) -> None:
    api, people, _, _ = walked
    r = api.client.get("/api/audit/cases", params={"center": "Dokki"}, headers=people.auditor)
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "unknown"  # no center has that code
    assert api.client.get("/api/audit/cases", params={"status": "lost"}, headers=people.auditor).status_code == 422
    assert api.client.get("/api/audit/cases", params={"from": "yesterday"},
                          headers=people.auditor).status_code == 422


def test_every_auditor_read_is_recorded_outside_the_case(
        walked: tuple[Api, People, dict[str, Any], dict[str, Any]]) -> None:
    api, people, done, _ = walked
    case_id = done["id"]
    [(version_before,)] = rows(api, "SELECT version FROM case_file WHERE id = :c", c=case_id)
    a = people.auditor
    api.client.get("/api/cases", headers=a)  # a list of cases is not a read of one case: not recorded
    api.client.get(f"/api/cases/{case_id}", headers=people.clerk)  # a clerk's own work: not recorded
    for url in (f"/api/cases/{case_id}", f"/api/cases/{case_id}/events", f"/api/cases/{case_id}/replay",
                f"/api/cases/{case_id}/history", f"/api/cases/{case_id}/export"):
        assert api.client.get(url, headers=a).status_code == 200
    _search(api, a, officer="reviewer_karim")
    reads = api.client.get("/api/audit/reads", headers=people.admin).json()
    assert [(r["seq"], r["actor"], r["action"], r["case_id"]) for r in reads] == [
        (6, "auditor_mona", "search", None), (5, "auditor_mona", "export", case_id),
        (4, "auditor_mona", "history", case_id), (3, "auditor_mona", "replay", case_id),
        (2, "auditor_mona", "events", case_id), (1, "auditor_mona", "case", case_id),
    ]
    assert reads[0]["detail"]["query"] == {"officer": "reviewer_karim"}
    assert reads[0]["detail"]["case_ids"] == [case_id]
    assert reads[3]["detail"] == {"consistent": True, "events_replayed": 7}
    with Session(engine_for(api.settings.database_url)) as session:
        log = list(session.exec(select(AuditAccess).order_by(col(AuditAccess.seq))).all())
    assert access_log.verify_log(log) is None
    assert [(r.seq, r.actor, r.action) for r in log][-1] == (7, "admin_sami", "access_log")  # reading the log, too
    # None of this touched the case: its version (the clerks' concurrency check) and its chain are as they were.
    [(version_after,)] = rows(api, "SELECT version FROM case_file WHERE id = :c", c=case_id)
    assert version_after == version_before
    assert len(rows(api, "SELECT id FROM audit_event WHERE case_id = :c", c=case_id)) == 7


def test_reads_of_one_case(walked: tuple[Api, People, dict[str, Any], dict[str, Any]]) -> None:
    api, people, done, waiting = walked
    api.client.get(f"/api/cases/{done['id']}/replay", headers=people.auditor)
    api.client.get(f"/api/cases/{waiting['id']}/replay", headers=people.auditor)
    reads = api.client.get("/api/audit/reads", params={"case_id": waiting["id"]}, headers=people.auditor).json()
    assert [(r["action"], r["case_id"]) for r in reads] == [("replay", waiting["id"])]
