"""The tests an analyst writes beside a diagram (``paths.json``), run in memory on the compiled process.

``paths.json`` is a list of cases, each one path through the diagram::

    [{"name": "approved",
      "start_data": {"citizen": {...}},
      "steps": [{"task": "register_request", "lane": "front_desk", "data": {...}}, ...],
      "end_event": "permit_issued",
      "expected_data": {"fee": 3000.0}}]

A case starts a workflow with ``start_data``; each step needs its task to be waiting (ready), in the lane
named, and its data to pass the task's form; the task is then completed with the data. After the last step
the case must have ended at ``end_event`` with ``expected_data`` (a subset of the case's data). Nothing is
written anywhere: the workflows are plain objects. Citizens are not checked here (the front desk does that).
When the service lists papers, every step also gets ``documents_complete: true`` and
``documents_missing: []``, as on a case whose papers were all scanned (a step's own data may say otherwise).

Two more kinds of step: ``{"pay": true, "amount": "3000.00"}`` pays the case's bill (the case must be waiting
for ``payment_received``; ``amount``, if given, must be what the bill would be: engine/core/amounts.py), and
``{"wait_days": 15}`` lets that many days pass, firing the timers due by then (an unpaid bill's deadline).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.bpmn import runner
from engine.bpmn.compiler import PATHS_FILE, CompiledProcess
from engine.core import amounts, clock
from engine.core.errors import Invalid
from engine.core.refusals import Words, say
from forms.validation import checked


@dataclass(frozen=True)
class Step:
    task: str
    lane: str | None
    data: dict[str, Any]
    pay: bool = False
    amount: str | None = None
    wait_days: float | None = None


@dataclass(frozen=True)
class PathCase:
    name: str
    start_data: dict[str, Any]
    steps: tuple[Step, ...]
    end_event: str
    expected_data: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """One case's result: ``message`` says what failed (None when it passed)."""

    name: str
    message: str | None = None  # a Text (engine/core/refusals.py): its Arabic goes with it

    @property
    def passed(self) -> bool:
        return self.message is None


def _refused(message: str, element_id: str | None = None) -> Invalid:
    return Invalid("paths.unreadable",
                   [{"file": PATHS_FILE, "element_id": element_id, "message": message}])


def parse_cases(content: bytes) -> list[PathCase]:
    """The cases of a ``paths.json``; Invalid (naming the file and the case) when it is malformed."""
    try:
        raw = json.loads(content)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # nested too deep: RecursionError
        raise _refused(say("paths.not_json", error=str(exc))) from exc
    if not isinstance(raw, list):
        raise _refused(say("paths.not_a_list"))
    cases: list[PathCase] = []
    for number, item in enumerate(raw, 1):
        name = item.get("name") if isinstance(item, dict) else None
        label = str(name) if isinstance(name, str) and name else f"case {number}"
        if not isinstance(item, dict) or not isinstance(name, str) or not name:
            raise _refused(say("paths.needs_name"), label)
        steps = item.get("steps", [])
        start, expected, end = item.get("start_data", {}), item.get("expected_data", {}), item.get("end_event")
        if not isinstance(start, dict) or not isinstance(expected, dict) or not isinstance(steps, list):
            raise _refused(say("paths.wrong_types"), label)
        if not isinstance(end, str) or not end:
            raise _refused(say("paths.needs_end_event"), label)
        parsed = []
        for step in steps:
            if isinstance(step, dict) and step.get("pay") is True and isinstance(step.get("amount", ""), str):
                parsed.append(Step(task="(pay)", lane=None, data={}, pay=True, amount=step.get("amount")))
                continue
            days = step.get("wait_days") if isinstance(step, dict) else None
            if isinstance(days, int | float) and not isinstance(days, bool) and 0 < days <= 3660:
                parsed.append(Step(task="(wait)", lane=None, data={}, wait_days=float(days)))
                continue
            if not isinstance(step, dict) or not isinstance(step.get("task"), str) \
                    or not isinstance(step.get("data", {}), dict):
                raise _refused(say("paths.step_shape"), label)
            parsed.append(Step(task=step["task"], lane=step.get("lane"), data=step.get("data", {})))
        if label in {c.name for c in cases}:
            raise _refused(say("paths.duplicate_name"), label)
        cases.append(PathCase(name=label, start_data=start, steps=tuple(parsed), end_event=end,
                              expected_data=expected))
    return cases


