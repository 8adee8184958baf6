"""The record of owners (forms/ownership.py): how it is kept, what replay makes of it, and old cases without one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session

from engine.bpmn import runner
from engine.cases import citizen_correction, replay, tasks
from engine.catalog import processes
from engine.core.errors import Invalid
from engine.people.users import Actor
from forms import ownership
from harness.api import Api
from storage.db import engine_for
from storage.models.cases import Case

TITLES: ownership.TitleOf = lambda name: (name.title(), "خطوة " + name)  # noqa: E731


def test_a_field_written_by_the_step_is_its_writers_and_any_other_change_is_the_diagrams() -> None:
    before = {"area": 40, "fee": 100.0, "note": "a"}
    owners = {"area": "task:register", "fee": "diagram", "note": "task:inspect"}
    after = {"area": 40, "fee": 100.0, "note": "b", "reference": "R", "area_rounded": 40}
    got = ownership.record_after(owners, before, {**after, "area": 41}, {"note": "task:inspect"})
    assert got == {"area": "diagram", "fee": "diagram", "note": "task:inspect", "reference": "diagram",
                   "area_rounded": "diagram"}
    # A field gone from the data (another branch of a parallel split) keeps its writer when it comes back.
    gone = ownership.record_after(owners, before, {"fee": 100.0}, {})
    assert ownership.record_after(gone, {"fee": 100.0}, before, {}) == owners


def test_the_rules_of_each_writer() -> None:
    schema = {"properties": {"a": {}, "b": {"readOnly": True}}, "additionalProperties": True}
    assert ownership.names(ownership.with_form(schema, {"a": 1})) == []
    assert ownership.names(ownership.with_form(schema, {"a": 1, "b": 2, "c": 3, "citizen": {}})) == ["b", "c",
                                                                                                     "citizen"]
    owners = {"x": "task:inspect", "y": "task:register", "z": "start", "fee": "diagram", "citizen": "citizen"}
    refused = ownership.without_form("inspect", {"x": 1, "y": 1, "z": 1, "fee": 1, "new": 1, "citizen": {}},
                                     owners, TITLES)
    assert [(r["field"], r["msg"]) for r in refused] == [
        ("citizen", "citizen: the citizen's details change only by an audited correction (front desk or "
                    "supervisor, with a reason)"),
        ("fee", "fee: computed by the diagram"), ("y", "y: written by the step Register"),
        ("z", "z: given when the case was opened")]
    assert refused[2]["msg_ar"] == "y: كتبته الخطوة خطوة register"
    assert ownership.names(ownership.at_open(schema, {"a": 1, "b": 1, "settings": {}, "x": 1})) == ["b", "settings",
                                                                                                    "x"]
    assert ownership.names(ownership.at_open(None, {"a": 1})) == ["a"]  # a service without a start form


FRONT = Actor("clerk", frozenset({"front_desk"}))


@pytest.fixture
def field_owners(sqlite_api: Api) -> Api:
    return sqlite_api.deployed("field_owners")


def _inspecting(api: Api) -> dict[str, Any]:
    case = api.past_first_step("field_owners", {"area": 40, "purpose": "a kiosk"}, api.user("front_desk"),
                               opening={"purpose": "a kiosk"})
    r = api.complete(case["tasks"][0]["id"], {"note": "first", "inspect_again": True}, api.user("inspector"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_case_from_before_the_record_gets_its_owners_from_its_trail(field_owners: Api) -> None:
    api = field_owners
    case = _inspecting(api)
    expected = case["owners"]
    url = api.settings.database_url
    with Session(engine_for(url)) as session:
        session.execute(update(Case).where(Case.id == case["id"]).values(owners=None))  # type: ignore[arg-type]
        session.commit()
        assert replay.owners_of(session=session, case_id=case["id"], settings=api.settings) == expected
    inspector = Actor("inspector1", frozenset({"inspector"}))
    with Session(engine_for(url)) as session:
        with pytest.raises(Invalid) as refused:
            tasks.complete(session=session, task_id=case["tasks"][0]["id"], data={"area": 1}, actor=inspector,
                           settings=api.settings)
        assert ownership.names(refused.value.details) == ["area"]
        assert refused.value.details[0]["msg"] == "area: written by the step Register application"
    with Session(engine_for(url)) as session:
        done = tasks.complete(session=session, task_id=case["tasks"][0]["id"],
                              data={"note": "second", "inspect_again": False}, actor=inspector,
                              settings=api.settings).case
        assert done.owners is None  # no record is made up for it: replay would have nothing to compare
        assert replay.replay_case(session=session, case_id=case["id"], settings=api.settings).consistent


def test_replay_finds_an_altered_record_of_owners(field_owners: Api) -> None:
    api = field_owners
    case = _inspecting(api)
    with Session(engine_for(api.settings.database_url)) as session:
        assert replay.replay_case(session=session, case_id=case["id"], settings=api.settings).consistent
        forged = {**case["owners"], "fee": "task:inspect"}
        session.execute(update(Case).where(Case.id == case["id"]).values(owners=forged))  # type: ignore[arg-type]
        session.commit()
        result = replay.replay_case(session=session, case_id=case["id"], settings=api.settings)
    assert not result.consistent and result.divergence is not None
    assert result.divergence.expected == {"stored": {"owners": forged}}
    assert result.divergence.actual == {"owners": case["owners"]}


def test_a_correction_survives_save_and_restore_and_the_warm_workflow_agrees(field_owners: Api) -> None:
    api = field_owners
    case = _inspecting(api)
    settings = api.settings
    with Session(engine_for(settings.database_url)) as session:
        corrected = citizen_correction.correct(session=session, case_id=case["id"], changes={"phone": "+201112223334"},
                                               reason="new number", actor=FRONT, settings=settings)
        process = processes.cache.get(session, corrected.process_version_id, settings)
        restored = runner.load(process, corrected.state)
        assert runner.case_data(restored)["citizen"]["phone"] == "+201112223334"
        # Every task's copy of the citizen changed, finished ones too: a branch that inherits later reads the new.
        assert {t.data["citizen"]["phone"] for t in runner.all_tasks(restored) if "citizen" in t.data} == {
            "+201112223334"}
        # The stored state (written from the workflow kept warm in memory) is what a fresh conversion of the
        # restored workflow gives: nothing of the old details is left in it.
        assert runner.dump(restored) == corrected.state
