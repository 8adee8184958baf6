"""The citizen's answer to a resolved complaint: reopen it (back to its department) or accept the resolution.

The diagram owns this (processes/complaint): after a complaint is resolved and the citizen informed, the case
waits on a user task in the ``citizen`` lane, ``reopen_window``, that an interrupting timer of
``settings["complaint_reopen_days"]`` days (copied into the case's data at open) closes. The citizen answers
from the public tracking page, proving who they are as for tracking (the tracking number and the phone's last
four digits, with the same throttle); the answer completes that task like any other, so the audit chain
records an ordinary ``task_completed`` and replay needs nothing new. While the window is open the citizen reads
the case as resolved (``window_end``); once the timer fired, or its time has passed, reopening is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from engine.bpmn import runner
from engine.bpmn.compiler import CompiledProcess
from engine.cases import citizen_tasks, workflows
from engine.cases.lifecycle import load_case, process_failed
from engine.catalog import processes
from engine.core import clock, tracking
from engine.core.errors import Conflict, Invalid
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people.users import CITIZEN_ACTOR, CITIZEN_LANE
from forms.validation import form_errors
from storage.models.cases import Case, Task

WINDOW_ENDED = "complaints.reopen_window_ended"
NOT_REOPENABLE = "complaints.not_reopenable"


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def waiting_task(session: Session, case_id: int, process: CompiledProcess) -> Task | None:
    """The citizen's ready task of the case, when the case waits for the citizen alone and not for a paper (a
    return, engine/cases/citizen_tasks.py, is answered by the signed-in citizen, never from the tracking page)."""
    ready = list(session.exec(select(Task).where(Task.case_id == case_id, Task.state == "ready")).all())
    if ready and all(task.lane == CITIZEN_LANE and citizen_tasks.return_fields(process, task.name) is None
                     for task in ready):
        return ready[0]
    return None


def window_end(session: Session, case: Case, process: CompiledProcess) -> datetime | None:
    """When the citizen's time to answer ends (the timer on their task), if the case waits for them now."""
    assert case.id is not None
    if case.status != "open" or waiting_task(session, case.id, process) is None:
        return None
    return _utc(case.timer_due_at)


def _refusal(session: Session, case: Case) -> Conflict:
    had_window = session.exec(select(Task.id).where(Task.case_id == case.id, Task.lane == CITIZEN_LANE)).first()
    return Conflict(WINDOW_ENDED if had_window is not None else NOT_REOPENABLE)


def answer(*, session: Session, tracking_number: str, phone_last4: str, reopen: bool, reason: str | None,
           settings: Settings, client: str | None = None) -> Case:
    """The citizen reopens the resolved complaint (``reason`` required) or accepts its resolution.

    NotFound (the tracking page's answer) for a wrong number or digits; Conflict when the case does not wait
    for the citizen (not resolved, or its time to reopen has passed); Invalid for a missing or long reason."""
    text = (reason or "").strip()
    if reopen and not text:
        raise Invalid("complaints.reason_missing", [
            problem("reason", "field.reason_required", loc=["body", "reason"], kind="missing")])
    if len(text) > settings.reopen_reason_max_chars:
        raise Invalid("complaints.reason_too_long", [
            problem("reason", "field.at_most_chars", loc=["body", "reason"], kind="too_long",
                    count=settings.reopen_reason_max_chars)])
    found = tracking.verified_case(session=session, tracking_number=tracking_number, phone_last4=phone_last4,
                                 settings=settings, client=client)
    session.expunge(found)
    assert found.id is not None
    task = waiting_task(session, found.id, processes.cache.get(session, found.process_version_id, settings))
    moment = clock.now()
    due = _utc(found.timer_due_at)
    if task is None or found.status != "open" or (due is not None and moment >= due):
        raise _refusal(session, found)
    task_id, task_name = task.id, task.name
    session.rollback()  # end the read; the command below takes the case afresh
    case = load_case(session, found.id)
    process = processes.cache.get(session, case.process_version_id, settings)
    data: dict[str, object] = {"reopen": reopen}
    if text:
        data["reopen_reason"] = text
    info = process.user_tasks.get(task_name)
    if info is not None and info.form:
        problems = form_errors(process.validator(info.form), data)
        if problems:
            raise Invalid("complaints.answer_invalid", problems)
    workflow = workflows.load(case, process, settings)
    try:
        runner.complete(workflow, task_id, data, runner.limits(settings), at=moment)
    except LookupError as exc:
        raise Conflict(WINDOW_ENDED) from exc
    except runner.ProcessFailed as exc:
        raise process_failed(exc) from exc
    workflows.save(session, case, workflow, process, actor=CITIZEN_ACTOR, settings=settings, at=moment,
                   completed=(task_id, CITIZEN_ACTOR),
                   events=[("task_completed", task_name, {"task_id": task_id, "data": data})])
    return case
