"""The papers a service requires (``[[documents]]`` in its ``service.toml``), and which a case holds.

A required kind is *present* once a scan of it is uploaded, *waived* when a supervisor let the case go on
without it (an audit event, with the reason). The front desk's intake task cannot be completed while a
required kind is neither. Every user task completed on a case whose service lists papers gets
``documents_complete`` (every required kind scanned) and ``documents_missing`` (the required kinds not
scanned, waived or not) in its data, so a gateway can route on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, literal, select, union_all
from sqlmodel import Session, col

from engine.bpmn.compiler import CompiledProcess
from engine.bpmn.service_info import Document as Paper
from engine.cases import lifecycle as cases
from engine.cases import workflows
from engine.catalog import processes
from engine.core.errors import Conflict, Invalid
from engine.core.refusals import Words, problem
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from storage.db import write_lock
from storage.models.base import tables
from storage.models.cases import Case, Document, DocumentWaiver

_DOCS, _WAIVERS = tables(Document, DocumentWaiver)
# Run on every task completion of a case whose service requires papers: one prepared statement.
_KINDS = union_all(
    select(_DOCS.c.kind, literal("scan").label("what")).where(_DOCS.c.case_id == bindparam("case_id")),
    select(_WAIVERS.c.kind, literal("waiver").label("what")).where(_WAIVERS.c.case_id == bindparam("case_id")))


@dataclass(frozen=True)
class Item:
    paper: Paper
    documents: list[Document] = field(default_factory=list)  # every version, oldest first
    waiver: DocumentWaiver | None = None

    @property
    def latest(self) -> Document | None:
        return self.documents[-1] if self.documents else None


@dataclass(frozen=True)
class Checklist:
    items: list[Item]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def missing(self) -> list[str]:
        return [i.paper.kind for i in self.items if i.paper.required and not i.documents]

    @property
    def blocking(self) -> list[str]:
        """Required kinds neither scanned nor waived: intake cannot be completed while there are any."""
        return [i.paper.kind for i in self.items if i.paper.required and not i.documents and i.waiver is None]


def for_case(*, session: Session, actor: Actor, settings: Settings, case_id: int) -> Checklist:
    case = cases.get_case(session=session, case_id=case_id, actor=actor, settings=settings)
    process = processes.cache.get(session, case.process_version_id, settings)
    docs = session.execute(select(Document).where(col(Document.case_id) == case_id)
                           .order_by(col(Document.version))).scalars().all()
    waivers = {w.kind: w for w in session.execute(
        select(DocumentWaiver).where(col(DocumentWaiver.case_id) == case_id)).scalars()}
    return Checklist([Item(paper, [d for d in docs if d.kind == paper.kind], waivers.get(paper.kind))
                      for paper in process.service.documents])


def task_data(session: Session, case: Case, process: CompiledProcess, task_name: str) -> dict[str, Any]:
    """What a completed task's data learns of the papers; Invalid (422) at intake while a paper is missing."""
    papers = process.service.documents
    required = [p for p in papers if p.required]
    if not required:
        return {"documents_complete": True, "documents_missing": []} if papers else {}
    found = session.connection().execute(_KINDS, {"case_id": case.id}).all()
    scanned = {kind for kind, what in found if what == "scan"}
    waived = {kind for kind, what in found if what == "waiver"}
    missing = [p for p in required if p.kind not in scanned]
    blocking = [p for p in missing if p.kind not in waived]
    if blocking and task_name in process.intake_tasks:
        raise Invalid("checklist.papers_missing",
                      [{**problem("documents", "checklist.paper_missing", loc=["documents", p.kind],
                                  kind="missing_document", paper=Words(p.en, p.ar)), "kind": p.kind}
                       for p in blocking],
                      kinds=', '.join(p.kind for p in blocking))
    return {"documents_complete": not missing, "documents_missing": [p.kind for p in missing]}


def waive(*, session: Session, actor: Actor, settings: Settings, case_id: int, kind: str,
          reason: str) -> DocumentWaiver:
    """A supervisor lets the case past intake without a required paper; one commit, an audit event."""
    policy.require(actor, "case.waive", settings)
    reason = reason.strip()
    if not reason:
        raise Invalid("reason.required", [problem("reason", "field.say_why_waived", loc=["body", "reason"],
                                                  kind="missing")])
    case = cases.load_case(session, case_id)
    policy.check_case(session, actor, "case.waive", case, settings)
    process = processes.cache.get(session, case.process_version_id, settings)
    required = [p.kind for p in process.service.documents if p.required]
    if kind not in required:
        raise Invalid("checklist.only_required_waived",
                      [problem("kind", "field.one_of", loc=["body", "kind"], kind="value_error",
                               choices=", ".join(required) or "none (the service requires no papers)")])
    with write_lock(session):
        case = workflows.lock_case(session, case_id)
        refused = _why_not_waivable(session, case, kind)
        if refused is not None:
            session.rollback()
            raise refused
        waiver = DocumentWaiver(case_id=case_id, kind=kind, reason=reason, waived_by=actor.username)
        session.add(waiver)
        session.flush()
        workflows.append_to_chain(session, case, actor=actor.username,
                                  events=[("document_waived", None, {"kind": kind, "reason": reason})])
        workflows.commit_or_conflict(session)
    return waiver


def _why_not_waivable(session: Session, case: Case, kind: str) -> Conflict | None:
    if case.status != "open":
        return Conflict("checklist.case_closed", status=case.status)
    found = {what for k, what in session.connection().execute(_KINDS, {"case_id": case.id}).all() if k == kind}
    if "waiver" in found:
        return Conflict("checklist.already_waived", kind=kind)
    if "scan" in found:
        return Conflict("checklist.already_scanned", kind=kind)
    return None
