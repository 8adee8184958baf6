"""The restricted script engine: the allow-list, the sandboxed runtime, helpers, and real workflow runs."""

from __future__ import annotations

import builtins
import datetime as dt
import re
from typing import Any

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import scripts
from engine.bpmn.safe_xml import parse_untrusted_xml
from engine.bpmn.script_checks import check_bpmn_scripts, check_dmn_expressions
from engine.bpmn.scripts import (
    HELPERS,
    SAFE_BUILTINS,
    RestrictedEnvironment,
    RestrictedScriptEngine,
    ScriptRefused,
    add_days,
    check_script,
    days_between,
    now,
    round_money,
    today,
)

LIMIT = 1024 * 1024


def refused(source: str, mode: str = "exec") -> ScriptRefused:
    with pytest.raises(ScriptRefused) as caught:
        check_script(source, mode=mode)
    return caught.value


# --- the allow-list --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "total = price * qty + 2 ** 10 - 7 // 2 % 3",
        "d = {'a': 1}\nd['b'] = 2\nkeys = sorted(d)\nd.update(c=3)\nitems = [v for v in d.values() if v > 1]",
        "names = [n.upper() for n in ['a', 'b']]\nlabel = f'{len(names)} names: {names[0]!r:>5}'",
        "def double(x):\n    return x * 2\nresult = list(map(lambda v: double(v), range(3)))",
        "for i in range(3):\n    if i == 1:\n        continue\n    last = i\nelse:\n    done = True",
        "x = int('7') if '7'.isdigit() else 0\nassert x == 7, 'seven'",
        "s = {1, 2}\nt = (1,)\nfirst, *rest = [1, 2, 3]\ndel s\nok = isinstance(t, tuple) and 1 in rest[:1]",
        "when = add_days(today(), 3)\ngap = days_between(today(), when)\nfee = round_money(10 / 3)",
    ],
)
def test_safe_scripts_pass_the_check(source: str) -> None:
    check_script(source)


@pytest.mark.parametrize(
    "expression", ["amount > 100 and kind == 'residential'", "x if y else z", "(v := 3) < 4", "'PT1H'"]
)
def test_safe_expressions_pass_the_check(expression: str) -> None:
    check_script(expression, mode="eval")


def test_an_import_is_refused_with_its_line() -> None:
    err = refused("x = 1\nimport os")
    assert err.message == "imports are not allowed in scripts (line 2)"
    assert err.line == 2 and str(err) == err.message


def test_the_earliest_line_is_reported_when_there_are_several_problems() -> None:
    assert refused("x = 1\n_y = 2\nimport os").line == 2


def test_a_syntax_error_is_refused_with_its_line() -> None:
    err = refused("x = 1\ny = (")
    assert err.line == 2 and err.syntax_error
    assert err.message.startswith("this is not valid Python")


def test_a_statement_is_not_an_expression() -> None:
    err = refused("x = 1", mode="eval")
    assert err.syntax_error


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from os import path", "imports are not allowed"),
        ("global x", "'global' is not allowed"),
        ("def f():\n    nonlocal y", "'nonlocal' is not allowed"),
        ("while True:\n    pass", "'while' loops are not allowed"),
        ("class A:\n    pass", "class definitions are not allowed"),
        ("async def f():\n    pass", "async code is not allowed"),
        ("def f():\n    yield 1", "'yield' is not allowed"),
        ("with x:\n    pass", "'with' is not allowed"),
        (
            "try:\n    x = 1\nexcept:\n    x = 0",
            "'try' is not allowed in scripts (check values with 'if' instead)",
        ),
        ("for i in [1]:\n    try:\n        x = 1\n    finally:\n        continue", "'try' is not allowed"),
        ("def f():\n    pass\nreturn 1", "'return' outside function"),
        ("match x:\n    case 1:\n        pass", "'match' is not allowed"),
        ("x: int = 1", "type annotations"),
        ("_x = 1", "names starting with '_'"),
        ("y = x._private", "names starting with '_'"),
        ("def f(_a):\n    return 1", "names starting with '_'"),
        ("f(_k=1)", "names starting with '_'"),
        ("().__class__.__bases__[0].__subclasses__()", "'__subclasses__'"),
        ("[c for c in ().__class__.__mro__]", "'__mro__'"),
        ('"{0.__class__}".format(1)', "'.format' cannot be used in scripts (use an f-string instead)"),
        ('"{x.y}".format_map(d)', "'.format_map' cannot be used"),
        ("str.mro()", "'.mro' cannot be used"),
        ("g = (x for x in [1]).gi_frame.f_back", "'.f_back' cannot be used"),
        ("open('/etc/passwd')", "'open()' cannot be used"),
        ("__import__('os')", "'__import__()' cannot be used"),
        ("getattr(1, '__class__')", "'getattr()' cannot be used"),
        ('eval("1")', "'eval()' cannot be used"),
        ("y = 2 ** 100000", "exponents above 10,000"),
        ("y = 2\ny **= 20000", "exponents above 10,000"),
        ("x = 1" + " " * scripts.MAX_SOURCE_CHARS, "limited to 100,000 characters"),
    ],
)
def test_forbidden_constructs_are_refused_with_a_clear_message(source: str, expected: str) -> None:
    assert expected in refused(source).message