def run_case(process: CompiledProcess, case: PathCase, limits: runner.Limits) -> Outcome:
    try:
        _walk(process, case, limits)
    except _Failed as exc:
        return Outcome(case.name, exc.args[0])
    except runner.ProcessFailed as exc:
        if exc.element_id:
            return Outcome(case.name, say("paths.process_failed_at", element_id=exc.element_id, reason=exc.message))
        return Outcome(case.name, say("paths.process_failed", reason=exc.message))
    return Outcome(case.name)


def run_all(process: CompiledProcess, content: bytes, limits: runner.Limits) -> list[Outcome]:
    return [run_case(process, case, limits) for case in parse_cases(content)]


def failures_as_problems(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """The failed cases as a deploy's refusal lists problems: ``{"file", "element_id", "message"}``."""
    return [{"file": PATHS_FILE, "element_id": o.name, "message": o.message} for o in outcomes if not o.passed]


class _Failed(Exception):
    pass


def _pay(workflow: runner.Workflow, found: runner.Scan, step: Step, number: int, limits: runner.Limits,
         moment: datetime) -> None:
    """Pay the bill the case waits on, as the cashier's payment does: deliver ``payment_received``."""
    if not found.payments:
        raise _Failed(say("paths.not_waiting_payment", step=number))
    owed = amounts.amount_of(runner.case_data(workflow))
    if owed is None or owed[0] <= 0:
        raise _Failed(say("paths.no_bill", step=number))
    if step.amount is not None and amounts.minor(step.amount) != owed[0]:
        raise _Failed(say("paths.bill_amount", step=number, amount=amounts.text(owed[0]), expected=step.amount))
    runner.deliver(workflow, found.payments[0].id, {"amount": amounts.text(owed[0])}, limits, at=moment)


def _walk(process: CompiledProcess, case: PathCase, limits: runner.Limits) -> None:
    papers = {"documents_complete": True, "documents_missing": []} if process.service.documents else {}
    moment = clock.now()
    workflow = runner.start(process, dict(case.start_data), limits, at=moment)
    for number, step in enumerate(case.steps, 1):
        where = {"step": number, "task": step.task}
        if step.wait_days is not None:
            moment += timedelta(days=step.wait_days)
            runner.advance(workflow, limits, at=moment)
            continue
        found = runner.scan(workflow)
        if step.pay:
            _pay(workflow, found, step, number, limits, moment)
            continue
        ready = [t for t in found.ready if t.name == step.task]
        if not ready:
            now = (say("paths.had_ended", end_event=found.end_event) if found.completed
                   else say("paths.tasks_waiting", tasks=", ".join(sorted(t.name for t in found.ready))
                                                         or Words("none", "لا شيء")))
            raise _Failed(say("paths.not_waiting", **where, now=now))
        info = process.user_tasks.get(step.task)
        if step.lane is not None and info is not None and info.lane != step.lane:
            raise _Failed(say("paths.wrong_lane", **where, lane=info.lane, expected=step.lane))
        step_data = step.data
        if info is not None and info.form:
            step_data, problems = checked(process.validator(info.form), step.data)
            if problems:
                said = "; ".join(f"{p['field'] or '(form)'}: {p['msg']}" for p in problems)
                raise _Failed(say("paths.form_refuses", **where, form=info.form, problems=said))
        runner.complete(workflow, ready[0].id, {**papers, **step_data}, limits, at=moment)
    found = runner.scan(workflow)
    if not found.completed:
        waiting = ", ".join(sorted(t.name for t in found.ready)) or Words("a timer or a message", "مؤقتًا أو رسالة")
        raise _Failed(say("paths.not_ended", waiting=waiting, end_event=case.end_event))
    if found.end_event != case.end_event:
        raise _Failed(say("paths.wrong_end", end_event=found.end_event, expected=case.end_event))
    data = runner.case_data(workflow, True)
    wrong = {key: data.get(key, "(missing)") for key, value in case.expected_data.items() if data.get(key) != value}
    if wrong:
        said = "; ".join(f"{key} is {json.dumps(got, ensure_ascii=False, default=str)}, expected "
                         f"{json.dumps(case.expected_data[key], ensure_ascii=False, default=str)}"
                         for key, got in wrong.items())
        raise _Failed(say("paths.data_differs", differences=said))
