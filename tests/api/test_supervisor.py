"""The supervisors' overdue queue and reassignment over HTTP, and centers scoping what each user sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from engine.operations import periodic
from engine.people import centers
from harness.api import Api
from storage.db import engine_for
from storage.models.cases import Task


@pytest.fixture
def sla(api: Api) -> Api:
    return api.deployed("sla_escalation")


def _at_check(api: Api, clerk: dict[str, str]) -> dict[str, Any]:
    [task] = api.past_first_step("sla_escalation", {}, clerk)["tasks"]
    assert task["name"] == "check"
    return dict(task)


def _make_overdue(api: Api, task_id: str, hours: float = 1) -> None:
    """Move the task's due time into the past, as if the hours had passed."""
    with Session(engine_for(api.settings.database_url)) as session:
        session.execute(update(Task).where(col(Task.id) == task_id)
                        .values(due_at=datetime.now(UTC) - timedelta(hours=hours)))
        session.commit()


def test_overdue_queue_and_reassignment(sla: Api) -> None:
    clerk, supervisor = sla.user("front_desk"), sla.user("supervisor")
    sla.user("officer", username="officer_nour")
    task = _at_check(sla, clerk)
    assert task["due_at"] is not None
    assert sla.client.get("/api/supervisor/overdue", headers=supervisor).json() == []
    _make_overdue(sla, task["id"])
    [row] = sla.client.get("/api/supervisor/overdue", headers=supervisor).json()
    assert (row["id"], row["name"], row["lane"], row["escalation_level"]) == (task["id"], "check", "officer", 0)
    assert row["overdue_days"] >= 0
    r = sla.client.post(f"/api/supervisor/tasks/{task['id']}/reassign", json={"to": "officer_nour"},
                        headers=supervisor)
    assert r.status_code == 200, r.text
    assert r.json()["claimed_by"] == "officer_nour"
    r = sla.client.post(f"/api/supervisor/tasks/{task['id']}/reassign", json={"to": None}, headers=supervisor)
    assert r.status_code == 200 and r.json()["claimed_by"] is None
    events = sla.client.get(f"/api/cases/{task['case_id']}/events", headers=sla.user("auditor")).json()
    kinds = [e["kind"] for e in events]
    assert kinds.count("task_reassigned") == 2


def test_reassignment_refusals(sla: Api) -> None:
    clerk, supervisor = sla.user("front_desk"), sla.user("supervisor")
    sla.user("front_desk", username="desk_only")
    sla.user("officer", username="officer_amr")
    task = _at_check(sla, clerk)
    url = f"/api/supervisor/tasks/{task['id']}/reassign"
    assert sla.client.get("/api/supervisor/overdue", headers=clerk).status_code == 403
    assert sla.client.post(url, json={"to": "officer_amr"}, headers=sla.user("officer")).status_code == 403
    assert sla.client.post("/api/supervisor/tasks/nope/reassign", json={"to": "officer_amr"},
                           headers=supervisor).status_code == 404
    assert sla.client.post(url, json={"to": "ghost"}, headers=supervisor).status_code == 404
    r = sla.client.post(url, json={"to": "desk_only"}, headers=supervisor)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "to"
    assert sla.complete(task["id"], {}, sla.user("officer")).status_code == 200
    assert sla.client.post(url, json={"to": "officer_amr"}, headers=supervisor).status_code == 409


def test_centers_scope_inbox_cases_and_the_overdue_queue(sla: Api) -> None:
    with Session(engine_for(sla.settings.database_url)) as session:
        ids = {}
        for code, level, parent in [("GOV", "governorate", None), ("A", "city", "GOV"), ("B", "city", "GOV"),
                                    ("A1", "district", "A")]:
            center = centers.create_center(session=session, code=code, name_ar=code, name_en=code, level=level,
                                           parent_code=parent)
            ids[code] = center.id
    clerk_a1 = sla.user("front_desk", center_id=ids["A1"])
    clerk_b = sla.user("front_desk", center_id=ids["B"])
    officer_a, officer_b = sla.user("officer", center_id=ids["A"]), sla.user("officer", center_id=ids["B"])
    governor, supervisor_b = sla.user("supervisor", center_id=ids["GOV"]), sla.user("supervisor", center_id=ids["B"])
    task = _at_check(sla, clerk_a1)
    case_id = task["case_id"]

    def inbox(headers: dict[str, str]) -> list[str]:
        return [t["id"] for t in sla.client.get("/api/tasks", headers=headers).json()]

    def listed(headers: dict[str, str]) -> list[int]:
        return [c["id"] for c in sla.client.get("/api/cases", headers=headers).json()["items"]]

    assert inbox(officer_a) == [task["id"]]  # A sees its district A1
    assert inbox(officer_b) == []
    assert listed(governor) == [case_id] and listed(supervisor_b) == []
    assert listed(clerk_a1) == [case_id] and listed(clerk_b) == []
    assert sla.client.get(f"/api/cases/{case_id}", headers=supervisor_b).status_code == 403
    assert sla.client.get(f"/api/cases/{case_id}", headers=governor).status_code == 200
    assert sla.complete(task["id"], {}, officer_b).status_code == 403
    _make_overdue(sla, task["id"])
    assert [t["id"] for t in sla.client.get("/api/supervisor/overdue", headers=governor).json()] == [task["id"]]
    assert sla.client.get("/api/supervisor/overdue", headers=supervisor_b).json() == []
    assert sla.client.post(f"/api/supervisor/tasks/{task['id']}/reassign", json={"to": None},
                           headers=supervisor_b).status_code == 403

    auditor = sla.user("auditor")

    def by_center(code: str) -> list[int]:
        r = sla.client.get("/api/audit/cases", params={"center": code}, headers=auditor)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert by_center("GOV") == [case_id] and by_center("A") == [case_id] and by_center("A1") == [case_id]
    assert by_center("B") == []


