"""Cases for the auditors' tests: the audit_case service walked through the API, and raw SQL on the database."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, insert, inspect, text, update
from sqlmodel import Session, select

from engine.cases import workflows
from engine.core.chain import GENESIS, event_hash
from engine.people.users import create_user, issue_token
from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.audit import AuditEvent
from storage.models.base import table, tables
from storage.models.cases import Case, Task
from storage.models.people import User

SERVICE = TEST_PROCESSES / "audit_case"

REGISTER = {"area": 120, "purpose": "a family house"}
RETURN = {"decision": "return", "notes": "the area does not match the deed"}
CORRECT = {"area": 110, "corrections": "area corrected from the survey"}
APPROVE = {"decision": "approve", "notes": "complete"}


OFFICERS = {  # username: (full name, roles); names a citizen must never see (tests/api/test_citizen_outputs.py)
    "clerk_hoda": ("هدى عبد السلام", ["front_desk"]),
    "reviewer_karim": ("Karim El-Masry", ["reviewer"]),
    "auditor_mona": ("منى فؤاد", ["auditor"]),
    "admin_sami": ("Sami Haddad", ["admin"]),
    "supervisor_laila": ("ليلى حسن", ["supervisor"]),
}


def login(api: Api, username: str) -> dict[str, str]:
    """A bearer token for ``username`` (one of OFFICERS), creating the user the first time."""
    with Session(engine_for(api.settings.database_url)) as session:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            full_name, roles = OFFICERS[username]
            user = create_user(session=session, username=username, password="correct horse", full_name=full_name,
                               roles=roles, settings=api.settings, installation_wide=True)
        return {"Authorization": f"Bearer {issue_token(user, api.settings)}"}


class People:
    """One officer per role, each with a full name of their own."""

    def __init__(self, api: Api) -> None:
        self.clerk = login(api, "clerk_hoda")
        self.reviewer = login(api, "reviewer_karim")
        self.auditor = login(api, "auditor_mona")
        self.admin = login(api, "admin_sami")


def deploy(api: Api) -> None:
    r = api.deploy(SERVICE, api.user("analyst"))
    assert r.status_code in (200, 201), r.text


def step(api: Api, case: dict[str, Any], data: dict[str, Any], who: dict[str, str]) -> dict[str, Any]:
    assert len(case["tasks"]) == 1, case["tasks"]
    r = api.complete(case["tasks"][0]["id"], data, who)
    assert r.status_code == 200, r.text
    return dict(r.json())


def returned_and_resubmitted(api: Api, people: People, *, finish: bool = True,
                             citizen: dict[str, str] | None = None,
                             opened: dict[str, Any] | None = None) -> dict[str, Any]:
    """register → review (returned) → correct → review (approved) → hand over: the auditors' story
    (on a case already ``opened``, or a new one)."""
    if opened is None:
        r = api.open_case("audit_case", people.clerk, citizen=citizen or CITIZEN)
        assert r.status_code == 201, r.text
        opened = dict(r.json())
    case = step(api, opened, REGISTER, people.clerk)
    case = step(api, case, RETURN, people.reviewer)
    case = step(api, case, CORRECT, people.clerk)
    case = step(api, case, APPROVE, people.reviewer)
    if finish:
        case = step(api, case, {}, people.clerk)
        assert case["status"] == "completed" and case["outcome"] == "end_approved"
    return case


def events(api: Api, case_id: int, who: dict[str, str]) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/cases/{case_id}/events", headers=who)
    assert r.status_code == 200, r.text
    return list(r.json())


def sql(api: Api, *statements: str, **params: Any) -> None:
    """Change the database behind the engine's back, as someone with database access could."""
    with Session(engine_for(api.settings.database_url)) as session:
        for statement in statements:
            session.execute(text(statement), params)
        session.commit()
    workflows.workflow_cache(api.settings).clear()


def rows(api: Api, statement: str, **params: Any) -> list[Any]:
    with Session(engine_for(api.settings.database_url)) as session:
        return list(session.execute(text(statement), params).all())


