"""Issue the documents steps owed: render, sign, store, and put the PDF's SHA-256 in the case's chain.

This runs after the step's commit, never inside it (the step only wrote a ``pending`` row: engine/cases/owed.py):
by the periodic job (``JOBS`` in engine/operations/periodic.py: the API's embedded loop, ``shubbak tick``,
Celery beat) and by whoever wants a document at once (:func:`issue_one`). For each document, in this order:

1. the analyst's template renders the body in the sandbox, Shubbak's frame goes around it (engine/outputs/pdf.py);
2. WeasyPrint makes the PDF, pyHanko signs it (engine/outputs/seal.py);
3. the signed PDF goes to the document store under a key of its own (an object is never overwritten);
4. one transaction: an ``output_issued`` event carrying the SHA-256 joins the case's chain (so ``shubbak audit
   verify`` and the ledger's seals cover it), the row becomes ``valid``, and a document it corrects becomes
   ``superseded``.

A render that fails is retried on the next rounds and marked ``failed`` after ``document_issue_attempts``
(with its reason, for the analyst); a lost race with a step of the same case is simply retried.
"""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from jinja2 import TemplateError
from sqlmodel import Session, col, select

from engine.bpmn.compiler import CompiledProcess
from engine.bpmn.service_info import Output
from engine.cases import documents, workflows
from engine.catalog import output_templates, processes
from engine.core import calendars, clock, nodes
from engine.core.errors import Conflict
from engine.core.settings import Settings
from engine.outputs import pdf, seal
from storage.db import write_lock
from storage.models.cases import Case
from storage.models.centers import Center
from storage.models.outputs import IssuedOutput

log = logging.getLogger(__name__)
ISSUED = "output_issued"
_BABEL = {"ar": "ar_EG", "en": "en_GB"}


def issue_pending(session: Session, settings: Settings) -> int:
    """Issue the oldest pending documents (``document_issue_batch`` of them); how many became valid."""
    ids = session.exec(select(IssuedOutput.id).where(IssuedOutput.status == "pending",
                                                     nodes.of_my_cases(col(IssuedOutput.case_id), settings.node_center))
                       .order_by(col(IssuedOutput.id)).limit(settings.document_issue_batch)).all()
    session.rollback()
    done = 0
    for output_id in ids:
        assert output_id is not None
        row = issue_one(session, output_id, settings)
        done += row is not None and row.status == "valid"
    return done


def issue_one(session: Session, output_id: int, settings: Settings) -> IssuedOutput | None:
    """Issue one pending document now; the row as it ends (None when it is gone)."""
    row = session.get(IssuedOutput, output_id)
    if row is None or row.status != "pending":
        return row
    case = session.get(Case, row.case_id)
    assert case is not None
    process = processes.cache.get(session, case.process_version_id, settings)
    output = next((o for o in process.service.outputs if o.kind == row.kind), None)
    moment = clock.now()
    try:
        if output is None:
            raise LookupError(f"the service no longer names an output {row.kind!r}")
        signed = make_pdf(session, case, row, process, output, moment, settings)
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError, OSError) as exc:
        return _failed(session, row, f"{type(exc).__name__}: {exc}", settings)
    digest = hashlib.sha256(signed).hexdigest()
    key = f"outputs/{case.id}/{row.number.lower()}-{secrets.token_hex(4)}"
    store = documents.store_for(settings)
    store.put(key, io.BytesIO(signed), content_type="application/pdf", size_hint=len(signed))
    try:
        _record(session, row.id, digest, key, len(signed), _masked(case.data), moment)
    except Conflict:
        store.delete(key)  # the step that won will be followed by another round: nothing half done stays
        log.info("document %s: the case moved at the same moment; retried on the next round", row.number)
        return session.get(IssuedOutput, output_id)
    return session.get(IssuedOutput, output_id)


def make_pdf(session: Session, case: Case, row: IssuedOutput, process: CompiledProcess, output: Output,
             moment: datetime, settings: Settings) -> bytes:
    """The signed PDF of ``row`` as it would be issued at ``moment``."""
    center = session.get(Center, case.center_id) if case.center_id is not None else None
    center_names = {"ar": center.name_ar, "en": center.name_en} if center else {"ar": "شبّاك", "en": "Shubbak"}
    data = case.data if isinstance(case.data, dict) else {}
    outcome = row.source.removeprefix("end:") if row.source.startswith("end:") else _task_name(row, process)
    page, body = compose(process, output, number=row.number, data=data, tracking_number=case.tracking_number,
                         center=center_names, moment=moment, outcome=outcome, supersedes=row.supersedes,
                         settings=settings)
    raw = pdf.render(page, body)
    return seal.sign(raw, settings, reason=f"{output.en} {row.number}", location=center_names["en"])