@pytest.mark.parametrize("name", sorted(scripts.FORBIDDEN_CALLS - {"__import__"}))
def test_every_forbidden_builtin_call_is_refused(name: str) -> None:
    assert refused(f"x = {name}(1)").message == f"'{name}()' cannot be used in scripts (line 1)"


def test_a_lambda_reaching_for_builtins_is_refused() -> None:
    assert "'__builtins__'" in refused("lambda: __builtins__", mode="eval").message


def test_expressions_say_expressions() -> None:
    assert refused("x.__class__", mode="eval").message.endswith("in expressions ('__class__') (line 1)")


def test_the_check_cache_stays_bounded() -> None:
    for i in range(scripts._CACHE_LIMIT + 500):
        check_script(f"x = {i}")
    assert len(scripts._cache) <= scripts._CACHE_LIMIT
    # A refusal is cached too, and still raised (as a fresh exception) every time.
    assert refused("import os") is not refused("import os")


# --- the builtins and helpers ----------------------------------------------------------------------


def test_safe_builtins_are_exactly_the_allow_list() -> None:
    assert set(SAFE_BUILTINS) == {
        "abs", "all", "any", "bool", "dict", "enumerate", "filter", "float", "int", "isinstance", "len",
        "list", "map", "max", "min", "pow", "range", "reversed", "round", "set", "sorted", "str", "sum",
        "tuple", "zip", "True", "False", "None",
    }  # fmt: skip
    assert not {"open", "eval", "exec", "getattr", "type", "__import__", "print"} & set(SAFE_BUILTINS)


def test_range_and_pow_refuse_huge_work() -> None:
    env = RestrictedEnvironment()
    assert env.evaluate("len(range(100000)) + pow(2, 10) + pow(3, 100000, 7)", {}) == 100_000 + 1024 + 4
    for expression in ("range(100001)", "range(10 ** 30)", "pow(2, 10001)"):
        with pytest.raises(ValueError, match="limited to"):
            env.evaluate(expression, {})


def test_helpers_are_the_documented_ones() -> None:
    assert set(HELPERS) == {"today", "now", "days_between", "add_days", "round_money"}


