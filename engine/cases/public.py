"""What a citizen sees without signing in: the status of their request, and nothing personal."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from engine.bpmn.compiler import CompiledProcess
from engine.cases import complaints
from engine.catalog import processes
from engine.core import tracking
from engine.core.settings import Settings
from storage.models.cases import Task
from storage.models.outputs import IssuedOutput


def track(*, session: Session, tracking_number: str, phone_last4: str, settings: Settings,
          client: str | None = None) -> dict[str, Any]:
    case = tracking.verified_case(session=session, tracking_number=tracking_number, phone_last4=phone_last4,
                         settings=settings, client=client)
    process = processes.cache.get(session, case.process_version_id, settings)
    ready = session.exec(select(Task.name).where(Task.case_id == case.id, Task.state == "ready")).all()
    titles_ar = [process.user_tasks[n].title_ar or process.user_tasks[n].title
                 for n in ready if n in process.user_tasks]
    # A resolved complaint the citizen may still reopen reads as resolved, with the end of that time.
    reopen_until = complaints.window_end(session, case, process)
    return {"tracking_number": case.tracking_number,
            "service": {"code": case.service_code, "name": process.service.name.model_dump()
                        if process.service.name else None},
            "status": "resolved" if reopen_until is not None else case.status,
            "current_step": case.current_step,
            "current_step_ar": "، ".join(dict.fromkeys(titles_ar)) or None, "updated_at": case.updated_at,
            "reopen_until": reopen_until,
            "documents": documents(session, case.id, process, settings)}


def documents(session: Session, case_id: int | None, process: CompiledProcess,
               settings: Settings) -> list[dict[str, Any]]:
    """The case's issued documents, each with its verification link (docs/documents.md): the link, not the PDF."""
    if not process.service.outputs:
        return []
    titles = {o.kind: {"ar": o.ar, "en": o.en} for o in process.service.outputs}
    rows = session.exec(select(IssuedOutput).where(IssuedOutput.case_id == case_id,
                                                   col(IssuedOutput.status).in_(("valid", "superseded", "revoked")))
                        .order_by(col(IssuedOutput.id))).all()
    return [{"number": row.number, "title": titles.get(row.kind, {"ar": row.kind, "en": row.kind}),
             "status": row.status, "verify_url": f"{settings.public_base_url}/verify/{row.number}"} for row in rows]
