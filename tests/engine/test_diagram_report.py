"""The report an analyst gets on a bad diagram: element id, name and kind, the reason in English and Arabic,
and the fix where it is obvious; every refusal of the MIWG corpus has its Arabic."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import diagram_report
from engine.bpmn.compiler import PackageRefused, compile_package
from engine.refusals import arabic
from engine.settings import Settings
from tests.conftest import missing

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "bpmn-corpus" / "miwg"
HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/'
        'MODEL" id="d" targetNamespace="t"><bpmn:process id="svc" isExecutable="true">')


def _diagram(body: str) -> dict[str, bytes]:
    return {"svc.bpmn": (HEAD + body + "</bpmn:process></bpmn:definitions>").encode()}


START = '<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="{first}"/>'
CASES = {
    "a service task": (START.format(first="call") + '<bpmn:serviceTask id="call" name="Call the registry"/>',
                       "call", "Call the registry", "serviceTask", "make it a user task"),
    "a timer without a time": (START.format(first="wait") + '<bpmn:intermediateCatchEvent id="wait" name="Wait">'
                               '<bpmn:timerEventDefinition/></bpmn:intermediateCatchEvent>',
                               "wait", "Wait", "intermediateCatchEvent", "give it a duration"),
    "an empty sub-process": (START.format(first="sub") + '<bpmn:subProcess id="sub" name="Checks"/>',
                             "sub", "Checks", "subProcess", "draw its steps inside it"),
    "an inclusive gateway without conditions": (
        START.format(first="gw") + '<bpmn:inclusiveGateway id="gw" name="Which checks?"/>'
        '<bpmn:endEvent id="a"/><bpmn:endEvent id="b"/><bpmn:endEvent id="c"/>'
        '<bpmn:sequenceFlow id="fa" sourceRef="gw" targetRef="a"/><bpmn:sequenceFlow id="fb" sourceRef="gw" '
        'targetRef="b"/><bpmn:sequenceFlow id="fc" sourceRef="gw" targetRef="c"/>',
        "gw", "Which checks?", "inclusiveGateway", "add a condition to each outgoing flow"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_refusal_names_its_element_with_arabic_and_a_fix(name: str, sqlite_settings: Settings) -> None:
    body, element_id, element_name, kind, fix = CASES[name]
    problems = diagram_report.validate(_diagram(body), sqlite_settings)
    assert len(problems) == 1, problems
    problem = problems[0]
    assert (problem["element_id"], problem["element_name"], problem["element_type"], problem["file"]) == (
        element_id, element_name, kind, "svc.bpmn")
    assert problem["message_ar"] and problem["fix_ar"], problem
    assert problem["fix"].startswith(fix)


def test_a_gateway_is_reported_once_not_per_flow(sqlite_settings: Settings) -> None:
    body, *_ = CASES["an inclusive gateway without conditions"]
    with pytest.raises(PackageRefused) as refused:  # the compiler stops at the first of the three flows
        compile_package(_diagram(body), max_xml_bytes=10**6, default_lane="front_desk")
    assert refused.value.details[0]["element_id"] in ("fa", "fb", "fc")
    problems = diagram_report.validate(_diagram(body), sqlite_settings)
    assert [p["element_id"] for p in problems] == ["gw"]
    assert problems[0]["message"].startswith("this inclusive gateway 'Which checks?' has 3 outgoing flows")


def test_a_good_diagram_has_no_problems(sqlite_settings: Settings) -> None:
    body = START.format(first="end") + '<bpmn:endEvent id="end"/>'
    assert diagram_report.validate(_diagram(body), sqlite_settings) == []


def test_every_refusal_of_the_corpus_has_arabic() -> None:
    files = sorted(CORPUS.rglob("*.bpmn")) if CORPUS.is_dir() else []
    if not files:
        missing(f"the BPMN corpus is not at {CORPUS} (see ../shared/bpmn-corpus/README.md)")
        return
    without: list[str] = []
    refused = 0
    for path in files:
        try:
            compile_package({path.name: path.read_bytes()}, max_xml_bytes=10**7, default_lane="front_desk")
        except PackageRefused as exc:
            refused += 1
            without += [f"{path.name}: {d['message']}" for d in exc.details if arabic(d["message"]) is None]
    assert refused > 50
    assert without == []