def test_admins_build_the_center_tree_and_place_users(api: Api) -> None:
    admin = api.user("admin")
    clerk_name = "clerk_of_dokki"
    clerk = api.user("front_desk", username=clerk_name)

    def add(code: str, level: str, parent: str | None = None, headers: dict[str, str] = admin) -> Any:
        return api.client.post("/api/centers", json={"code": code, "name_ar": code, "name_en": code,
                                                     "level": level, "parent": parent}, headers=headers)

    assert add("GZ", "governorate").status_code == 201
    dokki = add("GZ-D", "city", "GZ")
    assert dokki.status_code == 201 and dokki.json()["parent_id"] is not None
    assert add("GZ-H", "city", "GZ", headers=clerk).status_code == 403
    assert add("GZ", "governorate").status_code == 409
    assert add("X", "district", "GZ").status_code == 422  # a district sits in a city
    assert add("Y", "city", "NOPE").status_code == 404
    assert [c["code"] for c in api.client.get("/api/centers", headers=clerk).json()] == ["GZ", "GZ-D"]
    r = api.client.put(f"/api/users/{clerk_name}/center", json={"center": "GZ-D"}, headers=admin)
    assert r.status_code == 200 and r.json()["center_id"] == dokki.json()["id"]
    assert api.client.put("/api/users/ghost/center", json={"center": "GZ-D"}, headers=admin).status_code == 404
    assert api.client.put(f"/api/users/{clerk_name}/center", json={"center": "NOPE"},
                          headers=admin).status_code == 404
    assert api.client.put(f"/api/users/{clerk_name}/center", json={"center": None},
                          headers=clerk).status_code == 403
    r = api.client.put(f"/api/users/{clerk_name}/center", json={"center": None}, headers=admin)
    assert r.status_code == 422 and [d["field"] for d in r.json()["detail"]] == ["center"]  # no center by accident
    r = api.client.put(f"/api/users/{clerk_name}/center", json={"center": "GZ-D", "installation_wide": True},
                       headers=admin)
    assert r.status_code == 422
    assert api.client.put(f"/api/users/{clerk_name}/center", json={"center": None, "installation_wide": True},
                          headers=admin).json()["center_id"] is None
    r = api.client.put("/api/centers/GZ/holidays", json={"holidays": ["2027-03-20", "2026-03-20"]}, headers=admin)
    assert r.status_code == 200 and r.json()["holidays"] == ["2026-03-20", "2027-03-20"]
    assert api.client.put("/api/centers/GZ/holidays", json={"holidays": ["20/03/2027"]},
                          headers=admin).status_code == 422
    assert api.client.put("/api/centers/GZ/holidays", json={"holidays": []}, headers=clerk).status_code == 403
    assert api.client.put("/api/centers/NOPE/holidays", json={"holidays": []}, headers=admin).status_code == 404


def test_the_in_process_tick_reminds_and_escalates(sla: Api) -> None:
    """The embedded default has no Celery beat: the API process's periodic tick runs the escalation too."""
    task = _at_check(sla, sla.user("front_desk"))
    _make_overdue(sla, task["id"], hours=2)
    for job in periodic.JOBS:  # a round of every job, as the API process's loops run them
        assert periodic.run_round(job, sla.settings)[0]
    with Session(engine_for(sla.settings.database_url)) as session:
        row = session.get(Task, task["id"])
        assert row is not None and row.reminded_at is not None and row.escalation_level == 1
    kinds = [e["kind"] for e in sla.client.get(f"/api/cases/{task['case_id']}/events",
                                               headers=sla.user("auditor")).json()]
    assert kinds[-2:] == ["task_reminded", "task_escalated"]
