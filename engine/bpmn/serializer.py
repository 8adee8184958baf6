"""Serialize a case's workflow *without* its process spec.

SpiffWorkflow's serializer writes the whole spec (every task spec of the diagram) into each workflow's JSON.
A case is pinned to an immutable process version whose spec we already hold, so storing it again on every
step would be pure cost: it would dominate the size of the state and the time of a step. We keep only the
instance (task tree, data, events) and rebuild the workflow against the cached spec of its version.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.fast import ShubbakWorkflow

#: Stored beside every state; bump it and add an upgrade function when the shape below changes.
STATE_FORMAT = f"shubbak-1/spiff-{SPIFF_SERIALIZER_VERSION}"


_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
_MEMO = "_shubbak_finished_tasks"


class InstanceOnlyConverter(BpmnWorkflowConverter):
    """Converts a top-level workflow leaving out ``spec`` and ``subprocess_specs``.

    A finished task (completed or cancelled) never changes again: its state, data and times are final, and its
    children too but for new ones added under it (a pool a message starts, below). Its converted form is
    remembered on the workflow object, so a case kept warm in memory converts only the tasks that can still
    change, and a step does not cost more as the case's history grows. The save-and-restore tests compare a
    restored case's dump with the stored state after every step, and tests/engine/test_collaboration_compile.py
    this output with a fresh conversion when a message starts a pool.
    """

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        # The fields of SpiffWorkflow's WorkflowConverter.to_dict, with the task tree converted our way.
        return {
            "data": self.registry.convert(self.registry.clean(workflow.data)),
            "correlations": workflow.correlations,
            "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "tasks": self._tasks_to_dict(workflow),
            "root": str(workflow.task_tree.id),
            "subprocesses": self.mapping_to_dict(workflow.subprocesses),
            "bpmn_events": self.registry.convert(workflow.bpmn_events),
        }

    def _tasks_to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        memo: dict[UUID, Any] = workflow.__dict__.setdefault(_MEMO, {})
        out: dict[str, Any] = {}
        convert = self.registry.convert
        for task_id, task in workflow.tasks.items():
            if task.state & _FINISHED:
                found = memo.get(task_id)
                # A finished task gains a child in one case: the collaboration's start, when a message starts
                # one of its pools (SpiffWorkflow's ``trigger_wf``). Its remembered form would leave the pool's
                # task out of the stored tree, and a restored case would never run it when the pool ends.
                if found is None or len(found["children"]) != len(task._children):  # noqa: SLF001
                    found = memo[task_id] = convert(task)
                out[str(task_id)] = found
            else:
                out[str(task_id)] = convert(task)
        return out

    def restore(self, dct: dict[str, Any], spec: BpmnProcessSpec,
                subprocess_specs: dict[str, BpmnProcessSpec]) -> BpmnWorkflow:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        _reattach(workflow)
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def forget_finished(workflow: BpmnWorkflow) -> None:
    """Drop the remembered forms of finished tasks: for the rare command that rewrites their data."""
    workflow.__dict__.pop(_MEMO, None)


class StateSerializer:
    """Dump and load case states; one instance per process (it holds SpiffWorkflow's converter registry)."""

    def __init__(self) -> None:
        self._inner = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        self._converter = InstanceOnlyConverter(ShubbakWorkflow, self._inner.registry)
        self._encoder = self._inner._encoder_cls

    def dumps(self, workflow: BpmnWorkflow) -> str:
        registry = self._inner.registry
        registry._encoder_mode = True
        try:
            return json.dumps(self._converter.to_dict(workflow), cls=self._encoder, separators=(",", ":"))
        finally:
            registry._encoder_mode = False

    def loads(self, state: str, spec: BpmnProcessSpec,
              subprocess_specs: dict[str, BpmnProcessSpec]) -> BpmnWorkflow:
        return self._converter.restore(json.loads(state), spec, subprocess_specs)

    def forget_finished(self, workflow: BpmnWorkflow) -> None:
        forget_finished(workflow)

    @property
    def registry(self) -> Any:
        """SpiffWorkflow's converter registry (spec diffs for migrations compare specs through it)."""
        return self._inner.registry


serializer = StateSerializer()


def _reattach(workflow: BpmnWorkflow) -> None:
    """Put back in its parent's children a task its parent does not list: a state stored before the remembered
    forms were checked for new children (``InstanceOnlyConverter``) lost the task of a pool a message started,
    which then never ran when the pool ended."""
    tasks = workflow.tasks
    for task in tasks.values():
        parent = tasks.get(task._parent) if task._parent is not None else None  # noqa: SLF001
        if parent is not None and task.id not in parent._children:  # noqa: SLF001
            parent._children.append(task.id)  # noqa: SLF001
