"""The MIWG figure: nothing bare SpiffWorkflow starts is refused by Shubbak without a safety reason.

For every file of shared/bpmn-corpus/miwg/, computed here with the library itself (no hand-kept list):

* **the library starts it**: SpiffWorkflow's own parser (``SpiffBpmnParser``, SpiffArena's extensions) reads it,
  and a workflow of its collaboration (when it has one with executable pools) or of its one executable process
  (either way counts) runs ``do_engine_steps`` to a wait or the end without an exception;
* **Shubbak deploys it**: ``compile_package``, what ``POST /api/processes`` runs on a file alone (the API itself
  is tests/corpus/test_miwg.py), and **starts it**: ``runner.start``, what opening a case runs.

Every file the library starts must be deployed and started by Shubbak, unless every problem of Shubbak's refusal
is one of its safety rules, named in ``SAFETY``: a script or expression outside the restricted Python, and XML
that is refused before it is parsed (a DOCTYPE, an entity, an encoding); or is an element no case can run
(``CANNOT_RUN``) that the library's own run has not reached, which the test checks on the library's run. The
figures are printed at the end of the run (tests/corpus/conftest.py) and recorded in docs/analyst-guide.md.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import runner
from engine.bpmn.compiler import PackageRefused, compile_package
from harness.settings import TEST_PROCESSES
from tests.conftest import missing
from tests.corpus.conftest import FIGURE
from tests.corpus.test_miwg import CORPUS, FILES

#: Shubbak's safety rules: a refusal made only of these is not a gap between Shubbak and its engine.
SAFETY = frozenset({"deploy.script_refused", "deploy.expression_refused", "deploy.expression_foreign",
                    "deploy.expression_in_language", "script.dmn_lenient"})
SAFETY_PREFIXES = ("xml.",)  # engine/bpmn/safe_xml.py: DOCTYPE, entities, encodings, size
#: Elements no case can run: a service task that names nothing to call (Shubbak calls no outside system; the
#: library raises when it reaches one), a timer that never says when, a data association to a data store or to
#: the process's data inputs and outputs (not run by Shubbak). A file refused only for these counts as started
#: by the library only when its run did not reach any of those elements: it starts them because it has not yet
#: met them, and would fail there.
CANNOT_RUN = frozenset({"deploy.service_task_without_call", "deploy.service_task_calls", "deploy.timer_without_time",
                        "deploy.data_store", "deploy.process_input", "deploy.process_output"})
#: The most engine steps, and seconds, the library's run of one file may take (a diagram that loops forever).
MAX_STEPS, MAX_SECONDS = 2_000, 5.0


class _TooLong(Exception):
    pass


def library_starts(path: Path) -> set[str] | None:
    """The BPMN elements bare SpiffWorkflow's run of the file completed, when it parses the file and runs a
    workflow of it to a wait or the end: of its collaboration (when one holds executable pools) or of its one
    executable process, whichever runs (the first that does). None when it does not start it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library's own deprecation notes are not the file's fault
        try:
            parser = SpiffBpmnParser()
            parser.add_bpmn_file(str(path))
            executable = parser.get_process_ids()
        except Exception:  # noqa: BLE001 - any failure of the library is "it does not start it"
            return None
        ways: list[Callable[[], Any]] = [partial(parser.get_collaboration, c)
                                         for c, pools in parser.collaborations.items() if set(pools) & set(executable)]
        if len(executable) == 1:
            only = executable[0]
            ways.append(lambda: (parser.get_spec(only), parser.get_subprocess_specs(only)))
        for way in ways:
            reached = _runs(way)
            if reached is not None:
                return reached
    return None


