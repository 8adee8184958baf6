"""Move a running workflow onto another version of its process: SpiffWorkflow's spec diff and migration.

The migration command (engine/cases/version_moves.py) asks :func:`blockers` whether a case can move, moves it
with :func:`migrate` and records a ``case_migrated`` event (``{"from_version", "to_version", "from_sha256",
"to_sha256"}``): replay (engine/cases/replay.py) calls this same function at that event, which is what lets a
migrated case replay across versions.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, filter_tasks, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.compiler import CompiledProcess
from engine.bpmn.serializer import serializer
from engine.core.refusals import Text, Words, say


def migrate(workflow: BpmnWorkflow, process: CompiledProcess) -> list[str]:
    """Re-point ``workflow`` (in place) at ``process``'s spec; returns the BPMN ids of the tasks removed.

    Tasks whose element is in both versions keep their state and data; ready and waiting tasks are reset and
    predicted again on the new diagram. The caller advances the workflow afterwards."""
    registry = serializer.registry
    top, subprocesses = diff_workflow(registry, workflow, process.spec, process.subprocess_specs)
    removed = migrate_workflow(top, workflow, process.spec)
    for sub_id, sub_diff in subprocesses.items():
        sub = workflow.subprocesses[sub_id]
        new_spec = process.subprocess_specs.get(sub.spec.name)
        if sub_diff is not None and new_spec is not None:
            removed.extend(migrate_workflow(sub_diff, sub, new_spec))
    workflow.subprocess_specs = process.subprocess_specs
    return sorted({str(t.task_spec.bpmn_id) for t in removed if t.task_spec.bpmn_id})


def diff_workflow(registry: Any, workflow: BpmnWorkflow, new_spec: Any, new_dependencies: dict[str, Any]
                  ) -> tuple[WorkflowDiff, dict[Any, WorkflowDiff | None]]:
    """SpiffWorkflow's ``diff_workflow``, which aligns the specs it reaches from the start: a collaboration's
    pool that a message starts is not reached from the start (engine/bpmn/compiler.py wires it so), so it is
    aligned by name here, as the other specs are first."""
    spec_diff = SpecDiff(registry, workflow.spec, new_spec)
    for name in getattr(workflow.spec.start, "trigger_specs", None) or ():
        participant = workflow.spec.task_specs.get(name)
        if participant is not None and participant not in spec_diff.alignment:
            spec_diff._align(participant, workflow.spec, new_spec)  # noqa: SLF001 - SpiffWorkflow's own alignment
    top_diff = WorkflowDiff(workflow, spec_diff)
    sp_diffs: dict[Any, WorkflowDiff | None] = {}
    for sp_id, sp in workflow.subprocesses.items():
        if sp.spec.name in new_dependencies:
            sp_diffs[sp_id] = WorkflowDiff(sp, SpecDiff(registry, sp.spec, new_dependencies[sp.spec.name]))
        else:
            sp_diffs[sp_id] = None
    return top_diff, sp_diffs


# The part of a case that already happened: a change there would make its history a lie on the new version.
_DONE = TaskState.COMPLETED | TaskState.STARTED | TaskState.ERROR
# Where a case waits now: these are reset and predicted again on the new diagram, so they may change, but
# they must still exist there.
_WAITING = TaskState.READY | TaskState.WAITING


def blockers(workflow: BpmnWorkflow, process: CompiledProcess) -> list[Text]:
    """Why ``workflow`` cannot move to ``process`` (empty when it can), one sentence per element.

    SpiffWorkflow's workflow diff aligns the case's tasks with the new diagram's elements (by id first): a
    case cannot move when an element it has already passed was changed or removed, or when an element it
    waits at is gone. Elements it has not reached yet may change freely."""
    top, subprocesses = diff_workflow(serializer.registry, workflow, process.spec, process.subprocess_specs)
    reasons = _of(top, None)
    for sub_id, sub_diff in subprocesses.items():
        sub = workflow.subprocesses[sub_id]
        if sub_diff is None:
            reasons.append(say("migration.subprocess_gone", name=sub.spec.name))
        else:
            reasons.extend(_of(sub_diff, sub.spec.name))
    return sorted(dict.fromkeys(reasons))


def _of(diff: WorkflowDiff, subprocess: str | None) -> list[Text]:
    out = []
    removed = {id(t) for t in diff.removed}

    def said(message_id: str, task: Any, **params: Any) -> Text:
        if subprocess is None:
            return say(message_id, element=_label(task), **params)
        return say(message_id + "_in", element=_label(task), subprocess=subprocess, **params)

    for task in filter_tasks(diff.removed, state=_DONE):
        out.append(said("migration.done_gone", task))
    for task in filter_tasks(diff.changed, state=_DONE):
        if id(task) not in removed:
            changes = _changes(diff, task)
            what = Words(", ".join(w.en for w in changes), "، ".join(w.ar for w in changes)) if changes \
                else Words("its definition", "تعريفه")
            out.append(said("migration.done_changed", task, what=what))
    for task in filter_tasks(diff.removed, state=_WAITING):
        out.append(said("migration.waiting_gone", task))
    return out


# SpiffWorkflow's names of a task spec's attributes, in an analyst's words.
_WORDS = {"bpmn_name": Words("name", "الاسم"), "typename": Words("type", "النوع"),
          "inputs": Words("incoming flows", "المسارات الداخلة"),
          "outputs": Words("outgoing flows", "المسارات الخارجة"),
          "cond_task_specs": Words("conditions", "الشروط"),
          "default_task_spec": Words("default flow", "المسار الافتراضي"),
          "script": Words("script", "النص البرمجي"), "lane": Words("lane", "المسار"),
          "extensions": Words("properties", "الخصائص"), "event_definition": Words("event", "الحدث"),
          "documentation": Words("documentation", "التوثيق")}


def _changes(diff: WorkflowDiff, task: Any) -> list[Words]:
    """What differs in the task's element, in an analyst's words."""
    new = diff.alignment.get(task)
    if new is None:
        return []
    registry = serializer.registry
    old_dict, new_dict = registry.convert(task.task_spec), registry.convert(new)
    return sorted({_WORDS.get(key) or Words(key, key) for key in old_dict.keys() | new_dict.keys()
                   if key != "name" and old_dict.get(key) != new_dict.get(key)}, key=lambda w: w.en)


def _label(task: Any) -> str:
    spec = task.task_spec
    return str(spec.bpmn_id or spec.name)
