"""Keep a case's task tree short: drop the finished iterations far behind where the case stands.

SpiffWorkflow keeps every task instance a case ever had: a case returned for corrections 100 times carries
100 finished copies of the review loop, and every step walks them (``do_engine_steps``), converts them (the
state) and restores them (a cold step). The case's history does not live there: the audit events hold every
step with its data (replay re-runs them), and the case's data is in its current tasks.

``prune`` finds the nearest task above every unfinished task (and above the last task run, whose data is the
case's data), walks ``keep`` finished tasks further up, and cuts the tree there: those ancestors and everything
hanging off them (finished dead ends: a cancelled boundary event, a finished boundary join) go, and the root
task adopts the oldest task kept. What is kept depends only on the tasks near the frontier, never on when it
was pruned before, so the live case and its replay (which runs the same steps through the same runner) end
with the same tree.

It does nothing to a finished workflow (its tree is what the history pages and the end event read), nor when
a task to drop is a parallel or inclusive join (SpiffWorkflow merges data from earlier joins it finds anywhere
in the tree: dropping them could change a result). Sub-process trees are left as they are.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

_FINISHED = TaskState.FINISHED_MASK
_MEMO = "_shubbak_finished_tasks"  # engine/bpmn/serializer.py: converted finished tasks


def prune(workflow: BpmnWorkflow, keep: int) -> int:
    """Drop finished tasks more than ``keep`` tasks above the frontier; returns how many went (0 when
    ``keep`` <= 0: pruning off)."""
    if keep <= 0 or workflow.completed:
        return 0
    root: Task = workflow.task_tree
    frontier = [t for t in workflow.tasks.values() if not t.state & _FINISHED]
    if not frontier:
        return 0
    if workflow.last_task is not None and workflow.last_task.workflow is workflow:
        frontier.append(workflow.last_task)
    lowest = _lowest_common_ancestor(frontier)
    if lowest is None or lowest is root:
        return 0
    # Walk ``keep`` tasks up from the frontier's common ancestor: the oldest task kept.
    oldest: Task = lowest
    for _ in range(keep):
        parent = oldest.parent
        if parent is None or parent is root:
            return 0
        oldest = parent
    cut = oldest.parent
    if cut is None or cut is root:
        return 0
    # Everything between the root and ``oldest``: the chain and what hangs off it (all finished).
    doomed: list[Task] = []
    node: Task | None = cut
    path: list[Task] = []
    while node is not None and node.id != root.id:
        path.append(node)
        node = node.parent
    if node is None:  # not under the root: leave such a tree alone
        return 0
    keep_child = oldest
    for task in path:
        for child in task.children:
            if child is not None and child is not keep_child:
                doomed.extend(_subtree(child))
        doomed.append(task)
        keep_child = task
    if any(not t.state & _FINISHED or isinstance(t.task_spec, UnstructuredJoin) for t in doomed):
        return 0
    # One witness per (element, state) ever dropped: the oldest, a finished leaf under the root. Migration
    # checks what a case already did against the new diagram (engine/bpmn/migrate.py), and the history pages
    # mark what was done: both still see every element the case went through.
    top = path[-1]
    witnesses: list[Task] = [c for c in root.children if c is not None and c is not top]
    seen = {_key(w) for w in witnesses}
    for task in sorted(doomed, key=lambda t: t.depth):
        key = _key(task)
        if key not in seen:
            seen.add(key)
            witnesses.append(task)
    kept = {w.id for w in witnesses}
    memo: dict[UUID, Any] = workflow.__dict__.get(_MEMO, {})
    subprocesses = workflow.top_workflow.subprocesses
    dropped = 0
    for task in doomed:
        if task.id in kept:
            continue
        dropped += 1
        workflow.tasks.pop(task.id, None)
        memo.pop(task.id, None)
        _drop_subprocess(subprocesses, task.id)
    for witness in witnesses:
        if witness._children or witness._parent != root.id:
            witness._children = []
            witness._parent = root.id
            memo.pop(witness.id, None)  # its converted form names its old parent and children
    root._children = [oldest.id, *(w.id for w in witnesses)]
    memo.pop(root.id, None)
    oldest._parent = root.id
    memo.pop(oldest.id, None)
    return dropped


def _key(task: Task) -> tuple[str, int]:
    return (str(task.task_spec.name), int(task.state))


def _lowest_common_ancestor(tasks: list[Task]) -> Task | None:
    """The deepest task above (or equal to) every one of ``tasks``: one walk to the root from the first, then
    each other walks up only until it meets that path."""
    tasks_of = tasks[0].workflow.tasks
    path: list[UUID] = []
    node_id: UUID | None = tasks[0].id
    while node_id is not None:
        path.append(node_id)
        node_id = tasks_of[node_id]._parent
    where = {task_id: i for i, task_id in enumerate(path)}  # 0 is the first task, the end is the root
    highest = 0
    for task in tasks[1:]:
        node_id = task.id
        while node_id is not None and node_id not in where:
            node_id = tasks_of[node_id]._parent
        if node_id is None:
            return None
        highest = max(highest, where[node_id])
    return tasks_of[path[highest]]


def _subtree(task: Task) -> list[Task]:
    out, stack = [], [task]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out


def _drop_subprocess(subprocesses: dict[UUID, Any], task_id: UUID) -> None:
    """A dropped call activity's finished sub-workflow goes too, with the ones it called."""
    sub = subprocesses.pop(task_id, None)
    if sub is None:
        return
    for inner in list(sub.tasks):
        _drop_subprocess(subprocesses, inner)
