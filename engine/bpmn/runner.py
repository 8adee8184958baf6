"""Run a case's workflow: start it, complete a user task, advance timers, and read what the inbox needs.

Every function here works on an in-memory ``BpmnWorkflow``; loading and saving it is the caller's job.
"""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import ThrowingEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import clocked, sandbox
from engine.bpmn.compiler import PAYMENT_MESSAGE, CompiledProcess
from engine.bpmn.fast import ShubbakWorkflow
from engine.bpmn.prune import prune
from engine.bpmn.scripts import RestrictedScriptEngine
from engine.bpmn.serializer import serializer
from engine.core import clock
from engine.core.settings import Settings

SCRIPT_ENGINE = RestrictedScriptEngine()
clocked.install()  # timers read the engine's clock: a command's moment, or a replayed event's


class ProcessFailed(Exception):
    """The diagram itself failed on this case (a script error, a gateway with no way out, a runaway loop).

    ``limit`` names the bound a script went over ("time", "memory", "depth", or "busy" when no sandbox was
    free), None for other failures: the command records such an incident on the case."""

    def __init__(self, message: str, element_id: str | None = None, limit: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.element_id = element_id
        self.limit = limit


@dataclass(frozen=True)
class ReadyTask:
    id: str
    name: str


# The type of a running case's workflow, for modules outside this package (they never import SpiffWorkflow).
Workflow = BpmnWorkflow


@dataclass
class Limits:
    max_steps: int = 10_000
    max_seconds: float = 5.0
    script: sandbox.Bounds = field(default_factory=sandbox.Bounds)
    keep_finished: int = 0  # finished tasks kept above the frontier (engine/bpmn/prune.py); 0 keeps all


def limits(settings: Settings) -> Limits:
    """The bounds a command runs the workflow under, from the settings."""
    return Limits(max_steps=settings.max_engine_steps, max_seconds=settings.max_engine_seconds,
                  script=_script_bounds(settings.script_seconds, settings.script_memory_mib,
                                        settings.script_sandboxes),
                  keep_finished=settings.workflow_keep_finished)


@lru_cache(maxsize=8)
def _script_bounds(seconds: float, memory_mib: int, sandboxes: int) -> sandbox.Bounds:
    return sandbox.Bounds(seconds=seconds, memory_mib=memory_mib, sandboxes=sandboxes)


def start(process: CompiledProcess, data: dict[str, Any], limits: Limits, *,
          at: datetime | None = None) -> BpmnWorkflow:
    """A new workflow with ``data``, run until it waits; ``at`` is the moment it runs at (see engine/core/clock.py)."""
    workflow = ShubbakWorkflow(process.spec, process.subprocess_specs, script_engine=SCRIPT_ENGINE)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)
    advance(workflow, limits, at=at)
    return workflow


def load(process: CompiledProcess, state: str) -> BpmnWorkflow:
    workflow = serializer.loads(state, process.spec, process.subprocess_specs)
    workflow.script_engine = SCRIPT_ENGINE
    return workflow


def dump(workflow: BpmnWorkflow) -> str:
    return serializer.dumps(workflow)


def advance(workflow: BpmnWorkflow, limits: Limits, *, at: datetime | None = None) -> None:
    """Fire due timers and run every engine task until the workflow waits for people, time or the end."""
    counter = _Guard(limits)
    try:
        with clock.frozen(at), sandbox.bounded(limits.script):
            workflow.refresh_timers()
            workflow.do_engine_steps(will_complete_task=counter)
        prune(workflow, limits.keep_finished)  # the same in a live step and in its replay
    except ProcessFailed:
        raise
    except sandbox.ScriptLimitExceeded as exc:
        raise _over_limit(exc) from exc
    except SpiffWorkflowException as exc:
        raise _failed(exc) from exc
    except RecursionError as exc:
        raise ProcessFailed("the diagram nests too deeply to run") from exc
    except Exception as exc:  # noqa: BLE001 - SpiffWorkflow raises bare exceptions too (e.g. 'Invalid duration')
        raise ProcessFailed(f"{type(exc).__name__}: {exc}") from exc


