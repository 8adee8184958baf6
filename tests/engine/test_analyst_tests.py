"""Analysts' test cases (paths.json): run in memory, by `shubbak processes test`, and before every deploy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from engine.bpmn import runner
from engine.bpmn.compiler import compile_package
from engine.catalog import analyst_tests
from engine.catalog.packages import read_package
from engine.core import refusals
from engine.core.errors import Invalid
from harness.api import Api
from harness.settings import TEST_PROCESSES

APPROVED: dict[str, Any] = {
    "name": "approved", "start_data": {"citizen": {"national_id": "1", "full_name": "x", "phone": "0100"}},
    "steps": [{"task": "register", "lane": "front_desk", "data": {"area": 10, "purpose": "shop"}},
              {"task": "review", "lane": "reviewer", "data": {"decision": "approve"}},
              {"task": "hand_over", "lane": "front_desk", "data": {}}],
    "end_event": "end_approved", "expected_data": {"fee": 25.0}}
REJECTED: dict[str, Any] = {
    "name": "rejected", "start_data": {},
    "steps": [{"task": "register", "lane": "front_desk", "data": {"area": 10, "purpose": "shop"}},
              {"task": "review", "lane": "reviewer", "data": {"decision": "reject"}}],
    "end_event": "end_rejected"}


def _package(tmp_path: Path, cases: list[dict[str, Any]]) -> Path:
    folder = tmp_path / "test_permit"
    shutil.copytree(TEST_PROCESSES / "test_permit", folder)
    (folder / "paths.json").write_text(json.dumps(cases), encoding="utf-8")
    return folder


def _outcomes(folder: Path) -> list[analyst_tests.Outcome]:
    files = read_package(folder)
    process = compile_package(files, max_xml_bytes=1_000_000, default_lane="front_desk")
    return analyst_tests.run_all(process, files["paths.json"], runner.Limits())


def test_passing_cases(tmp_path: Path) -> None:
    assert _outcomes(_package(tmp_path, [APPROVED, REJECTED])) == [
        analyst_tests.Outcome("approved"), analyst_tests.Outcome("rejected")]


@pytest.mark.parametrize(("change", "message"), [
    ({"end_event": "end_rejected"}, "the case ended at 'end_approved', not at 'end_rejected'"),
    ({"expected_data": {"fee": 30.0, "nothing": 1}},
     "the case's data differs: fee is 25.0, expected 30.0; nothing is \"(missing)\", expected 1"),
    ({"steps": [APPROVED["steps"][0], {"task": "review", "lane": "front_desk", "data": {"decision": "approve"}}]},
     "step 2 (review): the task is in the lane 'reviewer', not 'front_desk'"),
    ({"steps": [APPROVED["steps"][0], APPROVED["steps"][2]]},
     "step 2 (hand_over): the task is not waiting; the tasks waiting are: review"),
    ({"steps": [{"task": "register", "lane": "front_desk", "data": {"area": 10}}]},
     "step 1 (register): the form 'register.json' refuses the data: purpose: "),
    ({"steps": APPROVED["steps"][:2]},
     "after the last step the case has not ended: it waits for hand_over, not at 'end_approved'"),
    ({"steps": [*APPROVED["steps"], APPROVED["steps"][2]]},
     "step 4 (hand_over): the task is not waiting; the case had ended at 'end_approved'"),
    ({"steps": [{"task": "register", "lane": "front_desk", "data": {"area": "ten", "purpose": "shop"}}]},
     "step 1 (register): the form 'register.json' refuses the data: area: "),
])
def test_a_failing_case_says_what_failed(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    [outcome] = _outcomes(_package(tmp_path, [{**APPROVED, **change}]))
    assert outcome.name == "approved"
    assert outcome.message is not None and outcome.message.startswith(message), outcome.message


def test_a_script_failure_names_the_element(tmp_path: Path) -> None:
    folder = _package(tmp_path, [APPROVED])
    bpmn = folder / "test_permit.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace("area * 2.5", "area * rate"), encoding="utf-8")
    [outcome] = _outcomes(folder)
    assert outcome.message is not None
    assert outcome.message.startswith("the process failed at 'compute_fee': ")
    assert "rate" in outcome.message


@pytest.mark.parametrize(("content", "message"), [
    (b"{", "not valid JSON"), (b"{}", "paths.json must be a list"),
    (b'[{"steps": []}]', 'each test case needs a "name"'),
    (b'[{"name": "a", "steps": []}]', "give the end event"),
    (b'[{"name": "a", "end_event": "e", "steps": [{"data": {}}]}]', 'each step needs a "task"'),
    (b'[{"name": "a", "end_event": "e"}, {"name": "a", "end_event": "e"}]', "two test cases have this name"),
])
def test_malformed_paths_json_is_refused(content: bytes, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        analyst_tests.parse_cases(content)
    assert caught.value.details[0]["file"] == "paths.json"
    assert message in caught.value.details[0]["message"]


def test_cli_prints_a_line_per_case_and_fails_on_a_failure(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder = _package(tmp_path, [APPROVED, REJECTED])
    assert main(["processes", "test", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["       ok test_permit approved", "       ok test_permit rejected"]
    (folder / "paths.json").write_text(json.dumps([APPROVED, {**REJECTED, "end_event": "end_approved"}]))
    assert main(["processes", "test", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [  # the reason in Arabic, then in English under it
        "       ok test_permit approved",
        "   FAILED test_permit rejected: انتهت الحالة عند 'end_rejected' وليس عند 'end_approved'",
        " " * 32 + "the case ended at 'end_rejected', not at 'end_approved'"]


def test_cli_runs_every_real_service(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["processes", "test", str(TEST_PROCESSES.parent.parent / "processes")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 8
    assert all(line.startswith("       ok ") for line in lines)


def test_a_deploy_whose_tests_fail_is_refused_naming_the_case(sqlite_api: Api, tmp_path: Path) -> None:
    api = sqlite_api
    analyst = api.user("analyst")
    folder = _package(tmp_path, [APPROVED, {**REJECTED, "expected_data": {"fee": 1}}])
    r = api.deploy(folder, analyst)
    assert r.status_code == 422
    assert r.json()["detail"] == [{"file": "paths.json", "element_id": "rejected",
                                   "message": "the case's data differs: fee is 25.0, expected 1",
                                   "message_ar": "بيانات الحالة في نهايتها تختلف عن المتوقع (expected_data): "
                                                 "fee is 25.0, expected 1"}]
    assert api.client.get("/api/processes", headers=analyst).json() == []
    (folder / "paths.json").write_text(json.dumps([APPROVED, REJECTED]))
    r = api.deploy(folder, analyst)
    assert r.status_code == 201, r.text


def test_cli_deploy_refuses_a_failing_package(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.core.settings import get_settings

    monkeypatch.setenv("SHUBBAK_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        _package(tmp_path, [{**APPROVED, "end_event": "nowhere"}])
        assert main(["processes", "deploy", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert "1 of the service's test cases failed" in err
        assert "paths.json approved: the case ended at 'end_approved', not at 'nowhere'" in err
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(("message", "english", "arabic"), [
    (refusals.say("paths.wrong_lane", step=2, task="review", lane="reviewer", expected="front_desk"),
     "step 2 (review): the task is in the lane 'reviewer', not 'front_desk'",
     "الخطوة 2 (review): المهمة في المسار 'reviewer' وليست في 'front_desk'"),
    (refusals.say("paths.wrong_end", end_event="end_approved", expected="end_rejected"),
     "the case ended at 'end_approved', not at 'end_rejected'",
     "انتهت الحالة عند 'end_approved' وليس عند 'end_rejected'"),
    (refusals.say("deploy.no_executable_process"),
     "no executable process: mark the process to run with isExecutable=\"true\"",
     "لا توجد عملية قابلة للتشغيل: علّم العملية المطلوب تشغيلها بـ isExecutable=\"true\""),
    ("something said without an id", "something said without an id", None),
])
def test_refusals_carry_their_arabic(message: str, english: str, arabic: str | None) -> None:
    assert message == english
    assert refusals.arabic(message) == arabic
    # Words from outside the catalogs get the general Arabic sentence around the English, never None.
    general = "مشكلة لم تُترجم بعد (تفاصيلها بالإنجليزية): " + english
    assert refusals.with_arabic([{"file": None, "message": message}]) == [
        {"file": None, "message": english, "message_ar": arabic or general}]


def _pay_outcomes(tmp_path: Path, cases: list[dict[str, Any]]) -> list[analyst_tests.Outcome]:
    folder = tmp_path / "pay_demo"
    shutil.copytree(TEST_PROCESSES / "pay_demo", folder)
    (folder / "paths.json").write_text(json.dumps(cases), encoding="utf-8")
    return _outcomes(folder)


REGISTER_150 = {"task": "register", "lane": "front_desk", "data": {"fee": 150}}
HAND_OVER = {"task": "hand_over", "lane": "front_desk", "data": {}}


def test_a_path_pays_the_bill_or_lets_it_lapse(tmp_path: Path) -> None:
    paid = {"name": "paid", "start_data": {}, "steps": [REGISTER_150, {"pay": True, "amount": "150.00"}, HAND_OVER],
            "end_event": "done"}
    lapsed = {"name": "lapsed", "start_data": {}, "steps": [REGISTER_150, {"wait_days": 8}], "end_event": "lapsed",
              "expected_data": {"outcome": "lapsed"}}
    early = {"name": "early", "start_data": {}, "steps": [REGISTER_150, {"wait_days": 6}, {"pay": True}, HAND_OVER],
             "end_event": "done"}
    assert all(o.passed for o in _pay_outcomes(tmp_path, [paid, lapsed, early]))


@pytest.mark.parametrize(("steps", "message"), [
    ([REGISTER_150, {"pay": True, "amount": "15.00"}, HAND_OVER], "step 2: the bill is 150.00, expected 15.00"),
    ([{"pay": True}], "step 1 pays the bill, but the case is not waiting for payment_received"),
    ([REGISTER_150, HAND_OVER], "step 2 (hand_over): the task is not waiting"),
    ([REGISTER_150, {"wait_days": 8}, {"pay": True}], "step 3 pays the bill, but the case is not waiting"),
])
def test_a_path_that_pays_wrongly_fails(tmp_path: Path, steps: list[dict[str, Any]], message: str) -> None:
    [outcome] = _pay_outcomes(tmp_path, [{"name": "wrong", "start_data": {}, "steps": steps, "end_event": "done"}])
    assert outcome.message is not None and str(outcome.message).startswith(message), outcome.message
