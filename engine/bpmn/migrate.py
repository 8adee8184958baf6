"""Move a running workflow onto another version of its process: SpiffWorkflow's spec diff and migration.

There is no migration command yet. When there is one, it must move a case with :func:`migrate` and record a
``case_migrated`` event (``{"from_version", "to_version", "to_sha256"}``): replay (engine/replay.py) calls
this same function at that event, which is what lets a migrated case replay across versions.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from engine.bpmn.compiler import CompiledProcess
from engine.bpmn.serializer import serializer


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