class _Guard:
    """Stops a diagram that loops through engine tasks forever (a cycle of scripts with no wait)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.steps = 0
        self.deadline = time.monotonic() + limits.max_seconds

    def __call__(self, task: SpiffTask) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps or time.monotonic() > self.deadline:
            raise ProcessFailed(
                f"the process ran {self.steps} automatic steps without waiting for anyone; it probably "
                "loops forever", task.task_spec.bpmn_id)


def complete(workflow: BpmnWorkflow, task_id: str, data: dict[str, Any], limits: Limits, *,
             at: datetime | None = None) -> SpiffTask:
    task = find_ready(workflow, task_id)
    if task is None:
        raise LookupError(task_id)
    task.data.update(data)
    with clock.frozen(at) as moment:
        try:
            with sandbox.bounded(limits.script):
                task.run()
        except sandbox.ScriptLimitExceeded as exc:
            raise _over_limit(exc.at_element(str(task.task_spec.bpmn_id))) from exc
        except SpiffWorkflowException as exc:
            raise _failed(exc) from exc
        except Exception as exc:  # noqa: BLE001 - a diagram's failure must refuse the step, never crash the request
            raise ProcessFailed(f"{type(exc).__name__}: {exc}", task.task_spec.bpmn_id) from exc
        advance(workflow, limits, at=moment)
    return task


class SkipRefused(LookupError):
    """A skip that cannot be made: ``what`` says why (``no_failure``: the element did not fail, ``no_target``: the
    chosen element is not one the failed element leads to)."""

    def __init__(self, what: str, choices: list[str] | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.choices = choices or []


def successors(workflow: BpmnWorkflow, element_id: str) -> list[str]:
    """The BPMN elements the element ``element_id`` leads to directly (its outgoing flows' targets)."""
    for spec in _specs_of(workflow):
        for task_spec in spec.task_specs.values():
            if task_spec.bpmn_id == element_id:
                return [str(out.bpmn_id) for out in task_spec.outputs if out.bpmn_id]
    return []


def _specs_of(workflow: BpmnWorkflow) -> list[Any]:
    return [workflow.spec, *workflow.subprocess_specs.values()]


def skip(workflow: BpmnWorkflow, element_id: str, to_element: str, limits: Limits, *, at: datetime | None = None,
         task_id: str | None = None, data: dict[str, Any] | None = None) -> None:
    """Move the token past the failed element ``element_id`` to ``to_element``, one of the elements it leads to,
    without running the failed element's work, then go on as usual.

    The step is run again as it first ran (the user task ``task_id`` completed with ``data``, else the engine
    advanced) up to the failure; the failed task (SpiffWorkflow's ERROR state) gets the chosen element as its
    only child and is completed without being run (SpiffWorkflow's own ``Task.complete``), and the workflow
    advances from there. SkipRefused when the element did not fail, or ``to_element`` is not a successor."""
    choices = successors(workflow, element_id)
    if to_element not in choices:
        raise SkipRefused("no_target", choices)
    with clock.frozen(at) as moment:
        try:
            if task_id is not None:
                complete(workflow, task_id, dict(data or {}), limits, at=moment)
            else:
                advance(workflow, limits, at=moment)
        except ProcessFailed as exc:
            if exc.element_id != element_id:
                raise
        failed = [t for t in all_tasks(workflow)
                  if t.task_spec.bpmn_id == element_id and t.state in (TaskState.ERROR, TaskState.STARTED)]
        if not failed:
            raise SkipRefused("no_failure", choices)
        task = failed[0]
        target = [out for out in task.task_spec.outputs if out.bpmn_id == to_element]
        task._drop_children(force=True)  # noqa: SLF001 - SpiffWorkflow's own tree operations
        task._sync_children(target, TaskState.LIKELY)  # noqa: SLF001
        task.complete()
        advance(workflow, limits, at=moment)


def find_ready(workflow: BpmnWorkflow, task_id: str) -> SpiffTask | None:
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError, SpiffWorkflowException):
        return None
    if task is None or task.state != TaskState.READY or not task.task_spec.manual:
        return None
    return task