def dump(api: Api) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: equal dumps mean nothing was written."""
    engine = engine_for(api.settings.database_url)
    out = {}
    with engine.connect() as conn:
        for table in sorted(inspect(engine).get_table_names()):
            if table == "alembic_version":
                continue
            found = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            out[table] = sorted(tuple(str(v) for v in row) for row in found)
    return out


def as_json(value: Any) -> Any:
    """JSON columns come back parsed on PostgreSQL and as text on SQLite through ``text()`` queries."""
    return json.loads(value) if isinstance(value, str) else value


def rehash(api: Api, case_id: int) -> None:
    """Recompute every hash of the case's chain and its head, as someone rewriting history would."""
    prev, seq = GENESIS, 0
    for row in rows(api, "SELECT id, seq, at, actor, kind, task, data, after FROM audit_event "
                         "WHERE case_id = :c ORDER BY seq", c=case_id):
        digest = event_hash(case_id=case_id, seq=row.seq, at=row.at, actor=row.actor, kind=row.kind, task=row.task,
                            data=as_json(row.data), prev_hash=prev, after=as_json(row.after))
        sql(api, "UPDATE audit_event SET prev_hash = :p, hash = :h WHERE id = :i", p=prev, h=digest, i=row.id)
        prev, seq = digest, row.seq
    sql(api, "UPDATE case_file SET audit_seq = :s, audit_head = :h WHERE id = :c", s=seq, h=prev, c=case_id)


def forge_event(api: Api, case_id: int, seq: int, prev_hash: str, *, actor: str = "intruder",
                kind: str = "task_completed", task: str | None = "review",
                data: dict[str, Any] | None = None) -> str:
    """Insert an event with a correct hash of its own (the algorithm is no secret); returns that hash."""
    content = data or {"task_id": "forged", "data": {"decision": "approve"}}
    at = "2026-11-22T10:00:00.000000+00:00"
    digest = event_hash(case_id=case_id, seq=seq, at=at, actor=actor, kind=kind, task=task, data=content,
                        prev_hash=prev_hash)
    with Session(engine_for(api.settings.database_url)) as session:
        session.execute(insert(table(AuditEvent)), [{
            "case_id": case_id, "seq": seq, "at": at, "actor": actor, "kind": kind, "task": task, "data": content,
            "prev_hash": prev_hash, "hash": digest, "after": None}])
        session.commit()
    return digest


def shift_events(api: Api, case_id: int, from_seq: int, by: int) -> None:
    """Renumber events ``from_seq``.. by ``by``, in two steps so that no unique (case, seq) clashes midway."""
    sql(api, "UPDATE audit_event SET seq = seq + 100000 WHERE case_id = :c AND seq >= :s", c=case_id, s=from_seq)
    sql(api, "UPDATE audit_event SET seq = seq - 100000 + :b WHERE case_id = :c AND seq >= 100000",
        c=case_id, b=by)


def snapshot_case(api: Api, case_id: int) -> dict[str, Any]:
    """The case row and its task rows as they are now (to put them back later, as a restore would)."""
    with Session(engine_for(api.settings.database_url)) as session:
        conn = session.connection()
        cases, tasks_of = tables(Case, Task)
        case = conn.execute(cases.select().where(cases.c.id == case_id)).one()
        tasks = conn.execute(tasks_of.select().where(tasks_of.c.case_id == case_id)).all()
        return {"case": dict(case._mapping), "tasks": [dict(t._mapping) for t in tasks]}


def roll_back_case(api: Api, snapshot: dict[str, Any]) -> None:
    """Put a case back as it was at ``snapshot``: its row, its tasks, and no events after its head then."""
    case = snapshot["case"]
    with Session(engine_for(api.settings.database_url)) as session:
        conn = session.connection()
        cases, tasks = tables(Case, Task)
        events = table(AuditEvent)
        conn.execute(delete(events).where(events.c.case_id == case["id"], events.c.seq > case["audit_seq"]))
        conn.execute(delete(tasks).where(tasks.c.case_id == case["id"]))
        conn.execute(update(cases).where(cases.c.id == case["id"]).values(
            {k: v for k, v in case.items() if k != "id"}))
        conn.execute(insert(tasks), snapshot["tasks"])
        session.commit()
    workflows.workflow_cache(api.settings).clear()
