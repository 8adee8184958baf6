"""Staff's side of a case's documents: the list, the PDF, revocation and correction.

Reading follows the case (``output.read``: who may read the case, and the front desk that hands the paper
over). Revoking and correcting are a supervisor's of the issuing center (``output.revoke``): one of another
center is refused even when their role would allow it. Each is an event in the case's chain, and the citizen
is told of a revocation through the outbox, in the same transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from sqlmodel import Session, col, select

from engine.bpmn.compiler import CompiledProcess
from engine.cases import documents, workflows
from engine.cases.owed import new_number
from engine.core import clock
from engine.core.errors import Conflict, Corrupted, Invalid, NotFound
from engine.core.settings import Settings
from engine.messages import outbox, templates
from engine.outputs import pdf, seal
from engine.people import policy
from engine.people.users import Actor
from storage.db import write_lock
from storage.documents import ObjectMissing
from storage.models.cases import Case
from storage.models.outputs import IssuedOutput

REVOKED = "output_revoked"
PRINTED = "output_printed"
CORRECTION = "output_correction_ordered"
_NOTICE = {
    "ar": "شبّاك: تم إلغاء المستند رقم {number} الصادر في طلبكم {tracking_number}. السبب: {reason}",
    "en": "Shubbak: document {number} issued on your request {tracking_number} was revoked. Reason: {reason}",
}


def view(row: IssuedOutput) -> dict[str, Any]:
    return {"number": row.number, "kind": row.kind, "status": row.status, "sha256": row.sha256,
            "issued_at": row.issued_at, "status_at": row.status_at, "supersedes": row.supersedes,
            "superseded_by": row.superseded_by, "revoke_reason": row.revoke_reason, "prints": row.prints}


def of_case(*, session: Session, case_id: int, actor: Actor, settings: Settings) -> list[dict[str, Any]]:
    """The documents of a case, oldest first (pending and failed ones too: staff see what is owed)."""
    case = _case(session, case_id)
    policy.check_case(session, actor, "case.outputs", case, settings)
    rows = session.exec(select(IssuedOutput).where(IssuedOutput.case_id == case_id)
                        .order_by(col(IssuedOutput.id))).all()
    return [view(row) for row in rows]


def for_page(session: Session, case: Case, process: CompiledProcess, language: str) -> list[dict[str, Any]]:
    """The case's documents as a page lists them (the caller already may read the case); no query at all for a
    service that issues none."""
    if not process.service.outputs:
        return []
    titles = {o.kind: o.ar if language == "ar" else o.en for o in process.service.outputs}
    rows = session.exec(select(IssuedOutput).where(IssuedOutput.case_id == case.id)
                        .order_by(col(IssuedOutput.id))).all()
    return [{**view(row), "title": titles.get(row.kind, row.kind)} for row in rows]


def _case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("case.not_found", case_id=case_id)
    return case


def _output(session: Session, number: str) -> IssuedOutput:
    row = session.exec(select(IssuedOutput).where(IssuedOutput.number == number.strip().upper())).first()
    if row is None:
        raise NotFound("outputs.not_found")
    return row


def pdf_of(*, session: Session, number: str, actor: Actor, settings: Settings) -> tuple[IssuedOutput, bytes]:
    """The stored PDF of an issued document, checked against its recorded SHA-256 (Corrupted otherwise)."""
    row = _output(session, number)
    policy.check_case(session, actor, "output.read", _case(session, row.case_id), settings)
    if row.storage_key is None or row.sha256 is None:
        raise Conflict("outputs.not_issued_yet", number=row.number, status=row.status)
    try:
        download = documents.store_for(settings).open(row.storage_key)
    except ObjectMissing as exc:
        node = session.execute(select(col(Case.node)).where(col(Case.id) == row.case_id)).scalar()
        if settings.node_role == "central" and node is not None:
            # Issued at a center node: its row came by replication, its PDF comes by the node's copy
            # (engine/operations/node_copy.py), later. Not there yet is not damage.
            raise Conflict("documents.not_copied_yet", center=node) from exc
        raise Corrupted("outputs.stored_file_missing", number=row.number) from exc
    try:
        content = b"".join(download)
    finally:
        download.close()
    if hashlib.sha256(content).hexdigest() != row.sha256:
        raise Corrupted("outputs.stored_file_altered", number=row.number)
    return row, content


def print_copy(*, session: Session, number: str, actor: Actor, settings: Settings) -> tuple[IssuedOutput, bytes]:
    """A printed copy of a valid document: numbered (1 for the first print, then reprints) and audited as an
    ``output_printed`` event of the case's chain, then the PDF to print: the issued PDF, unchanged, with the
    mark "print N of document NUMBER" over each page added after it and signed again (``seal.overlay``), so
    the paper says which print it is and a reader still shows the signature intact. The stored document is
    never changed; its recorded SHA-256 stays the issued file's."""
    row, content = pdf_of(session=session, number=number, actor=actor, settings=settings)
    if row.status != "valid":
        raise Conflict("outputs.not_printable", number=row.number, status=row.status)
    with write_lock(session):
        case = workflows.lock_case(session, row.case_id)
        session.refresh(row)
        row.prints += 1
        workflows.append_to_chain(session, case, actor=actor.username, events=[
            (PRINTED, None, {"number": row.number, "copy": row.prints, "sha256": row.sha256})])
        session.add(row)
        workflows.commit_or_conflict(session)
    session.refresh(row)
    marked = seal.overlay(content, pdf.print_mark(row.number, row.prints))
    return row, seal.sign(marked, settings, reason=f"Print {row.prints} of document {row.number}",
                          location="Shubbak", field=f"{seal.FIELD}-print-{row.prints}")


