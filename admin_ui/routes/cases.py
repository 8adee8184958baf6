"""Finding a case, and the case page: status, citizen, data, documents, timeline and diagram."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from admin_ui import diagram, documents, forms, history
from admin_ui.i18n import N_
from admin_ui.labels import load as load_labels
from admin_ui.pages import SECURITY_HEADERS, DbSession, PageRoute, SignedIn, render, settings_of
from admin_ui.params import PageId, PageVersionId
from admin_ui.timeline import full_names, story
from engine import auditors, cases, processes, tracking
from engine.errors import Forbidden, NotFound
from engine.messages import outbox
from storage.models import AuditEvent, ProcessVersion

router = APIRouter(route_class=PageRoute)

# The case's messages to the citizen (docs/messages.md): what each stage and status is called on the page.
MESSAGE_STAGES = {"received": N_("Request received"), "department": N_("Papers reached a department"),
                  "returned": N_("Returned for corrections"), "ready_for_pickup": N_("Ready for pickup"),
                  "completed": N_("Request completed"), "rejected": N_("Request rejected")}
MESSAGE_STATUSES = {"pending": N_("Waiting to be sent"), "sending": N_("Being sent"), "sent": N_("Sent"),
                    "failed": N_("Failed: the citizen was not told")}
MESSAGE_CHANNELS = {"sms": N_("SMS"), "email": N_("E-mail")}


@router.get("/cases")
def case_list(request: Request, viewer: SignedIn, db: DbSession, q: str = "", status: str = "") -> HTMLResponse:
    """Recent cases the reader may see; ``q`` finds a tracking number or a citizen's national ID."""
    actor = viewer.signed_in
    query = q.strip()
    base = cases.CaseFilter(status=status if status in ("open", "completed", "cancelled") else None, limit=50)
    if query and ("-" in query or tracking.is_valid(query)):
        base.tracking_number = query
    elif query:
        base.national_id = query
    rows, total = cases.list_cases(session=db, actor=actor, filters=base)
    if query and not rows and base.tracking_number:  # digits that happen to pass the check: try an ID too
        base.tracking_number, base.national_id = None, query
        rows, total = cases.list_cases(session=db, actor=actor, filters=base)
    return render(request, "cases.html", rows=rows, total=total, q=q, status=status, labels=load_labels(db))


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: PageId, viewer: SignedIn, db: DbSession) -> HTMLResponse:
    settings = settings_of(request)
    actor = viewer.signed_in
    case = cases.get_case(session=db, case_id=case_id, actor=actor, settings=settings)
    assert case.id is not None
    process = processes.cache.get(db, case.process_version_id, settings)
    version = db.get(ProcessVersion, case.process_version_id)
    assert version is not None
    events = list(db.exec(select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(col(AuditEvent.seq))))
    labels = load_labels(db)
    lang = viewer.lang
    done, current = diagram.marks(db, case)
    ready = cases.ready_tasks(db, case.id)
    return render(request, "case.html", case=case, service_name=labels.service(case.service_code, lang),
                  version=version, steps=labels.steps_of(case.service_code, [t.name for t in ready], lang),
                  ready=ready, labels=labels,
                  summary=forms.summary(case.data, process.forms, lang),
                  timeline=story(events, process.forms, labels, case.service_code, lang, full_names(db, events),
                                 {d.kind: d.ar if lang.code == "ar" else d.en for d in process.service.documents}),
                  has_diagram=diagram.bpmn_of(version) is not None, done_ids=done, current_ids=current,
                  can_travel=actor.has(*auditors.ROLES),
                  messages=outbox.for_case(db.connection(), case.id), message_stages=MESSAGE_STAGES,
                  message_statuses=MESSAGE_STATUSES, message_channels=MESSAGE_CHANNELS,
                  **documents.panel(db, case, process.lanes, actor, settings, lang),
                  fee_currency=process.service.fee.currency if process.service.fee else "EGP")


@router.get("/cases/{case_id}/diagram.bpmn")
def case_diagram(request: Request, case_id: PageId, viewer: SignedIn, db: DbSession,
                 version_id: PageVersionId = None) -> Response:
    """The case's diagram; ``version_id`` an earlier version of its service (for the auditors' time travel)."""
    actor = viewer.signed_in
    case = cases.get_case(session=db, case_id=case_id, actor=actor, settings=settings_of(request))
    wanted = case.process_version_id if version_id is None else version_id
    if wanted != case.process_version_id and not actor.has(*auditors.ROLES):
        raise Forbidden(N_("Earlier versions of the diagram are for auditors."))
    version = db.get(ProcessVersion, wanted)
    if version is not None and version.service_code != case.service_code:
        version = None
    content = diagram.bpmn_of(version) if version is not None else None
    if content is None:
        raise NotFound(N_("This service's diagram has no layout to draw."))
    return Response(content, media_type="application/xml", headers=SECURITY_HEADERS)


@router.get("/cases/{case_id}/history")
def case_history(request: Request, case_id: PageId, viewer: SignedIn, db: DbSession, step: int = 1) -> HTMLResponse:
    """Time travel for auditors: the case as it stood after each event, with the diagram, data and diff."""
    settings = settings_of(request)
    actor = viewer.signed_in
    found = auditors.case_history(session=db, case_id=case_id, actor=actor, settings=settings)
    case = cases.get_case(session=db, case_id=case_id, actor=actor, settings=settings)
    lang = viewer.lang
    labels = load_labels(db)
    events = list(db.exec(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(col(AuditEvent.seq))))
    total = len(found.steps)
    number = min(max(step, 1), total) if total else 0
    shown = None
    has_diagram = False
    entries = {}
    if total:
        process = processes.cache.get(db, found.steps[number - 1].process_version_id, settings)
        papers = {d.kind: d.ar if lang.code == "ar" else d.en for d in process.service.documents}
        told = story(events, process.forms, labels, case.service_code, lang, full_names(db, events), papers)
        entries = {ev.seq: entry for ev, entry in zip(events, told, strict=True)}
        shown = history.show(found, number, entries, process.forms, lang)
        version = db.get(ProcessVersion, shown.step.process_version_id)
        has_diagram = version is not None and diagram.bpmn_of(version) is not None
    return render(request, "history.html", case=case, service_name=labels.service(case.service_code, lang),
                  history=found, total=total, number=number, shown=shown, entries=entries,
                  has_diagram=has_diagram)
