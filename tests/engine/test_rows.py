"""Rows made and read without the ORM's per-field machinery (storage/models/base.py ``made`` and ``loaded``) are the
objects the ORM would have given: an event or a task made is what the model's ``__init__`` makes, a case or a task
read by a command is what ``Session.get`` then ``expunge`` leave, column for column (a column left out or shifted
in the step's join of task and case shows here), and a row the session holds already is still the session's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Session, SQLModel

from engine.cases import lifecycle as cases
from engine.cases import tasks
from engine.core.errors import NotFound
from engine.core.settings import Settings
from engine.people.users import Actor
from harness.api import CITIZEN
from harness.pages import deploy
from storage.db import engine_for
from storage.models.audit import AuditEvent
from storage.models.base import made
from storage.models.cases import Case, Task
from tests.support.audit import REGISTER, SERVICE

CLERK = Actor("clerk", frozenset({"front_desk"}))
READER = Actor("rev", frozenset({"reviewer", "front_desk"}))


def _seen(row: SQLModel) -> tuple[Any, ...]:
    """What a reader of the object can tell: its fields' values, which count as set, and its ORM state."""
    state = sa_inspect(row)
    return ({key: value for key, value in row.__dict__.items() if key != "_sa_instance_state"},
            row.__pydantic_fields_set__, row.__pydantic_extra__, row.__pydantic_private__, state.transient,
            state.detached, state.key, dict(state.committed_state), state.expired_attributes, state.unloaded)


def test_an_event_and_a_task_made_are_what_their_init_makes() -> None:
    event = {"case_id": 7, "seq": 3, "at": "2026-12-07T00:00:00+00:00", "actor": "clerk", "kind": "task_completed",
             "task": "review", "data": {"decision": "approve"}, "prev_hash": "a" * 64, "hash": "b" * 64,
             "after": None}
    by_init, by_made = AuditEvent(**event), made(AuditEvent, event)
    assert _seen(by_made)[:7] == _seen(by_init)[:7]
    assert by_made.model_dump() == by_init.model_dump()
    # Fields left out take their defaults and do not count as set, as with __init__ (a Task's escalation level).
    task = {"id": "t-1", "case_id": 7, "tracking_number": "1234-5678-901", "service_code": "s", "name": "review",
            "title": "Review", "lane": "reviewer", "form": None, "state": "ready", "claimed_by": None,
            "created_at": datetime(2026, 12, 7, tzinfo=UTC)}
    made_task, init_task = made(Task, task), Task(**task)
    assert _seen(made_task)[:7] == _seen(init_task)[:7]
    assert made_task.escalation_level == 0 and "escalation_level" not in made_task.__pydantic_fields_set__


def _opened(settings: Settings) -> tuple[int, str]:
    deploy(settings, SERVICE)
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        case = cases.open_case(session=session, service_code="audit_case", citizen=CITIZEN, data={},
                               actor=CLERK, settings=settings).case
        assert case.id is not None
        ready = cases.ready_tasks(session, case.id)
        done = tasks.complete(session=session, task_id=ready[0].id, data=REGISTER, actor=CLERK, settings=settings)
        return case.id, done.tasks[0].id


def _got(settings: Settings, model: type[SQLModel], ident: Any) -> SQLModel:
    with Session(engine_for(settings.database_url)) as session:
        row = session.get(model, ident)
        assert row is not None
        session.expunge(row)
        return row


def test_a_case_and_a_step_read_are_what_session_get_reads(settings: Settings) -> None:
    case_id, task_id = _opened(settings)
    want_case, want_task = _got(settings, Case, case_id), _got(settings, Task, task_id)
    with Session(engine_for(settings.database_url)) as session:
        case = cases.load_case(session, case_id)
        assert _seen(case) == _seen(want_case)
        assert case.state and case.data and case.audit_seq > 1  # the columns of a stepped case, not defaults
    with Session(engine_for(settings.database_url)) as session:
        step = tasks.step_for(session=session, task_id=task_id, actor=READER, settings=settings, action="task.read")
        assert _seen(step.task) == _seen(want_task)
        assert _seen(step.case) == _seen(want_case)
        assert step.task not in session and step.case not in session
    with Session(engine_for(settings.database_url)) as session:
        task = tasks.task_for(session=session, task_id=task_id, actor=READER, action="task.read")
        assert _seen(task) == _seen(want_task)


def test_a_row_the_session_holds_is_its_own(settings: Settings) -> None:
    case_id, task_id = _opened(settings)
    with Session(engine_for(settings.database_url)) as session:
        held_task = session.get(Task, task_id)
        held_case = session.get(Case, case_id)
        step = tasks.step_for(session=session, task_id=task_id, actor=READER, settings=settings, action="task.read")
        assert step.task is held_task and step.case is held_case
        assert step.case not in session  # taken out, as load_case always did
    with Session(engine_for(settings.database_url)) as session:
        held_case = session.get(Case, case_id)
        assert cases.load_case(session, case_id) is held_case


def test_a_missing_task_or_case_is_refused(settings: Settings) -> None:
    _opened(settings)
    with Session(engine_for(settings.database_url)) as session:
        with pytest.raises(NotFound) as refused:
            tasks.step_for(session=session, task_id="no-such-task", actor=READER, settings=settings)
        assert refused.value.message_id == "task.not_found"
        with pytest.raises(NotFound) as refused:
            cases.load_case(session, 10**9)
        assert refused.value.message_id == "case.not_found"


def test_a_row_added_to_the_session_and_not_yet_flushed_is_its_own(settings: Settings) -> None:
    """Session.get flushes what was added, then answers with that very object: so do the step and the task read."""
    case_id, task_id = _opened(settings)
    with Session(engine_for(settings.database_url)) as session:
        twin = session.get(Task, task_id)
        assert twin is not None
        fields = twin.model_dump()
        session.expunge(twin)
        added = Task(**{**fields, "id": "added-not-flushed"})
        session.add(added)
        assert tasks.task_for(session=session, task_id="added-not-flushed", actor=READER,
                              action="task.read") is added
    with Session(engine_for(settings.database_url)) as session:
        added = Task(**{**fields, "id": "added-not-flushed-2"})
        session.add(added)
        step = tasks.step_for(session=session, task_id="added-not-flushed-2", actor=READER, settings=settings,
                              action="task.read")
        assert step.task is added and step.case.id == case_id
