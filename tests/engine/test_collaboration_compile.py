"""What a collaboration of several executable pools compiles to (engine/bpmn/compiler.py)."""

from __future__ import annotations

import json

import pytest
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import runner
from engine.bpmn.compiler import CompiledProcess, PackageRefused, compile_package, pool_lane
from engine.catalog.packages import read_package
from harness.settings import TEST_PROCESSES


def _files(toml: str | None = None, bpmn: bytes | None = None) -> dict[str, bytes]:
    files = read_package(TEST_PROCESSES / "outside_message")
    if toml is not None:
        files["service.toml"] = toml.encode()
    if bpmn is not None:
        files["outside_message.bpmn"] = bpmn
    return files


def _compile(files: dict[str, bytes]) -> CompiledProcess:
    return compile_package(files, max_xml_bytes=1_000_000, default_lane="front_desk")


CODE = 'code = "outside_message"\n'


def test_the_starting_pool_is_the_one_no_message_starts() -> None:
    process = _compile(_files())
    assert (process.process_id, process.collaboration, process.starting_pool) == (
        "outside_message", "outside_message", "office")
    assert process.pools == {"office": "front_desk", "inspection": "inspector"}
    assert {name: task.lane for name, task in process.user_tasks.items()} == {
        "register": "front_desk", "decide": "front_desk", "visit": "inspector"}
    assert process.start_lanes == frozenset({"front_desk"}) and process.intake_tasks == frozenset({"register"})


@pytest.mark.parametrize("named", ["outside_message", "office"])
def test_service_toml_may_name_the_collaboration_or_the_starting_pool(named: str) -> None:
    process = _compile(_files(CODE + f'process_id = "{named}"\n'))
    assert (process.collaboration, process.starting_pool) == ("outside_message", "office")


def test_service_toml_may_start_the_case_in_another_pool() -> None:
    process = _compile(_files(CODE + 'process_id = "inspection"\n'))
    assert (process.collaboration, process.starting_pool) == ("outside_message", "inspection")
    assert process.intake_tasks == frozenset({"visit"})


def test_service_toml_naming_no_process_is_refused() -> None:
    with pytest.raises(PackageRefused) as refused:
        _compile(_files(CODE + 'process_id = "no_such_pool"\n'))
    assert refused.value.details[0]["element_id"] == "no_such_pool"


@pytest.mark.parametrize(("name", "lane"), [("inspector", "inspector"), ("civil_registry", "civil_registry"),
                                            ("admin", "front_desk"), ("", "front_desk"), (" ", "front_desk"),
                                            ("a, b", "front_desk"), ("x" * 101, "front_desk")])
def test_a_pool_without_lanes_takes_its_name_as_lane_when_it_can_be_a_role(name: str, lane: str) -> None:
    assert pool_lane(name, "front_desk") == lane


def test_a_pool_named_as_a_builtin_role_gives_its_tasks_the_default_lane() -> None:
    bpmn = _files()["outside_message.bpmn"].replace(b'name="inspector" processRef', b'name="admin" processRef')
    process = _compile(_files(bpmn=bpmn))
    assert process.user_tasks["visit"].lane == "front_desk"


def test_who_may_send_a_message_from_outside() -> None:
    catchers = _compile(_files()).message_catchers
    report, asked = catchers["report_received"], catchers["inspection_asked"]
    assert (report.senders, report.form, report.between_pools) == (
        ("inspection_company", "inspector"), "report.json", False)
    assert report.may_send(frozenset({"inspection_company"})) and not report.may_send(frozenset({"front_desk"}))
    assert asked.between_pools  # its only message flow comes from the office's pool


def test_a_message_started_pool_leaves_the_shared_spec_as_it_was() -> None:
    process = _compile(_files())
    before = [(name, list(spec._inputs), list(spec._outputs)) for name, spec in process.spec.task_specs.items()]
    limits = runner.Limits()
    for _ in range(2):
        workflow = runner.start(process, {}, limits)
        runner.complete(workflow, runner.ready_user_tasks(workflow)[0].id, {"plot": "1"}, limits)
        assert sorted(t.name for t in runner.ready_user_tasks(workflow)) == ["visit"]
    after = [(name, list(spec._inputs), list(spec._outputs)) for name, spec in process.spec.task_specs.items()]
    assert after == before


def test_a_pool_a_message_starts_stays_in_the_stored_tree_of_a_case_kept_warm() -> None:
    # The message that starts a pool adds a child to the collaboration's start, a task finished long before: the
    # dump of a case kept warm (finished tasks' converted forms remembered, engine/bpmn/serializer.py) must name
    # that child as a fresh conversion does. Otherwise a restored case holds the pool's task outside its tree, and
    # when the pool ends nothing ever runs its READY task.
    process = _compile(_files())
    limits = runner.Limits()
    workflow = runner.start(process, {}, limits)
    runner.dump(workflow)  # the start is finished: its converted form is remembered now
    runner.complete(workflow, runner.ready_user_tasks(workflow)[0].id, {"plot": "1"}, limits)  # starts the pool
    stored = runner.dump(workflow)
    assert stored == runner.dump(runner.load(process, runner.dump(workflow)))
    workflow.__dict__.pop("_shubbak_finished_tasks")
    assert stored == runner.dump(workflow)  # what a fresh conversion writes
    restored = runner.load(process, stored)
    visit = next(t for t in runner.ready_user_tasks(restored) if t.name == "visit")
    runner.complete(restored, visit.id, {}, limits)  # the pool ends: its task in the collaboration completes
    pool = next(t for t in runner.all_tasks(restored) if t.task_spec.name == "inspection")
    assert pool.state == TaskState.COMPLETED


def test_a_state_stored_with_the_pools_task_outside_its_tree_is_mended_when_restored() -> None:
    # A case saved before the fix above: the start's stored children leave the pool's task out.
    process = _compile(_files())
    limits = runner.Limits()
    workflow = runner.start(process, {}, limits)
    runner.complete(workflow, runner.ready_user_tasks(workflow)[0].id, {"plot": "1"}, limits)
    state = json.loads(runner.dump(workflow))
    start = state["tasks"][state["root"]]
    pool_id = next(i for i, t in state["tasks"].items() if t["task_spec"] == "inspection")
    start["children"] = [c for c in start["children"] if c != pool_id]
    restored = runner.load(process, json.dumps(state))
    visit = next(t for t in runner.ready_user_tasks(restored) if t.name == "visit")
    runner.complete(restored, visit.id, {}, limits)
    pool = next(t for t in runner.all_tasks(restored) if t.task_spec.name == "inspection")
    assert pool.state == TaskState.COMPLETED