def ready_user_tasks(workflow: BpmnWorkflow) -> list[ReadyTask]:
    return scan(workflow).ready


@dataclass(frozen=True)
class WaitingMessage:
    """A task waiting for a message: its id, BPMN element, the message's name, and when the timer beside
    it (a boundary timer on a receive task, or a timer after the same event-based gateway) falls due."""

    id: str
    element: str
    name: str
    due: datetime | None


@dataclass
class Scan:
    """What the projections need, read from the workflow in one pass over its tasks."""

    ready: list[ReadyTask]
    next_timer: datetime | None
    completed: bool
    end_event: str | None
    payments: list[WaitingMessage] = field(default_factory=list)  # tasks waiting for PAYMENT_MESSAGE


def all_tasks(workflow: BpmnWorkflow) -> list[SpiffTask]:
    """Every task of the workflow and of its subprocesses."""
    tasks = list(workflow.tasks.values())
    for sub in workflow.subprocesses.values():
        tasks.extend(sub.tasks.values())
    return tasks


def shape(workflow: BpmnWorkflow) -> Counter[tuple[str, str]]:
    """Every task of the tree by BPMN element and state: what two runs of the same steps share (not ids)."""
    out: Counter[tuple[str, str]] = Counter()
    for task in all_tasks(workflow):
        out[(str(task.task_spec.bpmn_id or task.task_spec.name), TaskState.get_name(task.state))] += 1
    return out


def completed_and_waiting(workflow: BpmnWorkflow) -> tuple[list[str], list[str]]:
    """The BPMN elements that have completed and those waiting (timers, messages), in tree order."""
    completed: list[str] = []
    waiting: list[str] = []
    for task in all_tasks(workflow):
        element = task.task_spec.bpmn_id
        if not element:
            continue
        if task.state == TaskState.COMPLETED:
            completed.append(str(element))
        elif task.state == TaskState.WAITING:
            waiting.append(str(element))
    return completed, waiting


def scan(workflow: BpmnWorkflow) -> Scan:
    ready: list[ReadyTask] = []
    next_timer: datetime | None = None
    completed = bool(workflow.is_completed())
    last_end: SpiffTask | None = None
    payments: list[WaitingMessage] = []
    for task in all_tasks(workflow):
        state = task.state
        spec = task.task_spec
        if state == TaskState.READY and spec.manual:
            ready.append(ReadyTask(id=str(task.id), name=spec.bpmn_id or spec.name))
        elif state == TaskState.WAITING:
            definition = getattr(spec, "event_definition", None)
            if isinstance(definition, TimerEventDefinition):
                due = _timer_due(definition, task)
                next_timer = due if next_timer is None else min(next_timer, due)
            elif isinstance(definition, MessageEventDefinition) and definition.name == PAYMENT_MESSAGE:
                payments.append(WaitingMessage(id=str(task.id), element=str(spec.bpmn_id), name=definition.name,
                                               due=_beside_timer(task)))
        elif (completed and state == TaskState.COMPLETED and isinstance(spec, EndEvent)
              and (task.workflow is workflow or _is_pool(task.workflow, workflow))
              and (last_end is None or task.last_state_change > last_end.last_state_change)):
            last_end = task
    end = str(last_end.task_spec.bpmn_id) if last_end is not None else None
    return Scan(ready=ready, next_timer=next_timer, completed=completed, end_event=end, payments=payments)


def _is_pool(sub: Any, workflow: BpmnWorkflow) -> bool:
    """Whether ``sub`` is a pool of the collaboration that ``workflow`` runs: its end events end the case's pools."""
    return sub.parent_workflow is workflow and is_collaboration(workflow)


