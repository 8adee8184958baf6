"""Faster answers to the questions SpiffWorkflow asks most: which tasks are READY, and is it over?

``BpmnWorkflow.do_engine_steps`` asks ``get_tasks(state=READY)`` again after every engine task it runs, and
SpiffWorkflow answers by walking the whole task tree with a general iterator (a filter object per task, a
list rebuilt at every node); ``is_completed`` walks it too. A case returned for corrections many times has a
deep tree, so those walks are most of the cost of a step. ``ShubbakWorkflow`` answers the first with the same
walk (depth first, children in order, sub-processes entered where SpiffWorkflow enters them, nodes below
FUTURE not descended) written as a plain stack loop, and the second by looking at each task once; every other
query goes to SpiffWorkflow unchanged.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

_READY = TaskState.READY
_FUTURE = TaskState.FUTURE
_FINISHED = TaskState.FINISHED_MASK
_NOT_FINISHED = TaskState.NOT_FINISHED_MASK


class ShubbakWorkflow(BpmnWorkflow):
    completed: bool  # set by SpiffWorkflow's Workflow; declared for the type checker

    def is_completed(self) -> bool:
        # SpiffWorkflow walks the tree to the first unfinished task, past every finished one; every task of this
        # workflow is in ``self.tasks``, so looking at each once, without the walk, gives the same answer.
        if not self.completed and not any(task.state & _NOT_FINISHED for task in self.tasks.values()):
            self.completed = True
        return bool(self.completed)

    def get_tasks(self, first_task: Task | None = None, **kwargs: Any) -> list[Task]:
        if first_task is None and len(kwargs) == 1 and kwargs.get("state") == _READY:
            return ready_tasks(self)
        return list(super().get_tasks(first_task, **kwargs))


def ready_tasks(workflow: BpmnWorkflow) -> list[Task]:
    """The READY tasks, in the order SpiffWorkflow's depth-first ``BpmnTaskIterator`` gives them."""
    found: list[Task] = []
    subprocesses = workflow.top_workflow.subprocesses
    stack = [workflow.task_tree]
    while stack:
        task = stack.pop()
        state = task.state
        if state & _READY:
            found.append(task)
        subprocess = subprocesses.get(task.id)
        if subprocess is not None:
            # SpiffWorkflow does not descend into a finished sub-process when looking for unfinished tasks.
            children = task.children if state >= _FINISHED else [subprocess.task_tree, *task.children]
        elif task._children and state >= _FUTURE:
            children = task.children
        else:
            continue
        stack.extend(reversed(children))
    return found
