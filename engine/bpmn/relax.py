"""BPMN that real modelling tools write and bare SpiffWorkflow refuses, given the meaning BPMN gives it.

``ShubbakParser`` uses these pieces; each one is exercised end to end in ``tests/corpus/test_relaxations.py``.

- Conditional sequence flows leaving an activity (BPMN's "implicit inclusive split", drawn with a small
  diamond at the start of the flow): every flow whose condition holds is taken, every flow without a
  condition is always taken, and the activity's default flow is taken when no condition holds.
  SpiffWorkflow's activities have no conditions on their outputs, so ``ImplicitSplit`` is inserted between
  the activity and its targets. Unlike an inclusive *gateway* it never waits for other tokens.
- Timer expressions written as bare ISO 8601 text (``P7D``, ``R6/P1D``, ``2025-01-31T10:00:00Z``), as every
  modelling tool writes them. SpiffWorkflow evaluates timer text as a Python expression, so ``P7D`` would be
  read as a variable name at run time; ``timer_expression`` turns such text into the string literal it means.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.bpmn_task_spec import BpmnTaskSpec, _BpmnCondition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.specs.MultiChoice import MultiChoice
from SpiffWorkflow.util.task import TaskState

from engine.refusals import Text, Words, say


class ImplicitSplit(MultiChoice, BpmnTaskSpec):
    """The conditional flows leaving an activity: chosen like an inclusive gateway's, but never a join."""

    def __init__(self, wf_spec: Any, name: str, *, source_id: str, source_name: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(wf_spec, name, **kwargs)
        # The activity's id: an error while choosing names the element the analyst drew.
        self.bpmn_id = source_id
        self.bpmn_name = source_name
        self.default_task_spec: str | None = None
        self.description = "Conditional flows"

    def connect_condition(self, condition: str | None, task_spec: Any) -> None:
        """A flow taken when ``condition`` holds; ``None`` is a flow without a condition, always taken."""
        self.connect_if(None if condition is None else _BpmnCondition(condition), task_spec)

    def connect_default(self, task_spec: Any) -> None:
        """The activity's default flow: taken only when none of the conditions holds."""
        self._outputs.append(task_spec.name)
        task_spec._connect_notify(self)
        self.default_task_spec = task_spec.name

    def _predict_hook(self, my_task: Any) -> None:
        super()._predict_hook(my_task)
        if self.default_task_spec is not None:
            my_task._add_child(my_task.workflow.spec.get_task_spec_from_name(self.default_task_spec),
                               TaskState.MAYBE)

    def _run_hook(self, my_task: Any) -> bool:
        matches, always = self._get_matching_outputs(my_task)
        chosen = matches + always
        if not matches and self.default_task_spec is not None:
            chosen.append(my_task.workflow.spec.get_task_spec_from_name(self.default_task_spec))
        if not chosen:
            raise WorkflowTaskException(
                f"none of the conditions on the flows leaving '{self.bpmn_name or self.bpmn_id}' holds, and "
                "it has no default flow: the case cannot go on", task=my_task)
        my_task._sync_children(chosen, TaskState.FUTURE)
        for child in my_task.children:
            child.task_spec._predict(child, mask=TaskState.FUTURE | TaskState.PREDICTED_MASK)
        return True


_NUMBER = r"\d+(?:[.,]\d+)?"
_DURATION = (rf"P(?=\d|T\d)(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
             rf"(?:T(?=\d)(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?")
_DATE = r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_ISO_LITERAL = {
    "timeDuration": re.compile(rf"{_DURATION}", re.IGNORECASE),
    "timeDate": re.compile(rf"{_DATE}"),
    "timeCycle": re.compile(rf"R\d*/(?:{_DURATION}|{_DATE})(?:/(?:{_DURATION}|{_DATE}))?", re.IGNORECASE),
}
#: For each kind of timer value: what it is, and an example an analyst can copy.
TIMER_KINDS = {
    "timeDuration": (Words("an ISO 8601 duration", "مدة بصيغة ISO 8601"),
                     Words("P7D (7 days) or PT4H (4 hours)", "P7D (سبعة أيام) أو PT4H (أربع ساعات)")),
    "timeDate": (Words("an ISO 8601 date and time", "تاريخًا ووقتًا بصيغة ISO 8601"),
                 Words("2025-01-31T10:00:00Z", "2025-01-31T10:00:00Z")),
    "timeCycle": (Words("an ISO 8601 cycle", "دورة بصيغة ISO 8601"),
                  Words("R3/P1D (3 times, a day apart)", "R3/P1D (ثلاث مرات، بين كل مرة والتالية يوم)")),
}


def _check_date(value: str) -> None:
    if not isinstance(TimerEventDefinition.parse_time_or_duration(value), datetime):
        raise ValueError(value)


_CHECKS: dict[str, Callable[[str], Any]] = {
    "timeDuration": TimerEventDefinition.parse_iso_duration,
    "timeDate": _check_date,
    "timeCycle": TimerEventDefinition.parse_iso_recurring_interval,
}


def timer_expression(kind: str, text: str) -> tuple[str, Text | None]:
    """``(expression to run, problem)`` for the text of a ``timeDuration``/``timeDate``/``timeCycle``.

    Bare ISO 8601 text becomes a string literal. A string literal (bare or quoted) is checked now, so a
    value SpiffWorkflow could not read fails at deploy rather than in a running case. Anything else is an
    expression over the case's data and is left as it is (the script checker reads it before this).
    """
    stripped = text.strip()
    expression = repr(stripped) if _ISO_LITERAL[kind].fullmatch(stripped) else stripped
    try:
        value = ast.literal_eval(expression)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return expression, None
    what, example = TIMER_KINDS[kind]
    if not isinstance(value, str):
        return expression, say("deploy.timer_value", value=stripped, what=what, example=example)
    try:
        _CHECKS[kind](value)
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises bare Exception, ValueError, AttributeError here
        return expression, say("deploy.timer_value", value=repr(value), what=what, example=example)
    return expression, None