def is_collaboration(workflow: BpmnWorkflow) -> bool:
    """Whether the workflow runs a collaboration's pools (SpiffWorkflow's ``get_collaboration``: a spec that only
    starts the pools, with no end event of its own) rather than one process."""
    spec = workflow.spec
    found = spec.__dict__.get(_COLLABORATION)
    if found is None:
        found = spec.__dict__[_COLLABORATION] = not any(isinstance(s, EndEvent) for s in spec.task_specs.values())
    return bool(found)


_COLLABORATION = "_shubbak_is_collaboration"


def _beside_timer(task: SpiffTask) -> datetime | None:
    """The earliest waiting timer among the task's siblings: a boundary timer of a receive task (their parent
    is the boundary split) or a timer catch event after the same event-based gateway."""
    parent = task.parent
    dues = [_timer_due(sibling.task_spec.event_definition, sibling) for sibling in (parent.children if parent else [])
            if sibling is not task and sibling.state == TaskState.WAITING and _is_timer(sibling)]
    return min(dues) if dues else None


def waiting_for_message(workflow: BpmnWorkflow, element: str) -> str | None:
    """The id of the task of BPMN element ``element`` waiting for a message, None when none waits."""
    for task in all_tasks(workflow):
        if (task.state == TaskState.WAITING and str(task.task_spec.bpmn_id) == element
                and isinstance(getattr(task.task_spec, "event_definition", None), MessageEventDefinition)):
            return str(task.id)
    return None


def deliver(workflow: BpmnWorkflow, task_id: str, payload: dict[str, Any], limits: Limits, *,
            at: datetime | None = None) -> None:
    """Deliver the message the task ``task_id`` waits for (with ``payload``), and run on until the workflow
    waits again. LookupError when that task waits for no message (any more)."""
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError, SpiffWorkflowException) as exc:
        raise LookupError(task_id) from exc
    definition = getattr(task.task_spec, "event_definition", None) if task is not None else None
    if task is None or task.state != TaskState.WAITING or not isinstance(definition, MessageEventDefinition):
        raise LookupError(task_id)
    _send(workflow, definition, payload, limits, at)


def _send(workflow: BpmnWorkflow, definition: MessageEventDefinition, payload: dict[str, Any], limits: Limits,
          at: datetime | None, correlations: dict[str, Any] | None = None) -> None:
    """Send the message event ``definition`` with ``payload`` (and the sender's ``correlations``, a message
    between cases) and run on until the workflow waits again."""
    with clock.frozen(at) as moment:
        try:
            workflow.send_event(BpmnEvent(definition, payload=payload, correlations=correlations or {}))
        except SpiffWorkflowException as exc:
            raise _failed(exc) from exc
        advance(workflow, limits, at=moment)


def message_waiters(workflow: BpmnWorkflow, message: str) -> list[str]:
    """The BPMN elements that would catch the message ``message`` now: tasks waiting for it, and the message
    start events of a collaboration's pools that it starts (SpiffWorkflow starts such a pool when its message
    comes). Empty when nothing waits for it: the message cannot be delivered."""
    found = [str(task.task_spec.bpmn_id) for task in all_tasks(workflow)
             if task.state == TaskState.WAITING and _catches(task.task_spec, message)]
    for name in getattr(workflow.spec.start, "trigger_specs", None) or ():
        pool = workflow.subprocess_specs.get(name)
        for start in getattr(pool, "bpmn_start_events", None) or ():
            if _catches(start, message) and str(start.bpmn_id) not in found:
                found.append(str(start.bpmn_id))
    return found


def _catches(task_spec: Any, message: str) -> bool:
    definition = getattr(task_spec, "event_definition", None)
    return (isinstance(definition, MessageEventDefinition) and definition.name == message
            and not isinstance(task_spec, ThrowingEvent))


