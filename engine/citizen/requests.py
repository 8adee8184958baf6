"""A signed-in citizen's own requests: every case whose phone is theirs (and, once the citizen added their national
ID to the session, engine/citizen/signin.py ``add_national_id``, whose national ID is theirs too), in words a
citizen reads.

Each says its status in Arabic and English, where it is now (the departments of its ready steps: never the
officer), when it is expected to be done, the messages sent to the citizen, the documents issued (their
verification links, not the PDFs), the bills still due and the returns waiting for the citizen's paper
(engine/citizen/returns.py). Another citizen's case is NotFound, the same answer
as a case that does not exist: the page must not confirm that a number is someone's.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from engine.cases import bills, complaints
from engine.cases.lifecycle import newest_first
from engine.cases.public import documents
from engine.catalog import processes
from engine.citizen import returns
from engine.core.errors import NotFound
from engine.core.settings import Settings
from engine.messages import outbox, templates
from storage.models.cases import Case, Task

STATUS_WORDS = {
    "open": {"ar": "قيد التنفيذ", "en": "In progress"},
    "completed": {"ar": "مكتمل", "en": "Completed"},
    "cancelled": {"ar": "ملغى", "en": "Cancelled"},
    "resolved": {"ar": "تم الحل", "en": "Resolved"},
}


def list_cases(*, session: Session, settings: Settings, phone: str,
               national_id: str | None = None) -> list[dict[str, Any]]:
    """The citizen's cases, newest first."""
    query = select(Case).where(Case.phone == phone)
    if national_id is not None:
        query = query.where(Case.national_id == national_id)
    cases = session.exec(query.order_by(*newest_first()).limit(settings.citizen_cases_max)).all()
    return [_summary(session, settings, case) for case in cases]


def own_case(session: Session, phone: str, case_id: int, national_id: str | None = None) -> Case:
    """The case when it is the citizen's (their phone, and their national ID once added); NotFound otherwise."""
    case = session.get(Case, case_id) if 0 < case_id < 2**31 else None
    if (case is None or case.id is None or case.phone != phone
            or (national_id is not None and case.national_id != national_id)):
        raise NotFound("citizen.no_case")
    return case


def read_case(*, session: Session, settings: Settings, phone: str, case_id: int,
              national_id: str | None = None) -> dict[str, Any]:
    """One of the citizen's cases with its messages, documents and bills; NotFound for anyone else's."""
    case = own_case(session, phone, case_id, national_id)
    assert case.id is not None
    process = processes.cache.get(session, case.process_version_id, settings)
    out = _summary(session, settings, case)
    conn = session.connection()
    out["messages"] = [{"channel": m.channel, "body": m.body, "sent_at": m.sent_at}
                       for m in outbox.for_case(conn, case.id) if m.status == "sent"]
    out["documents"] = documents(session, case.id, process, settings)
    out["bills_due"] = [{"number": b.number, "amount": _money(b.amount - b.paid), "currency": b.currency,
                         "due_at": b.due_at} for b in bills.of_case(session, case.id) if b.status == "open"]
    out["returns"] = returns.open_returns(session, case, process) if case.status == "open" else []
    return out


# A step in the citizen's own lane (a return to answer from the phone) is with them, not with a department.
YOUR_STEP = {"ar": "في انتظارك: أرسل المستند المطلوب", "en": "Waiting for you: send the paper asked for"}


def _summary(session: Session, settings: Settings, case: Case) -> dict[str, Any]:
    process = processes.cache.get(session, case.process_version_id, settings)
    service = process.service
    lanes = session.exec(select(Task.lane).where(Task.case_id == case.id, Task.state == "ready")).all()
    steps = [YOUR_STEP if lane == "citizen" else {"ar": templates.department_name(lane, "ar", service.messages),
                                                  "en": templates.department_name(lane, "en", service.messages)}
             for lane in dict.fromkeys(lanes)]
    status = "resolved" if complaints.window_end(session, case, process) is not None else case.status
    return {"id": case.id, "tracking_number": case.tracking_number,
            "service": {"code": case.service_code,
                        "name": service.name.model_dump() if service.name else {"ar": service.code,
                                                                                 "en": service.code}},
            "status": status, "status_words": STATUS_WORDS.get(status, {"ar": status, "en": status}),
            "current_step": steps, "expected_by": case.due_at if case.status == "open" else None,
            "opened_at": case.created_at, "updated_at": case.updated_at}


def _money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    return f"{sign}{minor // 100}.{minor % 100:02d}"
