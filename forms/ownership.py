"""Every field has an owner: which top-level fields of a case's data a step may write, and who wrote each.

The rules, shared by the engine (which refuses) and the pages (which show the refusal next to the form):

* a user task with a form writes exactly the properties its form declares, whatever the schema's
  ``additionalProperties`` says, and never a property marked ``readOnly``;
* a user task without a form (a diagram drawn with another tool) writes new fields, and fields that this
  same task wrote before (an earlier round of a loop); never a field written by another task, by the diagram
  (a script or a DMN table) or at opening, and never the citizen's details;
* opening a case writes the citizen (checked apart, by engine/identity.py) and the fields of the service's
  start form (the form of the intake task a new case reaches first); nothing else;
* the citizen's details change only through the audited correction (engine/citizen_correction.py);
* the papers' fields (``documents_complete``, ``documents_missing``) are worked out by the engine at every step.

The record of owners maps each top-level field to one of: ``citizen``, ``start`` (given when the case was
opened), ``diagram`` (computed by a script, a DMN table, the case's settings or the papers) or
``task:<BPMN id>``. It is kept with the case and rebuilt by replay from the same events with the same function
(``record_after``), so the two always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

CITIZEN = "citizen"
START = "start"
DIAGRAM = "diagram"
TASK = "task:"

#: The field holding the citizen's details, written at opening and by the correction only.
CITIZEN_FIELD = "citizen"
#: What the engine puts in a case's data from its settings at opening (service.toml ``case_settings``).
SETTINGS_FIELD = "settings"
#: Written by the engine with every step of a service that lists papers (engine/checklist.py).
PAPERS_FIELDS = frozenset({"documents_complete", "documents_missing"})

#: ``(English, Arabic)`` title of a user task by its BPMN id, for "written by the step ...".
TitleOf = Callable[[str], tuple[str, str]]


def task_owner(task_name: str) -> str:
    return TASK + task_name


def form_fields(schema: Mapping[str, Any] | None) -> tuple[frozenset[str], frozenset[str]]:
    """The top-level properties a form declares: (writable, read-only)."""
    properties = (schema or {}).get("properties") or {}
    read_only = frozenset(name for name, node in properties.items() if isinstance(node, dict) and node.get("readOnly"))
    return frozenset(properties) - read_only, read_only


def _refusal(field: str, kind: str, en: str, ar: str, owner: str | None = None) -> dict[str, Any]:
    return {"loc": ["body", "data", field], "field": field, "type": f"ownership.{kind}", "owner": owner,
            "msg": f"{field}: {en}", "msg_ar": f"{field}: {ar}"}


def _reserved(field: str) -> dict[str, Any] | None:
    """The fields no step writes, with or without a form."""
    if field == CITIZEN_FIELD:
        return _refusal(field, "citizen", "the citizen's details change only by an audited correction "
                        "(front desk or supervisor, with a reason)",
                        "بيانات المواطن لا تتغير إلا بتصحيح موثّق (مكتب الاستقبال أو المشرف، مع ذكر السبب)", CITIZEN)
    if field in PAPERS_FIELDS:
        return _refusal(field, "papers", "worked out from the case's papers", "يُحسب من أوراق الطلب المرفقة",
                        DIAGRAM)
    return None


def by_owner(field: str, owner: str, title_of: TitleOf) -> dict[str, Any]:
    """The refusal of ``field``, whose recorded owner is ``owner``, to a step that does not own it."""
    reserved = _reserved(field)
    if reserved is not None:
        return reserved
    if owner == DIAGRAM:
        return _refusal(field, "diagram", "computed by the diagram", "يحسبه المخطط (نص برمجي أو جدول قرار)", owner)
    if owner == START:
        return _refusal(field, "start", "given when the case was opened", "أُدخل عند فتح الطلب", owner)
    if owner == CITIZEN:
        return _refusal(field, "citizen", "part of the citizen's details", "من بيانات المواطن", owner)
    en, ar = title_of(owner.removeprefix(TASK))
    return _refusal(field, "task", f"written by the step {en}", f"كتبته الخطوة {ar}", owner)


def with_form(schema: Mapping[str, Any] | None, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Refusals for a task with a form: fields the form does not declare, and its read-only ones."""
    writable, read_only = form_fields(schema)
    out = []
    for field in sorted(data):
        reserved = _reserved(field)
        if reserved is not None:
            out.append(reserved)
        elif field in read_only:
            out.append(_refusal(field, "read_only", "read-only in this step's form", "للقراءة فقط في نموذج هذه الخطوة"))
        elif field not in writable:
            out.append(_refusal(field, "not_in_form", "not a field of this step's form",
                                "ليس من حقول نموذج هذه الخطوة"))
    return out