def deliver_message(workflow: BpmnWorkflow, element: str, message: str, payload: dict[str, Any], limits: Limits, *,
                    at: datetime | None = None, correlations: dict[str, Any] | None = None) -> None:
    """Deliver ``message`` with ``payload`` to the element ``element`` waiting for it (``message_waiters``), and
    run on until the workflow waits again. LookupError when that element does not wait for it (any more).
    ``correlations``: the sending case's (a message between cases): the waiting workflow's must match them."""
    if element not in message_waiters(workflow, message):
        raise LookupError(element)
    definition = next(_definitions(workflow, element))
    _send(workflow, definition, payload, limits, at, correlations)


def _definitions(workflow: BpmnWorkflow, element: str) -> Any:
    for spec in _specs_of(workflow):
        for task_spec in spec.task_specs.values():
            if task_spec.bpmn_id == element and isinstance(getattr(task_spec, "event_definition", None),
                                                           MessageEventDefinition):
                yield task_spec.event_definition


def caught_messages(workflow: BpmnWorkflow) -> dict[str, tuple[str, str]]:
    """The tasks that have caught a message: task id -> (BPMN element, message name). A command compares them
    before and after its step to record the messages the engine delivered between a collaboration's pools."""
    out = {}
    for task in all_tasks(workflow):
        spec = task.task_spec
        definition = getattr(spec, "event_definition", None)
        if (task.state == TaskState.COMPLETED and isinstance(definition, MessageEventDefinition)
                and not isinstance(spec, ThrowingEvent)):
            out[str(task.id)] = (str(spec.bpmn_id), str(definition.name))
    return out


@dataclass(frozen=True)
class Thrown:
    """A message thrown in the workflow that nothing in it waited for: its name, its payload, and its correlation
    key (canonical JSON of SpiffWorkflow's correlations, None when the message has no correlation property)."""

    message: str
    payload: dict[str, Any]
    correlation: str | None


def thrown_messages(workflow: BpmnWorkflow) -> list[Thrown]:
    """The messages thrown in the workflow that nothing in it waited for, taken out of it (SpiffWorkflow keeps them
    aside, never delivers them later): a correlated one goes to another case (engine/cases/correlated.py), the
    others are recorded as lost, never silently dropped."""
    return [Thrown(str(event.event_definition.name), dict(event.payload or {}),
                   correlation_key(event.correlations) if event.correlations else None)
            for event in workflow.get_events() if isinstance(event.event_definition, MessageEventDefinition)]


def correlation_key(correlations: dict[str, Any]) -> str:
    """One string for SpiffWorkflow's correlations ({key: {property: value}}), the same for the same values."""
    return json.dumps(correlations, sort_keys=True, ensure_ascii=False, default=str)


def correlated_waits(workflow: BpmnWorkflow) -> list[tuple[str, str, str]]:
    """The message catch events waiting for a message that has correlation properties, as (element, message,
    correlation key): the key is the properties' retrieval expressions read on the waiting task's data (the case
    holds the national ID or the reference the other case's message carries). A wait whose key cannot be read
    from its data is left out: no message can find it."""
    out = []
    for task in all_tasks(workflow):
        definition = getattr(task.task_spec, "event_definition", None)
        if (task.state != TaskState.WAITING or not isinstance(definition, MessageEventDefinition)
                or not definition.correlation_properties or isinstance(task.task_spec, ThrowingEvent)):
            continue
        # SpiffArena's processVariableCorrelation says where the waiting case holds the key; without it, the
        # message's retrieval expressions are read on the case's data.
        properties = getattr(definition, "process_correlations", None) or definition.correlation_properties
        try:
            correlations = definition.calculate_correlations(workflow.script_engine, properties, dict(task.data))
        except Exception:  # noqa: BLE001, S112 - a key its data cannot give yet: not findable, like no key
            continue
        out.append((str(task.task_spec.bpmn_id), str(definition.name), correlation_key(correlations)))
    return out


