"""What the front desk needs before a case exists: the services a clerk may open, the first form to fill,
and a dry run that shows the fee the diagram will charge without writing anything.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from engine.bpmn import runner
from engine.bpmn.compiler import CompiledProcess, UserTaskInfo
from engine.cases.lifecycle import process_failed
from engine.catalog import processes
from engine.core import chain as audit
from engine.core.errors import Invalid
from engine.core.settings import Settings
from engine.people import policy
from engine.people.identity import check_citizen
from engine.people.users import Actor
from forms import ownership
from forms.validation import checked


def may_open(actor: Actor, start_lanes: set[str] | frozenset[str], settings: Settings) -> bool:
    """The policy's ``case.open`` (engine/people/policy.py): holders of the lanes a new case reaches first, admins."""
    return policy.may(actor, "case.open", settings, lanes=start_lanes)


def catalog(session: Session, actor: Actor, settings: Settings) -> list[dict[str, Any]]:
    """The live services this actor may open, as ``processes.list_services`` describes them."""
    latest = {}
    for row in processes.list_versions(session):
        if not row.retired:
            latest[row.service_code] = row
    return [processes.service_summary(row) for row in latest.values()
            if may_open(actor, set(row.meta.get("start_lanes", [])), settings)]


def intake_tasks(process: CompiledProcess) -> list[UserTaskInfo]:
    """The user tasks a new case reaches before any other: the intake the clerk fills at the window."""
    return [process.user_tasks[name] for name in sorted(process.intake_tasks) if name in process.user_tasks]


def intake_form(process: CompiledProcess) -> tuple[UserTaskInfo | None, dict[str, Any] | None]:
    """The intake task with a form (the first, by name, when a diagram has several) and its schema."""
    for task in intake_tasks(process):
        if task.form:
            return task, process.forms[task.form]
    return None, None


def check_intake(process: CompiledProcess, data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``data`` as the intake form stores it, and its problems: the fields it may not write
    (forms/ownership.py), then the form's own (``forms.validation.checked``)."""
    task, schema = intake_form(process)
    if task is None or task.form is None:
        return data, ownership.with_form(None, data)
    refused = ownership.with_form(schema, data)
    if refused:
        return data, refused
    return checked(process.validator(task.form), data)


def preview(*, session: Session, service_code: str, citizen: dict[str, Any], data: dict[str, Any],
            actor: Actor, settings: Settings) -> dict[str, Any]:
    """Run the start of a case in memory only, completing its intake with ``data``: the case data it would
    have after registration (the fee worked out by the diagram's decision table, for one). Nothing is stored."""
    version = processes.latest_version(session, service_code)
    assert version.id is not None
    process = processes.cache.get(session, version.id, settings)
    policy.require(actor, "case.open", settings, lanes=process.start_lanes)
    return run_intake(process=process, citizen=citizen, data=data, settings=settings)


def run_intake(*, process: CompiledProcess, citizen: dict[str, Any], data: dict[str, Any],
               settings: Settings) -> dict[str, Any]:
    """:func:`preview` once the caller decided who may: the case data after the intake, in memory only."""
    person = check_citizen(citizen, settings)
    data, problems = check_intake(process, data)
    if problems:
        raise Invalid("form.has_errors", problems)
    task, _schema = intake_form(process)
    limits = runner.limits(settings)
    try:
        workflow = runner.start(process, {"citizen": person.model_dump(exclude_none=True)}, limits)
        ready = [t for t in runner.scan(workflow).ready if task is not None and t.name == task.name]
        if ready:
            runner.complete(workflow, ready[0].id, data, limits)
    except runner.ProcessFailed as exc:
        raise process_failed(exc) from exc
    result: dict[str, Any] = audit.canonical(runner.case_data(workflow))
    return result
