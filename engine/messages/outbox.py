"""Write the messages a case's step calls for into the outbox, inside the step's transaction.

``write_messages`` is a hook of engine/cases/hooks.py: it runs after ``workflows.save`` inserted the events and
before the commit, so a message exists exactly when its event does. It sends nothing (engine/messages/send.py
does, later, outside any request).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection

from engine.core import tracking
from engine.core.settings import Settings
from engine.messages import stages, templates
from storage.models.base import table
from storage.models.messages import OutboxMessage

if TYPE_CHECKING:  # pragma: no cover
    from engine.bpmn.compiler import CompiledProcess
    from engine.cases.hooks import Written
    from storage.models.audit import AuditEvent
    from storage.models.cases import Case

#: The lane of the citizen's own steps (a mirror of engine.people.users.CITIZEN_LANE, which sits above this package).
CITIZEN_LANE = "citizen"
_OUTBOX = table(OutboxMessage)
_INSERT = insert(_OUTBOX)


def idempotency_key(case_id: int, seq: int, stage: str, channel: str, ref: str | None) -> str:
    """The same message always gets the same key: retries and restarted workers send it under it."""
    return hashlib.sha256(f"{case_id}:{seq}:{stage}:{channel}:{ref or ''}".encode()).hexdigest()


def write_messages(written: Written) -> None:
    """The hook: one outbox row per stage reached and channel the citizen can be reached on."""
    process, settings = written.process, written.settings
    if process is None or settings is None or not written.events:
        return  # only a step of the workflow (workflows.save) reaches a stage
    corrections = [ev for ev in written.events if ev.kind == CORRECTED]
    if corrections:
        _write_correction(written, corrections[-1], process, settings)
        return
    quiet = {settings.front_desk_role, *settings.message_silent_lanes}
    found = stages.reached(written, process, quiet)
    if not found:
        return
    case = written.case
    if any(r.stage in stages.READY_STAGES for r in found):
        sent_before = _sent_refs(written.conn, case)
        found = [r for r in found if r.stage not in stages.READY_STAGES or (r.stage, r.ref) not in sent_before]
    data = written.values.get("data") or {}
    citizen = data.get("citizen") if isinstance(data, dict) else None
    language = templates.language_of(citizen)
    channels = [("sms", case.phone)]
    email = citizen.get("email") if isinstance(citizen, dict) else None
    if settings.email_gateway and email:
        channels.append(("email", str(email)))
    # Returns waiting in the citizen's own lane are answered from the phone: their message says where.
    online = {t.id for t in written.ready or []
              if (info := process.user_tasks.get(t.name)) is not None and info.lane == CITIZEN_LANE}
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str | None]] = set()
    for r in found:
        if (r.stage, r.ref) in seen:
            continue
        seen.add((r.stage, r.ref))
        text = templates.render(r.stage, language, _params(r, case, data, process, language, written.at, settings,
                                                           online=r.ref in online), process.service.messages)
        for channel, recipient in channels:
            assert case.id is not None
            rows.append({"case_id": case.id, "event_seq": r.seq, "stage": r.stage, "ref": r.ref,
                         "channel": channel, "recipient": recipient, "language": language,
                         "subject": text.subject if channel == "email" else None, "body": text.body,
                         "idempotency_key": idempotency_key(case.id, r.seq, r.stage, channel, r.ref),
                         "status": "pending", "attempts": 0, "next_attempt_at": written.at, "lease_until": None,
                         "last_error": None, "gateway": None, "gateway_ref": None, "created_at": written.at,
                         "sent_at": None})
    if rows:
        written.conn.execute(_INSERT, rows)


#: The audit event of a correction of the citizen's contact details (engine/cases/citizen_correction.py).
CORRECTED = "citizen_corrected"
#: Its message: not a stage of the service (a service can neither reword nor silence it).
CORRECTED_STAGE = "contact_corrected"


def _write_correction(written: Written, event: AuditEvent, process: CompiledProcess, settings: Settings) -> None:
    """The citizen hears of the correction on the phone (and e-mail) they had and on the new one."""
    before, after = event.data.get("before") or {}, event.data.get("after") or {}
    language = templates.language_of(after)
    # (channel, recipient) -> "old" or "new": the ref of the row; a detail that did not change is told once.
    channels: dict[tuple[str, str], str] = {}
    for side, details in (("old", before), ("new", after)):
        if details.get("phone"):
            channels.setdefault(("sms", str(details["phone"])), side)
        if settings.email_gateway and details.get("email"):
            channels.setdefault(("email", str(details["email"])), side)
    case = written.case
    assert case.id is not None
    text = templates.render(CORRECTED_STAGE, language,
                            _params(stages.Reached(CORRECTED_STAGE, event.seq), case, {}, process, language,
                                    written.at, settings), process.service.messages)
    rows = []
    for (channel, recipient), side in channels.items():
        rows.append({"case_id": case.id, "event_seq": event.seq, "stage": CORRECTED_STAGE, "ref": side,
                     "channel": channel, "recipient": recipient, "language": language,
                     "subject": text.subject if channel == "email" else None, "body": text.body,
                     "idempotency_key": idempotency_key(case.id, event.seq, CORRECTED_STAGE, channel, side),
                     "status": "pending", "attempts": 0, "next_attempt_at": written.at, "lease_until": None,
                     "last_error": None, "gateway": None, "gateway_ref": None, "created_at": written.at,
                     "sent_at": None})
    written.conn.execute(_INSERT, rows)


def write_notice(conn: Connection, *, case: Case, event_seq: int, stage: str, params: dict[str, str],
                 process: CompiledProcess, settings: Settings, at: datetime) -> None:
    """A message that is no stage of the service (a refund approved: engine/payments/refunds.py), for the
    event ``event_seq`` of the case's chain, in the caller's transaction; ``params`` fill its template. A
    stage the service's ``[messages] off`` names is not sent."""
    if stage in process.service.messages.off:
        return
    data = case.data if isinstance(case.data, dict) else {}
    citizen = data.get("citizen")
    language = templates.language_of(citizen)
    text = templates.render(stage, language, {**_params(stages.Reached(stage, event_seq), case, data, process,
                                                        language, at, settings), **params},
                            process.service.messages)
    email = citizen.get("email") if isinstance(citizen, dict) else None
    write_text(conn, case=case, event_seq=event_seq, stage=stage, ref=None, language=language, body=text.body,
               subject=text.subject, email=str(email) if email else None, at=at, settings=settings)


