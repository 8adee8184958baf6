"""The case's diagram for the bpmn-js viewer: the version's BPMN file (the steps to mark: engine/cases/lifecycle.py
``diagram_marks``)."""

from __future__ import annotations

from engine.catalog.processes import decode_files
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
