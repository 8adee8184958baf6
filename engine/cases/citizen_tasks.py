"""Tasks in the citizen's own lane: which of them the citizen answers with a paper and a note (a return).

A diagram puts a user task in the ``citizen`` lane in two ways. The complaint's reopen window
(engine/cases/complaints.py) is answered from the public tracking page. A **return** (a department sent the
request back for a missing or wrong paper) is answered by the signed-in citizen with a file and a note
(engine/citizen/returns.py); its form says so by marking two of its properties: ``"x-citizen": "note"`` (a
string: the citizen's note) and ``"x-citizen": "paper"`` (an object: the paper the citizen uploaded, written by
Shubbak: its kind, document id, version, file name and SHA-256). A citizen task without both marks is no return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.bpmn.compiler import CompiledProcess
from engine.people.users import CITIZEN_LANE

MARK = "x-citizen"


@dataclass(frozen=True)
class ReturnFields:
    """The names of the return form's note and paper properties."""

    note: str
    paper: str


def return_fields(process: CompiledProcess, task_name: str) -> ReturnFields | None:
    """The note and paper properties of the task's form, when the task is a return in the citizen's lane."""
    info = process.user_tasks.get(task_name)
    if info is None or info.lane != CITIZEN_LANE or not info.form:
        return None
    schema: Any = process.forms.get(info.form) or {}
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return None
    marked = {str(node.get(MARK)): name for name, node in properties.items()
              if isinstance(node, dict) and node.get(MARK) in ("note", "paper")}
    if "note" not in marked or "paper" not in marked:
        return None
    return ReturnFields(note=marked["note"], paper=marked["paper"])
