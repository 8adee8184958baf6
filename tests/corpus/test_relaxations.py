"""BPMN that bare SpiffWorkflow refuses (or misreads) and Shubbak runs as BPMN defines it, end to end.

Each diagram is tiny and hand-written. Each test deploys it, opens a case as admin, completes its user
tasks, and checks which tasks ran and which end event the case reached. Where bare SpiffWorkflow refuses the
same diagram, the test shows that too, so the relaxation stays visible.
"""

from __future__ import annotations

from typing import Any

import pytest
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlmodel import Session

from engine.cases import timers
from harness.api import Api
from storage.db import engine_for
from tests.support.clock import make_timers_due

CLERK = "front_desk"  # the default lane: these diagrams draw no lanes
SPIFF_NS = b"http://spiffworkflow.org/bpmn/schema/1.0/core"


def bpmn(process_id: str, body: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_{process_id}"
                  targetNamespace="http://example.org/shubbak-tests">
  <bpmn:process id="{process_id}" isExecutable="true">
{body}
  </bpmn:process>
</bpmn:definitions>
""".encode()


def user(task_id: str) -> str:
    return f'    <bpmn:userTask id="{task_id}" name="{task_id.title()}" />'


def flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'    <bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />'
    return (f'    <bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
            f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>")


def flows(*edges: tuple[str, str]) -> list[str]:
    """Unconditional flows from source to target, named f1, f2... in order."""
    return [flow(f"f{n}", source, target) for n, (source, target) in enumerate(edges, 1)]


def bare_spiff_refuses(content: bytes, process_id: str) -> str:
    """The message bare SpiffWorkflow 3.2 gives for the diagram ("" if it accepts it)."""
    parser = SpiffBpmnParser()
    try:
        parser.add_bpmn_str(content, filename="x.bpmn")
        parser.get_spec(process_id)
    except ValidationException as exc:
        return str(exc)
    return ""


def refused(api: Api, content: bytes, name: str) -> dict[str, Any]:
    """Deploys one diagram that must be refused (422); answers the first problem, which names the file."""
    r = api.client.post("/api/processes", files=[("files", (name, content))], headers=api.user("analyst"))
    assert r.status_code == 422, r.text
    problem: dict[str, Any] = r.json()["detail"][0]
    assert problem["file"] == name
    return problem


class Case:
    """A case driven through the API: ready task names, completing tasks by name, the trail."""

    def __init__(self, api: Api, content: bytes, name: str = "d.bpmn") -> None:
        self.api = api
        deployed = api.client.post("/api/processes", files=[("files", (name, content))],
                                   headers=api.user("analyst"))
        assert deployed.status_code in (200, 201), deployed.text  # 200: the same diagram again
        self.clerk = api.user(CLERK)
        opened = api.open_case(deployed.json()["service_code"], api.user("admin"))
        assert opened.status_code == 201, opened.text
        self.body: dict[str, Any] = opened.json()

    @property
    def ready(self) -> list[str]:
        return sorted(t["name"] for t in self.body["tasks"])

    def complete(self, name: str, data: dict[str, Any] | None = None) -> Any:
        task = next(t for t in self.body["tasks"] if t["name"] == name)
        r = self.api.complete(task["id"], data or {}, self.clerk)
        if r.status_code == 200:
            self.body = r.json()
        return r

    def refresh(self) -> None:
        self.body = self.api.client.get(f"/api/cases/{self.body['id']}", headers=self.clerk).json()

    def completed_tasks(self) -> list[str]:
        events = self.api.client.get(f"/api/cases/{self.body['id']}/events", headers=self.clerk).json()
        return [e["task"] for e in events if e["kind"] == "task_completed"]


PARALLEL = bpmn("implicit_parallel", "\n".join([
    '    <bpmn:startEvent id="start" />', user("register"), user("check_a"), user("check_b"),
    '    <bpmn:parallelGateway id="join" />', user("close"), '    <bpmn:endEvent id="end" />',
    *flows(("start", "register"), ("register", "check_a"), ("register", "check_b"), ("check_a", "join"),
           ("check_b", "join"), ("join", "close"), ("close", "end"))]))


def test_several_flows_leaving_a_task_are_a_parallel_split(sqlite_api: Api) -> None:
    assert "Multiple outgoing flows" in bare_spiff_refuses(PARALLEL, "implicit_parallel")
    case = Case(sqlite_api, PARALLEL)
    assert case.ready == ["register"]
    case.complete("register")
    assert case.ready == ["check_a", "check_b"]  # both branches at once
    case.complete("check_b")
    assert case.ready == ["check_a"]  # the parallel gateway waits for the other branch
    case.complete("check_a")
    assert case.ready == ["close"]
    case.complete("close")
    assert case.body["status"] == "completed" and case.body["outcome"] == "end"
    assert case.completed_tasks() == ["register", "check_b", "check_a", "close"]


EVENT_SPLIT = bpmn("event_split", "\n".join([
    '    <bpmn:startEvent id="start" />', user("register"),
    '    <bpmn:intermediateThrowEvent id="submitted" name="Submitted" />',
    user("notify"), user("archive"), '    <bpmn:endEvent id="end_notified" />',
    '    <bpmn:endEvent id="end_archived" />',
    *flows(("start", "register"), ("register", "submitted"), ("submitted", "notify"), ("submitted", "archive"),
           ("notify", "end_notified"), ("archive", "end_archived"))]))


def test_several_flows_leaving_an_event_are_a_parallel_split(sqlite_api: Api) -> None:
    assert "Multiple outgoing flows" in bare_spiff_refuses(EVENT_SPLIT, "event_split")
    case = Case(sqlite_api, EVENT_SPLIT)
    case.complete("register")
    assert case.ready == ["archive", "notify"]
    case.complete("archive")
    assert case.body["status"] == "open" and case.ready == ["notify"]  # one branch ended, the other runs on
    case.complete("notify")
    assert case.body["status"] == "completed" and case.body["outcome"] == "end_notified"
    assert case.completed_tasks() == ["register", "archive", "notify"]


BOUNDARY_SPLIT = bpmn("boundary_split", "\n".join([
    '    <bpmn:startEvent id="start" />', user("work"),
    '    <bpmn:boundaryEvent id="late" name="Late" attachedToRef="work"><bpmn:timerEventDefinition id="td">'
    "<bpmn:timeDuration>P3D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>",
    user("escalate"), user("apologise"), '    <bpmn:endEvent id="end_done" />',
    '    <bpmn:endEvent id="end_escalated" />', '    <bpmn:endEvent id="end_apologised" />',
    *flows(("start", "work"), ("work", "end_done"), ("late", "escalate"), ("late", "apologise"),
           ("escalate", "end_escalated"), ("apologise", "end_apologised"))]))


def test_several_flows_leaving_a_boundary_event_are_a_parallel_split(sqlite_api: Api) -> None:
    assert "Multiple outgoing flows" in bare_spiff_refuses(BOUNDARY_SPLIT, "boundary_split")
    case = Case(sqlite_api, BOUNDARY_SPLIT)
    assert case.ready == ["work"]
    assert make_timers_due(sqlite_api.settings, case.body["id"]) == 1
    with Session(engine_for(sqlite_api.settings.database_url)) as session:
        assert timers.tick(session=session, settings=sqlite_api.settings) == 1
    case.refresh()
    assert case.ready == ["apologise", "escalate"]  # the interrupting timer took "work" away, both branches run
    case.complete("escalate")
    case.complete("apologise")
    assert case.body["status"] == "completed" and case.body["outcome"] == "end_apologised"
    assert case.completed_tasks() == ["escalate", "apologise"]


MERGE = bpmn("uncontrolled_merge", "\n".join([
    '    <bpmn:startEvent id="start" />', user("register"), user("check_a"), user("check_b"), user("review"),
    '    <bpmn:endEvent id="end" />',
    *flows(("start", "register"), ("register", "check_a"), ("register", "check_b"), ("check_a", "review"),
           ("check_b", "review"), ("review", "end"))]))


def test_several_flows_entering_a_task_run_it_once_per_arriving_token(sqlite_api: Api) -> None:
    # BPMN's uncontrolled merge: no gateway, so each branch that arrives runs the task again.
    case = Case(sqlite_api, MERGE)
    case.complete("register")
    case.complete("check_a")
    assert case.ready == ["check_b", "review"]
    case.complete("check_b")
    assert case.ready == ["review", "review"]
    case.complete("review")
    assert case.body["status"] == "open" and case.ready == ["review"]
    case.complete("review")
    assert case.body["status"] == "completed" and case.body["outcome"] == "end"
    assert case.completed_tasks() == ["register", "check_a", "check_b", "review", "review"]


INCLUSIVE = bpmn("implicit_inclusive", "\n".join([
    '    <bpmn:startEvent id="start" />',
    '    <bpmn:userTask id="assess" name="Assess" default="f_default" />',
    user("senior_review"), user("archive"), user("reject"), '    <bpmn:inclusiveGateway id="join" />',
    user("notify"), '    <bpmn:endEvent id="end" />',
    flow("f1", "start", "assess"),
    flow("f_big", "assess", "senior_review", "amount &gt; 100"),
    flow("f_any", "assess", "archive", "amount &gt; 0"),
    flow("f_default", "assess", "reject"),
    flow("f2", "senior_review", "join"), flow("f3", "archive", "join"), flow("f4", "reject", "join"),
    flow("f5", "join", "notify"), flow("f6", "notify", "end")]))


@pytest.mark.parametrize(("amount", "branches"), [
    (150, ["archive", "senior_review"]),  # both conditions hold: both flows are taken
    (50, ["archive"]),                   # one holds
    (0, ["reject"]),                     # none holds: the task's default flow
])
def test_conditional_flows_leaving_a_task_are_an_inclusive_split(sqlite_api: Api, amount: int,
                                                                  branches: list[str]) -> None:
    assert "Multiple outgoing flows" in bare_spiff_refuses(INCLUSIVE, "implicit_inclusive")
    case = Case(sqlite_api, INCLUSIVE)
    r = case.complete("assess", {"amount": amount})
    assert r.status_code == 200, r.text
    assert case.ready == branches
    for name in branches:
        case.complete(name)
    assert case.ready == ["notify"]  # the inclusive gateway joins exactly the branches that were taken
    case.complete("notify")
    assert case.body["status"] == "completed" and case.body["outcome"] == "end"
    assert case.completed_tasks() == ["assess", *branches, "notify"]


GUARDED = bpmn("guarded", "\n".join([
    '    <bpmn:startEvent id="start" />', user("assess"), user("pay"), '    <bpmn:scriptTask id="log">'
    "<bpmn:script>logged = True</bpmn:script></bpmn:scriptTask>",
    '    <bpmn:endEvent id="end_paid" />', '    <bpmn:endEvent id="end_logged" />',
    flow("f1", "start", "assess"), flow("f_pay", "assess", "pay", "amount &gt; 100"),
    flow("f_log", "assess", "log"), flow("f2", "pay", "end_paid"), flow("f3", "log", "end_logged")]))


def test_a_flow_without_condition_beside_conditional_ones_is_always_taken(sqlite_api: Api) -> None:
    case = Case(sqlite_api, GUARDED)
    case.complete("assess", {"amount": 500})
    assert case.ready == ["pay"] and case.body["status"] == "open"  # the script branch ran and ended
    case.complete("pay")
    assert case.body["status"] == "completed" and case.body["outcome"] == "end_paid"
    assert case.body["data"]["logged"] is True

    other = Case(sqlite_api, GUARDED)
    other.complete("assess", {"amount": 5})
    assert other.body["status"] == "completed" and other.body["outcome"] == "end_logged"
    assert other.completed_tasks() == ["assess"]


ONLY_IF = bpmn("only_if", "\n".join([
    '    <bpmn:startEvent id="start" />', user("assess"), '    <bpmn:endEvent id="end" />',
    flow("f1", "start", "assess"), flow("f2", "assess", "end", "amount &gt; 100")]))


def test_a_condition_that_holds_for_no_flow_stops_the_step_naming_the_task(sqlite_api: Api) -> None:
    # Bare SpiffWorkflow accepts this diagram and ignores the condition: the case would end, whatever the
    # amount.
    assert bare_spiff_refuses(ONLY_IF, "only_if") == ""
    case = Case(sqlite_api, ONLY_IF)
    r = case.complete("assess", {"amount": 5})
    assert r.status_code == 422
    assert r.json()["detail"][0]["element_id"] == "assess"
    assert "none of the conditions" in r.json()["message"]
    case.refresh()
    assert case.body["status"] == "open" and case.ready == ["assess"]  # nothing was half-done
    assert case.complete("assess", {"amount": 500}).status_code == 200
    assert case.body["status"] == "completed" and case.body["outcome"] == "end"


def test_a_condition_on_a_flow_leaving_an_event_is_refused(sqlite_api: Api) -> None:
    content = bpmn("event_condition", "\n".join([
        '    <bpmn:startEvent id="start" />', user("a"), user("b"),
        flow("f1", "start", "a", "amount &gt; 1"), flow("f2", "start", "b")]))
    problem = refused(sqlite_api, content, "e.bpmn")
    assert problem["element_id"] == "f1"
    assert "gateway" in problem["message"]


UNUSED_STORE = bpmn("unused_store", "\n".join([
    '    <bpmn:startEvent id="start" />', user("register"), '    <bpmn:endEvent id="end" />',
    '    <bpmn:dataStoreReference id="store_ref" name="Archive" dataStoreRef="store" />',
    *flows(("start", "register"), ("register", "end"))])).replace(
    b"<bpmn:process ", b'<bpmn:dataStore id="store" name="Archive" />\n  <bpmn:process ')


def test_a_data_store_no_task_uses_is_ignored_and_a_used_one_is_refused(sqlite_api: Api) -> None:
    assert "has no implementation" in bare_spiff_refuses(UNUSED_STORE, "unused_store")
    case = Case(sqlite_api, UNUSED_STORE)
    case.complete("register")
    assert case.body["status"] == "completed" and case.body["outcome"] == "end"

    used = UNUSED_STORE.replace(b'<bpmn:userTask id="register" name="Register" />',
                                b'<bpmn:userTask id="register" name="Register"><bpmn:dataOutputAssociation '
                                b'id="a1"><bpmn:targetRef>store_ref</bpmn:targetRef></bpmn:dataOutputAssociation>'
                                b"</bpmn:userTask>").replace(b'id="unused_store"', b'id="used_store"')
    problem = refused(sqlite_api, used, "s.bpmn")
    assert problem["element_id"] == "register"
    assert "data store 'Archive'" in problem["message"]


TIMER = bpmn("bare_timer", "\n".join([
    '    <bpmn:startEvent id="start" />', user("register"),
    '    <bpmn:intermediateCatchEvent id="wait" name="One hour"><bpmn:timerEventDefinition id="td">'
    "<bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
    user("follow_up"), '    <bpmn:endEvent id="end" />',
    *flows(("start", "register"), ("register", "wait"), ("wait", "follow_up"), ("follow_up", "end"))]))


def test_a_timer_written_as_bare_iso_8601_waits_that_long(sqlite_api: Api) -> None:
    # Bare SpiffWorkflow accepts it, then reads PT1H as a Python name and fails the case when it gets there.
    case = Case(sqlite_api, TIMER)
    r = case.complete("register")
    assert r.status_code == 200, r.text
    assert case.body["status"] == "open" and case.ready == []
    assert make_timers_due(sqlite_api.settings, case.body["id"]) == 1
    with Session(engine_for(sqlite_api.settings.database_url)) as session:
        assert timers.tick(session=session, settings=sqlite_api.settings) == 1
    case.refresh()
    assert case.ready == ["follow_up"]
    case.complete("follow_up")
    assert case.body["status"] == "completed" and case.body["outcome"] == "end"


@pytest.mark.parametrize(("definition", "words"), [
    ('<bpmn:timeDuration>"7 days"</bpmn:timeDuration>', "is not an ISO 8601 duration"),
    ("<bpmn:timeDuration> </bpmn:timeDuration>", "value is empty"),
    ("", "does not say when it fires"),
])
def test_a_timer_that_could_never_fire_is_refused_at_deploy(sqlite_api: Api, definition: str,
                                                            words: str) -> None:
    content = TIMER.replace(b"<bpmn:timeDuration>PT1H</bpmn:timeDuration>", definition.encode())
    problem = refused(sqlite_api, content, "t.bpmn")
    assert problem["element_id"] == "wait"
    assert words in problem["message"]


@pytest.mark.parametrize("extension", [
    "",
    '<bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="http/GetRequest" resultVariable="r" />'
    "</bpmn:extensionElements>",
])
def test_a_service_task_is_refused_at_deploy_rather_than_failing_every_case(sqlite_api: Api,
                                                                           extension: str) -> None:
    content = bpmn("service", "\n".join([
        '    <bpmn:startEvent id="start" />', f'    <bpmn:serviceTask id="call" name="Call">{extension}'
        "</bpmn:serviceTask>", '    <bpmn:endEvent id="end" />',
        flow("f1", "start", "call"), flow("f2", "call", "end")])).replace(
        b"<bpmn:definitions ", b'<bpmn:definitions xmlns:spiffworkflow="' + SPIFF_NS + b'" ')
    problem = refused(sqlite_api, content, "c.bpmn")
    assert problem["element_id"] == "call" and "outside systems" in problem["message"]


@pytest.mark.timeout(30)
def test_a_data_object_missing_from_the_parent_process_is_refused_not_a_hang(sqlite_api: Api) -> None:
    # Bare SpiffWorkflow loops forever parsing this (its data object lookup steps to the same parent again).
    # The diagram is spelled out on purpose, like the nested one of the next test (its sub-process writing a data
    # object): each test's whole diagram is its evidence, and the two differ where the object is declared.
    content = bpmn("orphan_object", """
    <bpmn:startEvent id="start" />
    <bpmn:subProcess id="sub">
      <bpmn:startEvent id="sub_start" />
      <bpmn:dataObjectReference id="ref" name="Report" dataObjectRef="nowhere" />
      <bpmn:task id="write"><bpmn:dataOutputAssociation id="a"><bpmn:targetRef>ref</bpmn:targetRef>
      </bpmn:dataOutputAssociation></bpmn:task>
      <bpmn:endEvent id="sub_end" />
      <bpmn:sequenceFlow id="g1" sourceRef="sub_start" targetRef="write" />
      <bpmn:sequenceFlow id="g2" sourceRef="write" targetRef="sub_end" />
    </bpmn:subProcess>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sub" />
    <bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="end" />""")
    problem = refused(sqlite_api, content, "o.bpmn")
    assert problem["element_id"] == "write" and "'nowhere' is not defined" in problem["message"]


@pytest.mark.timeout(30)
def test_a_data_object_of_an_outer_process_is_found_from_a_nested_sub_process(sqlite_api: Api) -> None:
    # BPMN scoping: a data object is visible in every sub-process nested in its process. Bare SpiffWorkflow
    # looks one level up only, and loops forever when the object is two levels up. Spelled out on purpose, like
    # the previous test's diagram (see the note there).
    content = bpmn("outer_object", """
    <bpmn:dataObject id="report_obj" name="Report" />
    <bpmn:startEvent id="start" />
    <bpmn:subProcess id="outer">
      <bpmn:startEvent id="o_start" />
      <bpmn:subProcess id="inner">
        <bpmn:startEvent id="i_start" />
        <bpmn:dataObjectReference id="ref" name="Report" dataObjectRef="report_obj" />
        <bpmn:scriptTask id="write"><bpmn:dataOutputAssociation id="a"><bpmn:targetRef>ref</bpmn:targetRef>
        </bpmn:dataOutputAssociation><bpmn:script>report_obj = "written"</bpmn:script></bpmn:scriptTask>
        <bpmn:endEvent id="i_end" />
        <bpmn:sequenceFlow id="h1" sourceRef="i_start" targetRef="write" />
        <bpmn:sequenceFlow id="h2" sourceRef="write" targetRef="i_end" />
      </bpmn:subProcess>
      <bpmn:endEvent id="o_end" />
      <bpmn:sequenceFlow id="g1" sourceRef="o_start" targetRef="inner" />
      <bpmn:sequenceFlow id="g2" sourceRef="inner" targetRef="o_end" />
    </bpmn:subProcess>
    <bpmn:userTask id="check" name="Check" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="outer" />
    <bpmn:sequenceFlow id="f2" sourceRef="outer" targetRef="check" />
    <bpmn:sequenceFlow id="f3" sourceRef="check" targetRef="end" />""")
    case = Case(sqlite_api, content)
    assert case.ready == ["check"]
    case.complete("check")
    assert case.body["status"] == "completed" and case.body["outcome"] == "end"
