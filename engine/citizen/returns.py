"""A signed-in citizen answers a return: the paper a department asked for, uploaded from the phone, and a note.

A department returns a request by sending it to a user task in the ``citizen`` lane whose form marks a note and
a paper property (engine/cases/citizen_tasks.py). The citizen's answer is one upload form (``kind``, ``file``,
``note``) read by the desk's own upload (engine/cases/documents.py ``receive_form``: the same magic-byte check,
the same size limit, streamed to the store), and **one commit**: the paper's row, its ``document_uploaded``
event and the task's completion (engine/cases/tasks.py ``complete_step``: owners, the form, the workflow, the
save) go together or not at all, and a refusal removes the stored file. So a retried answer (the API's
``Idempotency-Key``) finds either nothing or everything.

Who may: only the citizen whose phone the case carries (anyone else's task is NotFound, the answer for a task
that does not exist), and only a return in the citizen's lane (a department's task of their own case is
Forbidden; the complaint's reopen window is not answered with a paper: Conflict). The audit trail names the
actor ``citizen``. The paper is a scan: where the service needs the original, the front desk records it when
the citizen brings it (engine/cases/custody.py), as for any paper scanned at the desk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from engine.bpmn.compiler import CompiledProcess
from engine.cases import citizen_tasks, documents, tasks, workflows
from engine.cases.lifecycle import Outcome, load_case
from engine.catalog import processes
from engine.core.errors import Conflict, Forbidden, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people.users import CITIZEN_ACTOR, CITIZEN_LANE, Actor
from storage.db import write_lock
from storage.documents import ObjectStore
from storage.models.cases import Case, Task

#: The citizen as the actor of their own answers (never a user: no policy is asked of it).
CITIZEN = Actor(CITIZEN_ACTOR, frozenset({CITIZEN_LANE}), "Citizen")
NOTE = "note"
_TASK_ID_CHARS = 36


def open_returns(session: Session, case: Case, process: CompiledProcess) -> list[dict[str, Any]]:
    """The returns of the case that wait for the citizen now, with the kinds of paper they may send."""
    ready = session.exec(select(Task).where(Task.case_id == case.id, Task.state == "ready",
                                            Task.lane == CITIZEN_LANE).order_by(col(Task.created_at))).all()
    kinds = [{"kind": d.kind, "ar": d.ar, "en": d.en} for d in process.service.documents]
    out = []
    for task in ready:
        if citizen_tasks.return_fields(process, task.name) is None:
            continue
        info = process.user_tasks[task.name]
        out.append({"id": task.id, "name": task.name, "title": {"ar": info.title_ar or info.title, "en": info.title},
                    "due_at": task.due_at, "kinds": kinds})
    return out


def _own_return(session: Session, settings: Settings, phone: str, task_id: str,
                national_id: str | None = None) -> tuple[Task, Case, CompiledProcess, citizen_tasks.ReturnFields]:
    task = session.get(Task, task_id) if 0 < len(task_id) <= _TASK_ID_CHARS else None
    case = session.get(Case, task.case_id) if task is not None else None
    if (task is None or case is None or case.phone != phone
            or (national_id is not None and case.national_id != national_id)):
        raise NotFound("citizen.no_task")
    if task.lane != CITIZEN_LANE:
        raise Forbidden("citizen.not_your_step")
    process = processes.cache.get(session, case.process_version_id, settings)
    fields = citizen_tasks.return_fields(process, task.name)
    if fields is None:
        raise Conflict("citizen.not_a_return")
    if task.state != "ready" or case.status != "open":
        raise Conflict("citizen.return_answered")
    return task, case, process, fields


def _note(text: str, settings: Settings) -> str:
    note = text.strip()
    if len(note) > settings.citizen_note_max_chars:
        raise Invalid("citizen.note_too_long", [problem(NOTE, "field.at_most_chars", loc=["body", NOTE],
                                                        kind="too_long", count=settings.citizen_note_max_chars)])
    return note


def answer(*, session: Session, settings: Settings, store: ObjectStore, phone: str, task_id: str,
           parts: Iterable[documents.FormPart], size_hint: int | None = None,
           national_id: str | None = None) -> Outcome:
    """Complete the citizen's return with the uploaded paper and the note; one commit (see the module). With the
    national ID the citizen added to their session, a case carrying another ID is NotFound as well."""
    task, case, process, fields = _own_return(session, settings, phone, task_id, national_id)
    assert case.id is not None
    case_id = case.id
    session.rollback()  # end the read: the file may take minutes to arrive
    # A character is at most 4 bytes of UTF-8: the form's field is cut there, the note counted in characters.
    with documents.receive_form(store=store, settings=settings, case_id=case_id, parts=parts,
                                kinds=documents.kinds_of(process), size_hint=size_hint,
                                fields={NOTE: settings.citizen_note_max_chars * 4}) as form:
        note = _note(form.fields.get(NOTE, ""), settings)
        with write_lock(session):
            try:
                workflows.lock_case(session, case_id)
                case = load_case(session, case_id)
                task = session.get(Task, task_id) or task
                if task.state != "ready" or case.status != "open":
                    raise Conflict("citizen.return_answered")
                doc, uploaded = documents.add_document(session, case_id, CITIZEN_ACTOR, form.kind, form.file)
                data: dict[str, Any] = {fields.paper: {
                    "kind": doc.kind, "document_id": doc.id, "version": doc.version, "filename": doc.filename,
                    "sha256": doc.sha256}}
                if note:
                    data[fields.note] = note
                return tasks.complete_step(session=session, step=tasks.Step(task, case, process), data=data,
                                           actor=CITIZEN, settings=settings, before=[uploaded])
            except BaseException:
                session.rollback()
                raise
