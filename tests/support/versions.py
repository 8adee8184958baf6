"""A second version of the audit_case service, for the tests of versions and migrations."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.api import Api
from tests.support.audit import SERVICE


def second_version(api: Api, tmp_path: Path) -> Path:
    """audit_case v2: an approved request is double-checked by the reviewer before it is handed over."""
    folder = tmp_path / "audit_case_v2"
    shutil.copytree(SERVICE, folder)
    bpmn = folder / "audit_case.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    text = text.replace('<bpmn:flowNodeRef>decision</bpmn:flowNodeRef>',
                        '<bpmn:flowNodeRef>decision</bpmn:flowNodeRef>\n<bpmn:flowNodeRef>double_check'
                        '</bpmn:flowNodeRef>')
    text = text.replace('sourceRef="decision" targetRef="hand_over"', 'sourceRef="decision" targetRef="double_check"')
    text = text.replace('<bpmn:userTask id="hand_over" name="Hand over">',
                        '<bpmn:userTask id="double_check" name="Double-check"><bpmn:incoming>f_approve'
                        '</bpmn:incoming><bpmn:outgoing>f_checked</bpmn:outgoing></bpmn:userTask>\n'
                        '<bpmn:sequenceFlow id="f_checked" sourceRef="double_check" targetRef="hand_over" />\n'
                        '<bpmn:userTask id="hand_over" name="Hand over">')
    text = text.replace("<bpmn:incoming>f_approve</bpmn:incoming>\n      <bpmn:outgoing>f_handed",
                        "<bpmn:incoming>f_checked</bpmn:incoming>\n      <bpmn:outgoing>f_handed")
    # The review gets a new title on v2: a step not yet done may change, and its inbox row follows.
    text = text.replace('<bpmn:userTask id="review" name="Review request">',
                        '<bpmn:userTask id="review" name="Review the request">')
    bpmn.write_text(text, encoding="utf-8")
    r = api.deploy(folder, api.user("analyst"))
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    return folder