def test_today_and_now_are_utc_iso_strings() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", today())
    moment = dt.datetime.fromisoformat(now())
    assert moment.utcoffset() == dt.timedelta(0)
    assert abs(moment - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_date_helpers() -> None:
    assert days_between("2024-01-01", "2024-03-01") == 60
    assert days_between("2024-03-01", "2024-01-01T23:00:00") == -60
    assert add_days("2024-02-28", 2) == "2024-03-01"
    assert add_days("2024-02-28T10:30:00+00:00", -28) == "2024-01-31T10:30:00+00:00"
    with pytest.raises(ValueError, match="needs a date like"):
        days_between("31/01/2024", "2024-01-01")
    with pytest.raises(ValueError, match="whole number of days"):
        add_days("2024-01-01", 1.5)  # type: ignore[arg-type]


def test_round_money_rounds_halves_up() -> None:
    assert round_money(2.675) == 2.68  # round() gives 2.67: the float is 2.67499...
    assert round_money(0.125) == 0.13 and round_money(-2.675) == -2.68 and round_money(3) == 3.0
    for bad in (float("inf"), "3", True):
        with pytest.raises(ValueError, match="round_money"):
            round_money(bad)  # type: ignore[arg-type]


# --- the runtime environment -----------------------------------------------------------------------


def test_a_script_runs_and_task_data_is_left_clean() -> None:
    data: dict[str, Any] = {"price": 12.5, "qty": 3, "items": [1]}
    RestrictedEnvironment().execute(
        "total = round_money(price * qty)\nitems.append(len(items))\nf = lambda x: x\n"
        "def g():\n    return 1\nwhen = add_days('2024-01-30', 2)",
        data,
    )
    assert data == {"price": 12.5, "qty": 3, "items": [1, 1], "total": 37.5, "when": "2024-02-01"}
    assert not any(callable(value) for value in data.values())


def test_a_function_hidden_in_a_container_is_refused_and_the_data_is_left_as_it_was() -> None:
    data: dict[str, Any] = {"keep": 1}
    with pytest.raises(ValueError, match="'hidden' holds a function"):
        RestrictedEnvironment().execute("hidden = {'f': [len]}", data)
    assert data == {"keep": 1}
    data = {"items": []}
    with pytest.raises(ValueError, match="not functions: 'items'"):
        RestrictedEnvironment().evaluate("items.append(today) is None", data)
    assert data == {"items": []}  # the sandbox's copy was changed, never the case's


def test_only_safe_builtins_are_visible_even_if_task_data_brings_real_ones() -> None:
    env = RestrictedEnvironment()
    with pytest.raises(NameError, match="print"):
        env.evaluate("print is None", {"__builtins__": builtins})
    data: dict[str, Any] = {"__builtins__": builtins.__dict__}
    with pytest.raises(NameError, match="print"):
        env.execute("x = print", data)
    assert "__builtins__" not in data


def test_evaluate_uses_helpers_without_changing_task_data() -> None:
    data = {"start": "2024-01-01", "amount": 150}
    env = RestrictedEnvironment()
    assert env.evaluate("amount > 100 and days_between(start, '2024-01-11') == 10", data) is True
    assert data == {"start": "2024-01-01", "amount": 150}
    with pytest.raises(ValueError, match="not a function"):
        env.evaluate("today", data)
    with pytest.raises(ValueError, match="not a function"):
        env.evaluate("[1, {'f': len}]", data)


def test_a_refused_script_runs_no_part_of_itself() -> None:
    data: dict[str, Any] = {"items": []}
    with pytest.raises(ScriptRefused, match="imports"):
        RestrictedEnvironment().execute("items.append(1)\nx = 1\nimport os", data)
    assert data == {"items": []}


def test_engine_validate_keeps_spiffworkflows_syntax_error_contract() -> None:
    engine = RestrictedScriptEngine()
    assert isinstance(engine.environment, RestrictedEnvironment)
    engine.validate("v < 200")
    with pytest.raises(SyntaxError):  # DMNEngine then retries "< 200" as "v < 200"
        engine.validate("< 200")
    with pytest.raises(ScriptRefused):
        engine.validate("v.__class__")


# --- real SpiffWorkflow runs -----------------------------------------------------------------------

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs" targetNamespace="t">
  <bpmn:process id="fees" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="compute"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>SCRIPT</bpmn:script></bpmn:scriptTask>
    <bpmn:businessRuleTask id="rule"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>fee_decision</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements></bpmn:businessRuleTask>
    <bpmn:exclusiveGateway id="gw" default="to_small"><bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>to_big</bpmn:outgoing><bpmn:outgoing>to_small</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute"/>
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="rule"/>
    <bpmn:sequenceFlow id="f3" sourceRef="rule" targetRef="gw"/>
    <bpmn:sequenceFlow id="to_big" sourceRef="gw" targetRef="big">
      <bpmn:conditionExpression>CONDITION</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_small" sourceRef="gw" targetRef="small"/>
    <bpmn:scriptTask id="big"><bpmn:incoming>to_big</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>branch = "big"</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="small"><bpmn:incoming>to_small</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:script>branch = "small"</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f4" sourceRef="big" targetRef="end"/>
    <bpmn:sequenceFlow id="f5" sourceRef="small" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""
DMN = """<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="x">
  <decision id="fee_decision" name="Fee">
    <decisionTable id="dt" hitPolicy="UNIQUE">
      <input id="in1"><inputExpression id="ie1" typeRef="number"><text>total</text></inputExpression></input>
      <output id="out1" name="fee" typeRef="number"/>
      <rule id="r1"><inputEntry id="e1"><text>&lt; 100</text></inputEntry>
        <outputEntry id="o1"><text>5</text></outputEntry></rule>
      <rule id="r2"><inputEntry id="e2"><text>-</text></inputEntry>
        <outputEntry id="o2"><text>round_money(total * 0.025)</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>"""
GOOD_SCRIPT = "total = round_money(price * qty)"


def workflow(script: str = GOOD_SCRIPT, condition: str = "total &gt; 100") -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    text = BPMN.replace("SCRIPT", script).replace("CONDITION", condition)
    bpmn_root = parse_untrusted_xml(text.encode(), filename="fees.bpmn", max_bytes=LIMIT)
    parser.add_bpmn_xml(bpmn_root, filename="fees.bpmn")
    parser.add_dmn_xml(parse_untrusted_xml(DMN.encode(), filename="fees.dmn", max_bytes=LIMIT), "fees.dmn")
    return BpmnWorkflow(parser.get_spec("fees"), script_engine=RestrictedScriptEngine())


def run(flow: BpmnWorkflow, data: dict[str, Any]) -> BpmnWorkflow:
    for task in flow.get_tasks(state=TaskState.READY):
        task.data.update(data)
    flow.do_engine_steps()
    return flow


def task_data(flow: BpmnWorkflow, spec_name: str) -> dict[str, Any]:
    (task,) = [task for task in flow.get_tasks() if task.task_spec.name == spec_name]
    return dict(task.data)


@pytest.mark.parametrize(
    ("price", "branch", "total", "fee"), [(40.005, "big", 120.02, 3.0), (10, "small", 30.0, 5)]
)
def test_a_workflow_runs_scripts_decisions_and_conditions(
    price: float, branch: str, total: float, fee: float
) -> None:
    flow = run(workflow(), {"price": price, "qty": 3})
    assert flow.is_completed()
    end = task_data(flow, "end")
    assert end == {"price": price, "qty": 3, "total": total, "fee": fee, "branch": branch}
    taken = [t.task_spec.name for t in flow.get_tasks(state=TaskState.COMPLETED)]
    assert branch in taken and ({"big", "small"} - {branch}).isdisjoint(taken)


def test_a_malicious_script_fails_the_run_before_any_of_it_runs() -> None:
    flow = workflow(script="x = 1\nimport os")
    with pytest.raises(WorkflowTaskException) as caught:
        run(flow, {"price": 1, "qty": 1})
    err = caught.value
    assert "imports are not allowed in scripts (line 2)" in str(err)
    assert err.line_number == 2 and err.error_line == "import os"
    assert task_data(flow, "compute") == {"price": 1, "qty": 1}


@pytest.mark.parametrize("script", ["data = open('/etc/passwd').read()", "x = ().__class__.__subclasses__()"])
def test_escape_attempts_in_a_workflow_raise_workflow_task_exception(script: str) -> None:
    with pytest.raises(WorkflowTaskException, match="was refused"):
        run(workflow(script=script), {"price": 1, "qty": 1})


def test_a_malicious_gateway_condition_fails_the_run() -> None:
    flow = workflow(condition="total.__class__ is not None")
    with pytest.raises(WorkflowTaskException, match="Expression 'total.__class__ is not None' was refused"):
        run(flow, {"price": 1, "qty": 1})
    assert not flow.is_completed()


def test_a_runtime_error_surfaces_as_workflow_task_exception() -> None:
    with pytest.raises(WorkflowTaskException, match="limited to"):
        run(workflow(script="total = len(range(10 ** 9))"), {"price": 1, "qty": 1})


# --- whole-document checks -------------------------------------------------------------------------

BAD_BPMN = """<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs">
  <bpmn:process id="p">
    <!-- a comment must not confuse the walk -->
    <bpmn:scriptTask id="s1"><bpmn:script>x = 1
import os</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="u1"><bpmn:extensionElements>
      <spiffworkflow:preScript>open('/etc/passwd')</spiffworkflow:preScript>
      <spiffworkflow:postScript>while True: pass</spiffworkflow:postScript>
    </bpmn:extensionElements></bpmn:userTask>
    <bpmn:sequenceFlow id="flow1" sourceRef="a" targetRef="b">
      <bpmn:conditionExpression>x.__class__</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="flow2" sourceRef="a" targetRef="b"><bpmn:conditionExpression/></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="flow3" sourceRef="a" targetRef="b">
      <bpmn:conditionExpression>  </bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:intermediateCatchEvent id="timer1"><bpmn:timerEventDefinition id="ted">
      <bpmn:timeDuration>__import__('os')</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:boundaryEvent id="timer2"><bpmn:timerEventDefinition>
      <bpmn:timeCycle>"R3/PT1H"</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:boundaryEvent>
    <bpmn:scriptTask id="s2"><bpmn:script>y = 2</bpmn:script></bpmn:scriptTask>
  </bpmn:process>
</bpmn:definitions>"""


WHILE_REFUSED = "'while' loops are not allowed in scripts (loop with 'for' over a list or a range)"


def test_check_bpmn_scripts_finds_every_refused_source_with_its_owner() -> None:
    root = parse_untrusted_xml(BAD_BPMN.encode(), max_bytes=LIMIT)
    problems = check_bpmn_scripts(root)
    assert problems == [
        ("s1", "script: imports are not allowed in scripts (line 2)"),
        ("u1", "pre-script: 'open()' cannot be used in scripts (line 1)"),
        ("u1", f"post-script: {WHILE_REFUSED} (line 1)"),
        ("flow1", 'condition "x.__class__": names starting with \'_\' are not allowed in expressions '
                  "('__class__') (line 1)"),
        ("timer1", 'timer expression "__import__(\'os\')": \'__import__()\' cannot be used in expressions '
                   "(line 1)"),
    ]


def test_check_bpmn_scripts_accepts_the_good_diagram_and_odd_input() -> None:
    good = BPMN.replace("SCRIPT", GOOD_SCRIPT).replace("CONDITION", "total &gt; 100").encode()
    assert check_bpmn_scripts(parse_untrusted_xml(good, max_bytes=LIMIT)) == []
    assert check_bpmn_scripts(None) == []
    assert check_bpmn_scripts("<bpmn/>") == []


DMN_ENTRIES = """<definitions xmlns="http://www.omg.org/spec/DMN/20151101/dmn.xsd" id="d">
  <decision id="dec"><decisionTable id="dt">
    <input id="i1"><inputExpression id="ie1"><text>kind</text></inputExpression></input>
    <input id="i2"><inputExpression id="ie2"><text>area.__class__</text></inputExpression></input>
    <output id="o"/>
    <rule id="r1">
      <inputEntry id="a1"><text>"residential"</text></inputEntry>
      <inputEntry id="a2"><text>&lt; 200</text></inputEntry>
      <outputEntry id="b1"><text>open('x')</text></outputEntry>
    </rule>
    <rule id="r2">
      <inputEntry id="a3"><text>-</text></inputEntry>
      <inputEntry id="a4"><text></text></inputEntry>
      <outputEntry id="b2"><text>"ok"</text></outputEntry>
    </rule>
    <rule id="r3">
      <inputEntry id="a5"><text>"a", "b"</text></inputEntry>
      <inputEntry id="a6"><text>&gt;= 100</text></inputEntry>
      <outputEntry id="b3"><text></text></outputEntry>
    </rule>
    <rule id="r4">
      <inputEntry id="a7"><text>[1..10]</text></inputEntry>
      <inputEntry id="a8"><text>__import__('os')</text></inputEntry>
      <outputEntry><text>1</text></outputEntry>
    </rule>
    <rule id="r5">
      <inputEntry id="a9"><text>[1..10] or open(x)</text></inputEntry>
      <inputEntry id="a10"><text>1 &lt; ? &lt; 5</text></inputEntry>
      <outputEntry><text>import os</text></outputEntry>
    </rule>
  </decisionTable></decision>
</definitions>"""


def test_check_dmn_expressions_is_strict_on_outputs_and_lenient_on_unary_tests() -> None:
    problems = dict(check_dmn_expressions(parse_untrusted_xml(DMN_ENTRIES.encode(), max_bytes=LIMIT)))
    assert set(problems) == {"ie2", "b1", "a8", "a9", "r5"}
    assert problems["ie2"].startswith("input expression: names starting with '_'")
    assert problems["b1"] == "output entry: 'open()' cannot be used in expressions (line 1)"
    assert problems["a8"] == "input entry: '__import__()' cannot be used in expressions (line 1)"
    assert problems["a9"].startswith("input entry: imports, names with '__' and calls")
    assert problems["r5"].startswith("output entry: this is not valid Python")
    assert check_dmn_expressions(None) == []