def compose(process: CompiledProcess, output: Output, *, number: str, data: dict[str, Any], tracking_number: str,
            center: dict[str, str], moment: datetime, outcome: str, settings: Settings,
            supersedes: str | None = None) -> tuple[pdf.Page, str]:
    """Shubbak's frame and the template's body of a document, before the PDF: all a render needs."""
    language = output.language
    department = output.department or process.service.agency
    department_names = department.model_dump() if department else center
    service = process.service.name.model_dump() if process.service.name else {"ar": process.service.code,
                                                                               "en": process.service.code}
    day = moment.astimezone(ZoneInfo(settings.display_timezone)).date()
    issued_on = format_date(day, "long", locale=_BABEL[language])
    issued_hijri = calendars.hijri(day, language) or ""
    title = {"ar": output.ar, "en": output.en}
    context: dict[str, Any] = {
        "citizen": data.get("citizen") or {}, "data": data,
        "case": {"tracking_number": tracking_number, "service": service},
        "document": {"number": number, "title": title, "kind": output.kind, "issued_on": issued_on,
                     "issued_on_hijri": issued_hijri, "supersedes": supersedes},
        "center": center, "department": department_names,
        "labels": output_templates.labels_for(process, data, language),
        "outcome": outcome,
    }
    body = output_templates.render(process, output, context, budget=settings.document_template_budget)
    page = pdf.Page(language=language, number=number, title=title[language], center=center[language],
                    department=department_names[language], issued_on=issued_on, issued_on_hijri=issued_hijri,
                    tracking_number=tracking_number, verify_url=verify_url(number, settings))
    return page, body


def verify_url(number: str, settings: Settings) -> str:
    return f"{settings.public_base_url}/verify/{number}"


def _task_name(row: IssuedOutput, process: CompiledProcess) -> str:
    """The element a task-issued document came from (its source is the ready task's id)."""
    output = next((o for o in process.service.outputs if o.kind == row.kind), None)
    tasks = [name for name in (output.on if output else []) if name in process.user_tasks]
    return tasks[0] if tasks else ""


def _record(session: Session, output_id: int | None, digest: str, key: str, size: int, holder: str | None,
            moment: datetime) -> None:
    """The one transaction of an issue: the event in the case's chain, the row, the document it corrects."""
    with write_lock(session):
        _record_locked(session, output_id, digest, key, size, holder, moment)


def _record_locked(session: Session, output_id: int | None, digest: str, key: str, size: int,
                   holder: str | None, moment: datetime) -> None:
    row = session.get(IssuedOutput, output_id)
    assert row is not None
    case = workflows.lock_case(session, row.case_id)
    session.refresh(row)  # read again under the case's lock: another runner may have issued it meanwhile
    if row.status != "pending":
        session.rollback()
        raise Conflict("outputs.not_valid", number=row.number, status=row.status)
    events = workflows.append_to_chain(session, case, actor="system", events=[
        (ISSUED, None, {"number": row.number, "kind": row.kind, "sha256": digest, "supersedes": row.supersedes})])
    row.status, row.sha256, row.storage_key, row.size, row.holder_masked = "valid", digest, key, size, holder
    row.issued_at, row.event_seq, row.error = moment, events[-1].seq, None
    session.add(row)
    if row.supersedes:
        old = session.exec(select(IssuedOutput).where(IssuedOutput.number == row.supersedes)).first()
        if old is not None and old.status == "valid":
            old.status, old.superseded_by, old.status_at = "superseded", row.number, moment
            session.add(old)
    workflows.commit_or_conflict(session)


def _failed(session: Session, row: IssuedOutput, reason: str, settings: Settings) -> IssuedOutput:
    log.error("document %s (%s of case %s) could not be made: %s", row.number, row.kind, row.case_id, reason)
    row.attempts += 1
    row.error = reason[:2000]
    if row.attempts >= settings.document_issue_attempts:
        row.status = "failed"
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def _masked(data: Any) -> str | None:
    """The holder's first name and the initials of the others (``محمد أ. ع.``): all the public page shows."""
    citizen = data.get("citizen") if isinstance(data, dict) else None
    name = str(citizen.get("full_name") or "").split() if isinstance(citizen, dict) else []
    if not name:
        return None
    return " ".join([name[0], *(f"{part[0]}." for part in name[1:])])[:200]
