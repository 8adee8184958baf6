"""The engine's side of "every field has an owner" (forms/ownership.py holds the rules): who may write what
when a case opens and when a user task completes, refused as one Invalid naming each field and why.

The record of owners lives in the case row (``case_file.owners``), written by ``workflows.save`` in the step's
own UPDATE: no extra statement on the hot path. A case opened before the record was kept has none; its owners
are worked out from its audit trail by replay when a task without a form needs them, and it gets no record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from engine.bpmn.compiler import CompiledProcess
from engine.errors import Invalid
from engine.refusals import Words, say
from engine.settings import Settings
from forms import ownership
from storage.models import Case


def start_schema(process: CompiledProcess) -> dict[str, Any] | None:
    """The service's start form: that of the intake task a new case reaches first (by name, when several)."""
    for name in sorted(process.intake_tasks):
        info = process.user_tasks.get(name)
        if info is not None and info.form:
            return process.forms[info.form]
    return None


def title_of(process: CompiledProcess) -> ownership.TitleOf:
    def title(name: str) -> tuple[str, str]:
        info = process.user_tasks.get(name)
        if info is None:  # a step of an earlier version of the service
            return name, name
        return info.title, info.title_ar or info.title
    return title


def refuse(refusals: list[dict[str, Any]], who: str = "ownership.who.this_step") -> None:
    """One Invalid naming each refused field and why; ``who`` is a message id (``ownership.who.*``)."""
    if refusals:
        raise Invalid("ownership.may_not_write", refusals, who=say(who), fields=Words(
            en="; ".join(str(r["msg"]) for r in refusals),
            ar="؛ ".join(str(r.get("msg_ar") or r["msg"]) for r in refusals)))


def check_open(process: CompiledProcess, data: Mapping[str, Any]) -> None:
    refuse(ownership.at_open(start_schema(process), data), "ownership.who.opening_a_case")


def check_task(session: Session, case: Case, process: CompiledProcess, task_name: str, data: Mapping[str, Any],
               settings: Settings) -> None:
    """Invalid when the task ``task_name`` may not write some field of ``data`` (nothing is written then)."""
    info = process.user_tasks.get(task_name)
    if info is not None and info.form:
        refuse(ownership.with_form(process.forms[info.form], data))
        return
    if not data:
        return
    refuse(ownership.without_form(task_name, data, current(session, case, settings), title_of(process)))


def current(session: Session, case: Case, settings: Settings) -> dict[str, str]:
    """The case's record of owners; worked out from its trail for a case opened before records were kept."""
    if case.owners is not None:
        return case.owners
    from engine import replay  # imported here: replay reads cases through engine.workflows, which saves owners

    assert case.id is not None
    return replay.owners_of(session=session, case_id=case.id, settings=settings)
