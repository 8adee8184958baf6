"""(a) Bare SpiffWorkflow: the same lifecycle, serializing and restoring the workflow after every user task."""

from __future__ import annotations

import time

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from bench.workload import CITIZEN, SERVICE, approved_path


def run(cases: int) -> float:
    """Cases per second."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_files([str(p) for p in SERVICE.glob("*.bpmn")])
    parser.add_dmn_files([str(p) for p in SERVICE.glob("*.dmn")])
    spec = parser.get_spec("building_permit")
    subprocess_specs = parser.get_subprocess_specs("building_permit")
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    steps = approved_path()
    started = time.perf_counter()
    for _ in range(cases):
        workflow = BpmnWorkflow(spec, subprocess_specs)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update({"citizen": CITIZEN})
        workflow.do_engine_steps()
        for step in steps:
            task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
            assert task.task_spec.bpmn_id == step.task
            task.data.update(step.data)
            task.run()
            workflow.do_engine_steps()
            workflow = serializer.deserialize_json(serializer.serialize_json(workflow))
        assert workflow.is_completed()
    return cases / (time.perf_counter() - started)