def _runs(way: Any) -> set[str] | None:
    deadline, steps = time.monotonic() + MAX_SECONDS, [0]

    def guard(_task: Any) -> None:
        steps[0] += 1
        if steps[0] > MAX_STEPS or time.monotonic() > deadline:
            raise _TooLong

    try:
        spec, subprocesses = way()
        workflow = BpmnWorkflow(spec, subprocesses)
        workflow.do_engine_steps(will_complete_task=guard)
    except Exception:  # noqa: BLE001 - any failure of the library is "it does not start it"
        return None
    tasks = [*workflow.tasks.values(), *(t for sub in workflow.subprocesses.values() for t in sub.tasks.values())]
    return {str(t.task_spec.bpmn_id) for t in tasks if t.state & TaskState.FINISHED_MASK and t.task_spec.bpmn_id}


def shubbak(path: Path) -> tuple[str, list[tuple[str, str | None]]]:
    """``("starts" | "fails at start" | "refused", the refusal's (message id, element id) pairs)`` for the file
    deployed alone."""
    try:
        process = compile_package({path.name: path.read_bytes()}, max_xml_bytes=10_000_000,
                                  default_lane="front_desk")
    except PackageRefused as exc:
        return "refused", [(_message_id(d["message"]), d.get("element_id")) for d in exc.details]
    try:
        runner.start(process, {}, runner.Limits(max_seconds=MAX_SECONDS))
    except runner.ProcessFailed:
        return "fails at start", []
    return "starts", []


def _message_id(message: Any) -> str:
    """The refusal's own id (``deploy.at_element`` only adds the element's name to another)."""
    while getattr(message, "message_id", None) == "deploy.at_element":
        message = message.params.get("message")
    return str(getattr(message, "message_id", None) or message)


def _why_only_the_library(problems: list[tuple[str, str | None]], reached: set[str]) -> str | None:
    """Why Shubbak may refuse a file the library starts: every problem is a safety rule (``safety``), or an
    element that cannot run, which the library's run has not reached yet (``not reached``); None otherwise."""
    if problems and all(i in SAFETY or i.startswith(SAFETY_PREFIXES) for i, _element in problems):
        return "safety"
    if problems and all(i in CANNOT_RUN and element and element not in reached for i, element in problems):
        return "not reached"
    return None


def test_nothing_the_library_starts_is_refused_without_a_safety_reason() -> None:
    if not FILES:
        missing(f"the BPMN corpus is not at {CORPUS} (see ../shared/bpmn-corpus/README.md)")
        return
    gaps: list[str] = []
    FIGURE.clear()
    for path in FILES:
        name = str(path.relative_to(CORPUS))
        reached = library_starts(path)
        ours, problems = shubbak(path)
        FIGURE["files"] += 1
        FIGURE["library starts"] += reached is not None
        FIGURE["Shubbak deploys"] += ours != "refused"
        FIGURE["Shubbak starts"] += ours == "starts"
        if reached is not None and ours != "starts":
            why = _why_only_the_library(problems, reached) if ours == "refused" else None
            if why is None:
                gaps.append(f"{name}: {ours} {problems}")
            else:
                FIGURE[f"only the library: {why}"] += 1
        if ours == "starts" and reached is None:
            FIGURE["only Shubbak"] += 1
    assert gaps == [], "the library starts these, Shubbak does not, and not for a safety reason"


@pytest.mark.parametrize("name", ["reference/A.1.0.bpmn"])
def test_the_library_run_is_bounded(name: str) -> None:
    # The guard stops a run that would not end: the measure of one file takes seconds at most.
    path = CORPUS / name
    if not path.exists():
        missing(f"the BPMN corpus is not at {CORPUS}")
        return
    started = time.monotonic()
    library_starts(path)
    assert time.monotonic() - started < MAX_SECONDS + 1


def test_a_collaboration_the_library_starts_is_started_by_shubbak(tmp_path: Path) -> None:
    # Not a MIWG file: two executable pools exchanging a message (the forms left out, as a tool exports it).
    source = (TEST_PROCESSES / "outside_message" / "outside_message.bpmn").read_text(encoding="utf-8")
    path = tmp_path / "two_pools.bpmn"
    path.write_text(re.sub(r'\s*<spiffworkflow:property name="formJsonSchemaFilename"[^>]*/>', "", source),
                    encoding="utf-8")
    assert library_starts(path) is not None
    assert shubbak(path) == ("starts", [])
