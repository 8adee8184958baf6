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

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

#: Stored beside every state; bump it and add an upgrade function when the shape below changes.
STATE_FORMAT = f"shubbak-1/spiff-{SPIFF_SERIALIZER_VERSION}"


class InstanceOnlyConverter(BpmnWorkflowConverter):
    """Converts a top-level workflow leaving out ``spec`` and ``subprocess_specs``."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def restore(self, dct: dict[str, Any], spec: BpmnProcessSpec,
                subprocess_specs: dict[str, BpmnProcessSpec]) -> BpmnWorkflow:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class StateSerializer:
    """Dump and load case states; one instance per process (it holds SpiffWorkflow's converter registry)."""

    def __init__(self) -> None:
        self._inner = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        self._converter = InstanceOnlyConverter(BpmnWorkflow, self._inner.registry)
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

    def full_dumps(self, workflow: BpmnWorkflow) -> str:
        """SpiffWorkflow's own format, spec included: what bare SpiffWorkflow would store (benchmarks)."""
        return self._inner.serialize_json(workflow)

    def full_loads(self, state: str) -> BpmnWorkflow:
        return self._inner.deserialize_json(state)


serializer = StateSerializer()