def catches_correlated(process: CompiledProcess) -> bool:
    """Whether any catch event of the process waits for a message that has correlation properties (worked out
    once per compiled process: every step of its cases asks)."""
    known = process.__dict__.get("_catches_correlated")
    if known is None:
        known = any(isinstance(getattr(t, "event_definition", None), MessageEventDefinition)
                    and t.event_definition.correlation_properties and not isinstance(t, ThrowingEvent)
                    for spec in [process.spec, *process.subprocess_specs.values()] for t in spec.task_specs.values())
        process.__dict__["_catches_correlated"] = known
    return bool(known)


@dataclass(frozen=True)
class Marks:
    """Where a case stands on its diagram, by BPMN element id, in every pool and called process: the elements it
    went through (``done``), the tasks ready or running now (``current``) and the message and timer events it
    waits at (``waiting``)."""

    done: list[str]
    current: list[str]
    waiting: list[str]


def element_marks(workflow: BpmnWorkflow) -> Marks:
    """The case's marks (``Marks``) read from its workflow."""
    done: dict[str, None] = {}
    current: dict[str, None] = {}
    waiting: dict[str, None] = {}
    for task in all_tasks(workflow):
        element = getattr(task.task_spec, "bpmn_id", None)
        if element is None:  # SpiffWorkflow's own start, end and join specs: not drawn
            continue
        if task.state == TaskState.COMPLETED:
            done[str(element)] = None
        elif task.state in (TaskState.READY, TaskState.STARTED):
            current[str(element)] = None
        elif task.state == TaskState.WAITING and isinstance(
                getattr(task.task_spec, "event_definition", None), (MessageEventDefinition, TimerEventDefinition)):
            waiting[str(element)] = None
    now = current.keys() | waiting.keys()
    return Marks([e for e in done if e not in now], list(current), list(waiting))


def _timer_due(definition: TimerEventDefinition, task: SpiffTask) -> datetime:
    """When a waiting timer falls due; 'now' when its value cannot be read, so the tick looks every time."""
    value = getattr(definition.details(task), "value", None)
    if isinstance(value, str):
        try:
            due = datetime.fromisoformat(value)
        except ValueError:
            return datetime.now(UTC)
        return due if due.tzinfo else due.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _is_timer(task: SpiffTask) -> bool:
    return isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition)


def waiting_timers(workflow: BpmnWorkflow) -> dict[UUID, str]:
    """The timer events the workflow waits on: task id -> BPMN id."""
    return {task.id: str(task.task_spec.bpmn_id) for task in all_tasks(workflow)
            if task.state == TaskState.WAITING and _is_timer(task)}


_FIRED = TaskState.READY | TaskState.STARTED | TaskState.COMPLETED


def fired_timers(workflow: BpmnWorkflow, waiting: dict[UUID, str]) -> list[str]:
    """BPMN ids of the timers of ``waiting`` (taken before a step) that fired during it, sorted.

    A timer withdrawn by the step (its task cancelled, or gone from the tree) did not fire."""
    fired = []
    for task_id, name in waiting.items():
        try:
            task = workflow.get_task_from_id(task_id)
        except (KeyError, SpiffWorkflowException):
            continue
        if task is not None and task.state & _FIRED:
            fired.append(name)
    return sorted(fired)


def force_timers(workflow: BpmnWorkflow, names: set[str] | None, moment: datetime) -> list[str]:
    """Make the waiting timers named in ``names`` (every waiting timer when None) due at ``moment``.

    Replay uses it when a recorded ``timer_fired`` says a timer fired that its own clock has not made due:
    the timer's due time was moved (as tests do to avoid waiting days), or the event predates the engine's
    clock. Cycle timers are left alone. Returns the BPMN ids moved."""
    moved = []
    just_before = (moment - timedelta(microseconds=1)).isoformat()  # SpiffWorkflow fires when due < now
    for task in all_tasks(workflow):
        if task.state == TaskState.WAITING and _is_timer(task):
            name = str(task.task_spec.bpmn_id)
            if (names is None or name in names) and not isinstance(task.task_spec.event_definition,
                                                                    CycleTimerEventDefinition):
                task.internal_data["event_value"] = just_before
                moved.append(name)
    return sorted(moved)