# Built once, with a parameter: building the statement costs more than running it on a step's path.
_SENT_REFS = select(_OUTBOX.c.stage, _OUTBOX.c.ref).where(_OUTBOX.c.case_id == bindparam("case_id")).distinct()


def _sent_refs(conn: Connection, case: Case) -> set[tuple[str, str | None]]:
    return {(stage, ref) for stage, ref in conn.execute(_SENT_REFS, {"case_id": case.id})}


def _params(r: stages.Reached, case: Case, data: dict[str, Any], process: CompiledProcess, language: str,
            at: datetime, settings: Settings, *, online: bool = False) -> dict[str, str]:
    service = process.service
    params = {
        "tracking_number": case.tracking_number,
        "service": getattr(service.name, language) if service.name else service.code,
        "department": templates.department_name(r.ref or "", language, service.messages)
        if r.stage == "department" else "",
        "at": at.astimezone(ZoneInfo(settings.display_timezone)).strftime("%Y-%m-%d %H:%M"),
        # A fee billed at the cash desk later (the diagram waits for payment_received) is not paid yet when the
        # request is received: the message says only that it was received.
        "fee": "" if process.takes_payment and r.stage == "received" else _amount(data.get("fee")),
        "currency": service.fee.currency if service.fee else "",
    }
    params.update(r.params)  # a money notice's own amount, currency, bill and receipt
    if r.stage == "returned" and online:
        params["citizen_url"] = f"{settings.public_base_url}/citizen"
    if r.stage == "completed":
        params["rating_url"] = settings.public_base_url + tracking.rating_path(case.tracking_number, settings)
    return params


def _amount(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value else ""


def for_case(conn: Connection, case_id: int) -> list[Any]:
    """The case's messages, oldest first (rows with OutboxMessage's columns)."""
    query = select(_OUTBOX).where(_OUTBOX.c.case_id == case_id).order_by(_OUTBOX.c.id)
    return list(conn.execute(query).all())


def write_text(conn: Connection, *, case: Case, event_seq: int, stage: str, ref: str | None, language: str,
               body: str, subject: str | None, email: str | None, at: datetime, settings: Settings) -> None:
    """One message that is no stage of the service (a document revoked: engine/outputs/manage.py), on the
    case's phone and e-mail, in the caller's transaction, beside the event ``event_seq`` that calls for it."""
    assert case.id is not None
    channels = [("sms", case.phone)] + ([("email", email)] if settings.email_gateway and email else [])
    conn.execute(_INSERT, [
        {"case_id": case.id, "event_seq": event_seq, "stage": stage, "ref": ref, "channel": channel,
         "recipient": recipient, "language": language, "subject": subject if channel == "email" else None,
         "body": body, "idempotency_key": idempotency_key(case.id, event_seq, stage, channel, ref),
         "status": "pending", "attempts": 0, "next_attempt_at": at, "lease_until": None, "last_error": None,
         "gateway": None, "gateway_ref": None, "created_at": at, "sent_at": None}
        for channel, recipient in channels])