def without_form(task_name: str, data: Mapping[str, Any], owners: Mapping[str, str],
                 title_of: TitleOf) -> list[dict[str, Any]]:
    """Refusals for a task without a form: every field that exists and that this task did not write."""
    mine = task_owner(task_name)
    out = []
    for field in sorted(data):
        owner = owners.get(field)
        reserved = _reserved(field)
        if reserved is not None:
            out.append(reserved)
        elif owner is not None and owner != mine:
            out.append(by_owner(field, owner, title_of))
    return out


def at_open(start_schema: Mapping[str, Any] | None, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Refusals for the data sent when opening a case: only the start form's fields (the citizen goes apart)."""
    writable, read_only = form_fields(start_schema)
    out = []
    for field in sorted(data):
        if field == CITIZEN_FIELD:
            out.append(_refusal(field, "citizen", "the citizen's details are sent as the citizen, not in the data",
                                "بيانات المواطن تُرسل في خانة المواطن لا ضمن البيانات", CITIZEN))
        elif field == SETTINGS_FIELD:
            out.append(_refusal(field, "diagram", "computed by the diagram (from the center's settings)",
                                "يحسبه المخطط (من إعدادات المركز)", DIAGRAM))
        elif field in PAPERS_FIELDS:
            out.append(_reserved(field) or {})
        elif field in read_only:
            out.append(_refusal(field, "read_only", "read-only in the service's start form",
                                "للقراءة فقط في نموذج بدء الخدمة"))
        elif field not in writable:
            out.append(_refusal(field, "not_in_start_form", "not a field of the service's start form",
                                "ليس من حقول نموذج بدء الخدمة"))
    return out


def written_by_task(task_name: str, data: Mapping[str, Any]) -> dict[str, str]:
    """Who wrote what when a user task completed with ``data`` (the papers' fields are the engine's)."""
    owner = task_owner(task_name)
    return {field: owner for field in data if field not in PAPERS_FIELDS}


def written_at_open(start_data: Mapping[str, Any]) -> dict[str, str]:
    """Who wrote what when a case opened with ``start_data`` (its settings are the diagram's)."""
    return {field: CITIZEN if field == CITIZEN_FIELD else START for field in start_data
            if field != SETTINGS_FIELD and field not in PAPERS_FIELDS}


def written_by(kind: str, task: str | None, data: Mapping[str, Any]) -> dict[str, str]:
    """Who wrote which fields, read from one audit event (kind, task, data) of a case: the command that records
    the event and replay, which reads it again, both ask this, so their records of owners cannot differ."""
    if kind == "case_opened":
        return written_at_open(data.get("data") or {})
    if kind == "task_completed" and task:
        return written_by_task(task, data.get("data") or {})
    if kind == "citizen_corrected":
        return {CITIZEN_FIELD: CITIZEN}
    return {}


def record_after(owners: Mapping[str, str], before: Mapping[str, Any], after: Mapping[str, Any],
                 written: Mapping[str, str]) -> dict[str, str]:
    """The record of owners after a step that turned the case's data ``before`` into ``after``.

    A field the step wrote belongs to its writer; any other field that is new or whose value changed was
    written by the diagram (a script, a DMN table, the engine); the rest keep their owner. A field gone from
    the data keeps its entry, so a field coming back from a parallel branch keeps its writer."""
    out = dict(owners)
    for field, value in after.items():
        who = written.get(field)
        if who is not None:
            out[field] = who
        elif field in before:
            if before[field] != value:
                out[field] = DIAGRAM
        elif field not in out:
            out[field] = DIAGRAM
    return out


def names(refusals: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(r["field"]) for r in refusals]