def is_completed(workflow: BpmnWorkflow) -> bool:
    return bool(workflow.is_completed())


def case_data(workflow: BpmnWorkflow, completed: bool | None = None) -> dict[str, Any]:
    """The data a person would call 'the case's data': what the latest step produced (in a collaboration, each
    pool's, merged: ``_pool_data``).

    ``completed`` saves a walk of the tree when the caller already knows (from ``scan``)."""
    if is_collaboration(workflow):
        # Each pool has its own data, merged in the order the pools started (a later pool wins a shared name).
        merged: dict[str, Any] = {}
        for sub in workflow.subprocesses.values():
            if sub.parent_workflow is workflow:
                merged.update(_pool_data(sub))
        if merged:
            return merged
    if (workflow.is_completed() if completed is None else completed) and workflow.data:
        return dict(workflow.data)
    task = workflow.last_task
    if task is None:
        ready = workflow.get_tasks(state=TaskState.READY)
        return dict(ready[0].data) if ready else {}
    return dict(task.data)


def _pool_data(sub: Any) -> dict[str, Any]:
    """A pool's data: what it ended with; while it runs, that of the first task where it stands (ready or
    waiting, in tree order), else of its last task. Not the time tasks ran: a move to another version resets
    those, and the case's data must come out the same live and in replay."""
    if sub.completed:
        return dict(sub.data)
    for task in sub.get_tasks(state=TaskState.READY | TaskState.WAITING):
        return dict(task.data)
    return dict(sub.last_task.data) if sub.last_task is not None else {}


def element_name(process: CompiledProcess, element_id: str | None) -> str | None:
    """The name an analyst gave the element ``element_id`` (in the process or one of its sub-processes)."""
    for spec in (process.spec, *process.subprocess_specs.values()):
        for task_spec in spec.task_specs.values():
            if element_id is not None and task_spec.bpmn_id == element_id:
                return str(task_spec.bpmn_name) if task_spec.bpmn_name else None
    return None


def _over_limit(limit: sandbox.ScriptLimitExceeded, wrapper: SpiffWorkflowException | None = None) -> ProcessFailed:
    """The ProcessFailed for a script over its limit, naming the element that ran it."""
    element = limit.element_id or (_element_of(wrapper) if wrapper is not None else None)
    return ProcessFailed(limit.message, element, limit=limit.limit)


def _failed(exc: SpiffWorkflowException) -> ProcessFailed:
    """What SpiffWorkflow's failure means for the case: a script's limit (wrapped on the way) or its error."""
    limit = sandbox.limit_in(exc)
    return _over_limit(limit, exc) if limit is not None else ProcessFailed(_describe(exc), _element_of(exc))
def set_field(workflow: BpmnWorkflow, name: str, value: Any) -> None:
    """Give the top-level field ``name`` the value ``value`` wherever the workflow holds it: every task's data
    (finished ones too, so the case's data and any branch that inherits later read the new value) and the
    workflow's own. For an audited correction (engine/cases/citizen_correction.py) and its replay."""
    for data in [workflow.data, *(sub.data for sub in workflow.subprocesses.values()),
                 *(task.data for task in all_tasks(workflow))]:
        if name in data:
            data[name] = copy.deepcopy(value)
    serializer.forget_finished(workflow)


def _describe(exc: SpiffWorkflowException) -> str:
    notes = getattr(exc, "notes", None) or []
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    if notes:
        text += " (" + "; ".join(str(n) for n in notes) + ")"
    return text


def _element_of(exc: SpiffWorkflowException) -> str | None:
    task = getattr(exc, "task", None)
    if task is not None:
        return str(task.task_spec.bpmn_id or task.task_spec.name)
    spec = getattr(exc, "task_spec", None)
    return str(spec.bpmn_id or spec.name) if spec is not None else None
