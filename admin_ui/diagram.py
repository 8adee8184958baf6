"""The case's diagram for the bpmn-js viewer: the version's BPMN file, and which steps to mark."""

from __future__ import annotations

from sqlmodel import Session, col, select

from engine.catalog.processes import decode_files
from storage.models.cases import Case, Task
from storage.models.catalog import ProcessVersion


def bpmn_of(version: ProcessVersion) -> bytes | None:
    """The version's BPMN file that defines its process, when it carries layout (shapes) to draw."""
    files = decode_files(version.files)
    bpmn = {name: content for name, content in files.items() if name.lower().endswith(".bpmn")}
    marker = f'id="{version.process_id}"'.encode()
    for _name, content in sorted(bpmn.items(), key=lambda item: marker not in item[1]):
        if b"BPMNShape" in content:
            return content
    return None


def marks(db: Session, case: Case) -> tuple[list[str], list[str]]:
    """Element ids of the steps done (completed user tasks, and the end reached) and of the current steps."""
    rows = db.exec(select(Task.name, Task.state).where(Task.case_id == case.id).order_by(col(Task.created_at))).all()
    done = [name for name, state in rows if state == "completed"]
    current = [name for name, state in rows if state == "ready"]
    if case.outcome:
        done.append(case.outcome)
    return list(dict.fromkeys(done)), list(dict.fromkeys(current))