def chunks(content: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(content), size):
        yield content[start:start + size]


def _reason(reason: str) -> str:
    text = " ".join(reason.split())
    if len(text) < 5 or len(text) > 500:
        raise Invalid("outputs.reason_length", minimum=5, maximum=500)
    return text


def revoke(*, session: Session, number: str, reason: str, actor: Actor, settings: Settings) -> dict[str, Any]:
    """Revoke a valid document: the event, the row and the citizen's message in one commit."""
    text = _reason(reason)
    row = _output(session, number)
    policy.require(actor, "output.revoke", settings)
    policy.require_center(session, actor, row.center_id)  # a supervisor of the issuing center (or above it)
    if row.status != "valid":
        raise Conflict("outputs.not_valid", number=row.number, status=row.status)
    moment = clock.now()
    with write_lock(session):
        case = workflows.lock_case(session, row.case_id)
        events = workflows.append_to_chain(session, case, actor=actor.username, events=[
            (REVOKED, None, {"number": row.number, "kind": row.kind, "sha256": row.sha256, "reason": text})])
        row = _output(session, number)  # read again in the transaction: a concurrent revocation loses here
        if row.status != "valid":
            session.rollback()
            raise Conflict("outputs.not_valid", number=row.number, status=row.status)
        row.status, row.status_at, row.revoked_by, row.revoke_reason = "revoked", moment, actor.username, text
        session.add(row)
        data = _case(session, row.case_id).data
        citizen = data.get("citizen") if isinstance(data, dict) else None
        language = templates.language_of(citizen)
        email = citizen.get("email") if isinstance(citizen, dict) else None
        outbox.write_text(session.connection(), case=case, event_seq=events[-1].seq, stage="document_revoked",
                            ref=row.number, language=language, subject=None, email=str(email) if email else None,
                            body=_NOTICE[language].format(number=row.number, tracking_number=case.tracking_number,
                                                          reason=text),
                            at=moment, settings=settings)
        workflows.commit_or_conflict(session)
    session.refresh(row)
    return view(row)


def correct(*, session: Session, number: str, reason: str, actor: Actor, settings: Settings) -> dict[str, Any]:
    """Order a corrected copy of a valid document: a new pending document that supersedes it once issued
    (from the case's data as it is now: correct the data first). The old PDF is kept, never overwritten."""
    text = _reason(reason)
    row = _output(session, number)
    policy.require(actor, "output.revoke", settings)
    policy.require_center(session, actor, row.center_id)
    if row.status != "valid":
        raise Conflict("outputs.not_valid", number=row.number, status=row.status)
    moment = clock.now()
    with write_lock(session):
        case = workflows.lock_case(session, row.case_id)
        new = IssuedOutput(number=new_number(moment.year, case.tracking_number), case_id=row.case_id,
                           center_id=row.center_id, service_code=row.service_code, kind=row.kind,
                           source=f"supersedes:{row.number}", supersedes=row.number, created_at=moment)
        workflows.append_to_chain(session, case, actor=actor.username, events=[
            (CORRECTION, None, {"number": row.number, "new_number": new.number, "reason": text})])
        session.add(new)
        workflows.commit_or_conflict(session)
    session.refresh(new)
    return view(new)
