"""Bad input never gives a 500 and never loses data; each refusal is a clear 4xx, fast."""

from __future__ import annotations

import time

import pytest

from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
<bpmn:process id="p" isExecutable="true"><bpmn:documentation>&lol9;</bpmn:documentation></bpmn:process>
</bpmn:definitions>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
<bpmn:process id="p" name="&xxe;" isExecutable="true"/></bpmn:definitions>"""


@pytest.mark.parametrize("name, content, words", [
    ("bomb.bpmn", BILLION_LAUGHS, "DOCTYPE"),
    ("xxe.bpmn", EXTERNAL_ENTITY, "DOCTYPE"),
    ("page.bpmn", b"<html><body>hello</body></html>", "not a BPMN"),
    ("broken.bpmn", b"<bpmn:definitions xmlns:bpmn='http://www.omg.org/spec/BPMN/20100524/MODEL'>", "line"),
    ("empty.bpmn", b"", "empty"),
    ("binary.bpmn", bytes(range(256)) * 4, ""),
    ("notes.txt", b"hello", "only plain"),
    ("../../etc/evil.bpmn", b"<x/>", "only plain"),
    ("..\\..\\evil.bpmn", b"<x/>", "only plain"),  # a folder to Windows and its archive tools
])
def test_unrunnable_uploads_are_422_within_a_second(sqlite_api: Api, name: str, content: bytes,
                                                     words: str) -> None:
    # CPU time of this process (the app runs in its threads), not wall time: a busy machine's queue for the
    # processor is not the parser's work; an expanded bomb would take minutes of it.
    started = time.process_time()
    r = sqlite_api.client.post("/api/processes", files=[("files", (name, content))],
                               headers=sqlite_api.user("analyst"))
    assert time.process_time() - started < 1.0
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail and all(d["message"] for d in detail)
    assert words in " ".join(d["message"] for d in detail)
    assert sqlite_api.client.get("/api/processes", headers=sqlite_api.user("analyst")).json() == []


def test_one_bad_file_refuses_the_whole_package(sqlite_api: Api) -> None:
    from engine.catalog.packages import read_package

    files = [("files", (n, c)) for n, c in read_package(TEST_PROCESSES / "test_permit").items()]
    files.append(("files", ("extra.dmn", EXTERNAL_ENTITY)))
    r = sqlite_api.client.post("/api/processes", files=files, headers=sqlite_api.user("analyst"))
    assert r.status_code == 422
    assert r.json()["detail"][0]["file"] == "extra.dmn"
    assert sqlite_api.client.get("/api/processes", headers=sqlite_api.user("analyst")).json() == []


def test_no_files_is_422(sqlite_api: Api) -> None:
    r = sqlite_api.client.post("/api/processes", headers=sqlite_api.user("analyst"))
    assert r.status_code == 422


def test_malformed_json_and_wrong_types_are_422(sqlite_api: Api) -> None:
    clerk = sqlite_api.user("front_desk")
    headers = {**clerk, "content-type": "application/json"}
    for body in (b"{not json", b"[]", b'"text"', b'{"service_code": 5, "citizen": "x"}', b"\xff\xfe"):
        r = sqlite_api.client.post("/api/cases", content=body, headers=headers)
        assert r.status_code == 422, body
    # The access policy answers before the body is read (engine/people/policy.py): no task "abc", whatever the body.
    r = sqlite_api.client.post("/api/tasks/abc/complete", content=b'{"data": "nope"}', headers=headers)
    assert r.status_code == 404 and r.json()["detail"] == "task abc does not exist"


def test_unknown_fields_are_refused_not_ignored(sqlite_api: Api) -> None:
    r = sqlite_api.client.post("/api/cases", json={"service_code": "x", "citizen": CITIZEN, "data": {},
                                                   "status": "completed"}, headers=sqlite_api.user("front_desk"))
    assert r.status_code == 422


def test_oversize_body_is_413(sqlite_api: Api) -> None:
    limit = sqlite_api.settings.max_request_bytes
    big = {"service_code": "test_permit", "citizen": CITIZEN, "data": {"blob": "x" * (limit + 10)}}
    r = sqlite_api.client.post("/api/cases", json=big, headers=sqlite_api.user("front_desk"))
    assert r.status_code == 413
    assert str(limit) in r.json()["detail"]


def test_oversize_chunked_body_is_413(sqlite_api: Api) -> None:
    limit = sqlite_api.settings.max_request_bytes

    def chunks():  # no content-length: the limit must hold while streaming
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    r = sqlite_api.client.post("/api/cases", content=chunks(),
                               headers={**sqlite_api.user("front_desk"), "content-type": "application/json"})
    assert r.status_code == 413


def test_oversize_deploy_is_413(sqlite_api: Api) -> None:
    limit = sqlite_api.settings.max_deploy_bytes
    r = sqlite_api.client.post("/api/processes", files=[("files", ("big.bpmn", b" " * (limit + 1)))],
                               headers=sqlite_api.user("analyst"))
    assert r.status_code == 413


DIVIDER = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="divider" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="front_desk">
      <bpmn:flowNodeRef>s</bpmn:flowNodeRef><bpmn:flowNodeRef>ask</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>divide</bpmn:flowNodeRef><bpmn:flowNodeRef>e</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="s"/>
    <bpmn:userTask id="ask" name="Ask for a divisor"/>
    <bpmn:scriptTask id="divide" name="Divide"><bpmn:script>result = 100 / divisor</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="ask"/>
    <bpmn:sequenceFlow id="f2" sourceRef="ask" targetRef="divide"/>
    <bpmn:sequenceFlow id="f3" sourceRef="divide" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_script_failing_at_run_time_refuses_the_step_and_keeps_the_case(sqlite_api: Api) -> None:
    api = sqlite_api
    r = api.client.post("/api/processes", files=[("files", ("divider.bpmn", DIVIDER))], headers=api.user("analyst"))
    assert r.status_code == 201, r.text
    clerk = api.user("front_desk")
    case = api.open_case("divider", clerk).json()
    task_id = case["tasks"][0]["id"]
    r = api.complete(task_id, {"divisor": 0}, clerk)
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["element_id"] == "divide" and "ZeroDivisionError" in detail["msg"]
    after = api.client.get(f"/api/cases/{case['id']}", headers=clerk).json()
    assert after["status"] == "open" and [t["id"] for t in after["tasks"]] == [task_id]
    # Nothing of the step was written; the failure is an incident on the case's record (engine/cases/incidents.py).
    assert [e["kind"] for e in api.client.get(f"/api/cases/{case['id']}/events", headers=clerk).json()] == [
        "case_opened", "step_failed"]
    # Nothing was lost or half-done: the same task takes a good answer.
    done = api.complete(task_id, {"divisor": 4}, clerk).json()
    assert done["status"] == "completed" and done["data"]["result"] == 25.0


def _one_task_process(process_id: str, extra: str = "", flow_to_task: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="s"/>
    {extra}
    <bpmn:userTask id="t" name="Do it"/>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="{flow_to_task or 't'}"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def test_tool_style_process_id_deploys_without_service_toml(sqlite_api: Api) -> None:
    r = sqlite_api.client.post("/api/processes", files=[("files", ("x.bpmn", _one_task_process("_Process_2")))],
                               headers=sqlite_api.user("analyst"))
    assert r.status_code == 201, r.text
    assert r.json()["service_code"] == "_Process_2"


def test_process_id_unfit_for_a_code_is_422_naming_it(sqlite_api: Api) -> None:
    r = sqlite_api.client.post("/api/processes", files=[("files", ("x.bpmn", _one_task_process("a" * 150)))],
                               headers=sqlite_api.user("analyst"))
    assert r.status_code == 422
    assert "service.toml" in r.json()["detail"][0]["message"]


def test_timer_that_evaluates_to_nonsense_refuses_the_case_cleanly(sqlite_api: Api) -> None:
    timer = ('<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>'
             'str(7) + " days"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>'
             '<bpmn:sequenceFlow id="f0" sourceRef="wait" targetRef="t"/>')
    bpmn = _one_task_process("odd_timer", extra=timer, flow_to_task="wait")
    r = sqlite_api.client.post("/api/processes", files=[("files", ("x.bpmn", bpmn))],
                               headers=sqlite_api.user("analyst"))
    assert r.status_code == 201, r.text
    r = sqlite_api.open_case("odd_timer", sqlite_api.user("admin"))
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"]
    assert sqlite_api.client.get("/api/cases", headers=sqlite_api.user("admin")).json()["total"] == 0


def test_foreign_expression_language_is_named_in_the_refusal(sqlite_api: Api) -> None:
    bpmn = (TEST_PROCESSES / "test_permit" / "test_permit.bpmn").read_bytes().replace(
        b'decision == "approve"', b"${decision == 'approve'}")
    from engine.catalog.packages import read_package

    files = read_package(TEST_PROCESSES / "test_permit")
    files["test_permit.bpmn"] = bpmn
    r = sqlite_api.client.post("/api/processes", files=[("files", (n, c)) for n, c in files.items()],
                               headers=sqlite_api.user("analyst"))
    assert r.status_code == 422
    message = r.json()["detail"][0]["message"]
    assert "${decision == 'approve'}" in message and "JUEL" in message
