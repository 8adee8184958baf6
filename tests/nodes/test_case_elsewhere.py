"""A case is written on the node that owns it only (engine/core/nodes.py): from the attacker's side, a user with
every right on a case another node owns gets 409 ``node.case_elsewhere`` naming the owner, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session

from engine.people import centers
from harness.api import Api
from storage.db import engine_for
from tests.api.test_documents import upload


@pytest.fixture
def permit(api: Api) -> Api:
    return api.deployed("test_permit")


def hand_to(api: Api, case_id: int, node: str) -> None:
    """The case as a center node's case reaches central by replication: owned by ``node``."""
    with Session(engine_for(api.settings.database_url)) as session:
        session.connection().execute(text("UPDATE case_file SET node = :node WHERE id = :id"),
                                     {"node": node, "id": case_id})
        session.commit()


def written(api: Api, case_id: int) -> tuple[Any, ...]:
    with Session(engine_for(api.settings.database_url)) as session:
        conn = session.connection()
        case = conn.execute(text("SELECT version, audit_seq, status FROM case_file WHERE id = :id"),
                            {"id": case_id}).one()
        tasks = conn.execute(text("SELECT id, state, claimed_by FROM task WHERE case_id = :id ORDER BY id"),
                             {"id": case_id}).all()
        docs = conn.execute(text("SELECT count(*) FROM document WHERE case_id = :id"), {"id": case_id}).scalar()
    return tuple(case), tuple(tuple(t) for t in tasks), docs


def elsewhere(r: Any, owner: str) -> None:
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["message_id"] == "node.case_elsewhere"
    assert owner in body["message"] and owner in body["message_ar"]


def test_central_refuses_every_write_to_a_center_nodes_case(permit: Api) -> None:
    with Session(engine_for(permit.settings.database_url)) as session:
        centers.create_center(session=session, code="ASW01", name_ar="مركز أسوان", name_en="Aswan center",
                              level="governorate")
    clerk = permit.user("front_desk")
    case = permit.past_first_step("test_permit", {"area": 120, "purpose": "family house"}, clerk)
    task_id = case["tasks"][0]["id"]
    hand_to(permit, case["id"], "ASW01")
    before = written(permit, case["id"])
    reviewer, supervisor = permit.user("reviewer"), permit.user("supervisor")

    r = permit.complete(task_id, {"decision": "approve", "notes": "ok"}, reviewer)
    elsewhere(r, "ASW01")
    assert "Aswan center (ASW01)" in r.json()["message"]
    assert "مركز أسوان" in r.json()["message_ar"]
    elsewhere(permit.client.post(f"/api/tasks/{task_id}/claim", headers=reviewer), "ASW01")
    elsewhere(permit.client.post(f"/api/cases/{case['id']}/cancel", json={"reason": "duplicate request"},
                                 headers=supervisor), "ASW01")
    permit.user("reviewer", username="rev_two")
    elsewhere(permit.client.post(f"/api/supervisor/tasks/{task_id}/reassign", json={"to": "rev_two"},
                                 headers=supervisor), "ASW01")
    assert written(permit, case["id"]) == before
    # Read there, as replicated: the case and its trail are still shown.
    assert permit.read_case(case["id"])["status"] == "open"

    # Back on its own node (here: the case owned by this one again), the same command is done.
    hand_to(permit, case["id"], None)  # type: ignore[arg-type]
    assert permit.complete(task_id, {"decision": "approve", "notes": "ok"}, reviewer).status_code == 200


def test_papers_of_a_center_nodes_case_are_refused(doc_api: Api) -> None:
    from harness.settings import TEST_PROCESSES

    assert doc_api.deploy(TEST_PROCESSES / "papers", doc_api.user("analyst")).status_code == 201
    clerk = doc_api.user("front_desk")
    case = doc_api.open_case("papers", clerk).json()
    hand_to(doc_api, case["id"], "ASW01")
    before = written(doc_api, case["id"])
    elsewhere(upload(doc_api, case["id"], clerk), "ASW01")
    assert written(doc_api, case["id"]) == before
    from tests.support.documents import stored_keys

    assert [k for k in stored_keys(doc_api.settings) if k.startswith("cases/")] == []  # nor an object in the store


def test_a_rating_and_an_incident_of_a_center_nodes_case_are_refused(permit: Api) -> None:
    from engine.cases import incidents, ratings
    from engine.core.nodes import CaseElsewhere
    from engine.people.users import Actor

    clerk = permit.user("front_desk")
    case = permit.past_first_step("test_permit", {"area": 120, "purpose": "family house"}, clerk)
    done = permit.complete(case["tasks"][0]["id"], {"decision": "reject"}, permit.user("reviewer"))
    assert done.json()["status"] == "completed"
    hand_to(permit, case["id"], "ASW01")
    desk = Actor("desk", frozenset({"front_desk"}))
    with Session(engine_for(permit.settings.database_url)) as session:
        with pytest.raises(CaseElsewhere):
            ratings.rate_at_desk(session=session, case_id=case["id"], rating=ratings.RatingInput("happy"),
                                 actor=desk, settings=permit.settings)
        from storage.models.incidents import Incident

        row = Incident(case_id=case["id"], service_code="test_permit", version=1, element_id="review",
                       reason="script_error", message="x")
        session.add(row)
        session.commit()
        incident_id = row.id
        admin = Actor("boss", frozenset({"admin"}))
        with pytest.raises(CaseElsewhere):
            incidents.cancel(session=session, incident_id=incident_id, reason="no longer needed", actor=admin,
                             settings=permit.settings)
    with Session(engine_for(permit.settings.database_url)) as session:
        conn = session.connection()
        assert conn.execute(text("SELECT count(*) FROM rating")).scalar() == 0
        assert conn.execute(text("SELECT status FROM incident WHERE id = :id"), {"id": incident_id}).scalar() == "open"


def test_bulk_moves_refuse_another_nodes_tasks_item_by_item_and_version_moves_leave_its_cases(permit: Api) -> None:
    clerk, supervisor = permit.user("front_desk"), permit.user("supervisor")
    permit.user("reviewer", username="rev_bulk")
    mine, other = (permit.past_first_step("test_permit", {"area": 120, "purpose": "family house"}, clerk)
                   for _ in range(2))
    hand_to(permit, other["id"], "ASW01")
    body = {"action": "reassign", "filter": {"lane": "reviewer"}, "to": "rev_bulk"}
    for dry_run in (True, False):
        r = permit.client.post("/api/supervisor/bulk", json={**body, "dry_run": dry_run, "reason": "moving"},
                               headers=supervisor)
        assert r.status_code == 200, r.text
        items = {i["case_id"]: i for i in r.json()["items"]}
        assert items[mine["id"]]["ok"] and not items[other["id"]]["ok"]
        assert "ASW01" in str(items[other["id"]])
    assert written(permit, other["id"])[1][0][2] is None  # its task is still the lane's

    from engine.cases import version_moves

    with Session(engine_for(permit.settings.database_url)) as session:
        open_ = version_moves._open_cases(session, _newest(session))
    assert [c.id for c, _v in open_] == [mine["id"]]  # to a newer version: its own case only


def _newest(session: Session) -> Any:
    from sqlmodel import select

    from storage.models.catalog import ProcessVersion

    row = session.exec(select(ProcessVersion).where(ProcessVersion.service_code == "test_permit")).first()
    assert row is not None
    return row.model_copy(update={"version": row.version + 1})
