"""Finding a case, and the case page: status, citizen, data, documents, timeline and diagram."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from admin_ui import diagram, documents, history
from admin_ui import session as cookie
from admin_ui.i18n import N_, Lang
from admin_ui.labels import load as load_labels
from admin_ui.pages import SECURITY_HEADERS, CheckedForm, PageRoute, SignedIn, Viewer, allow, redirect, render
from admin_ui.params import PageId, PageVersionId
from admin_ui.timeline import full_names, story
from api.deps import SessionDep, settings_of
from engine.audit import auditors
from engine.cases import citizen_correction
from engine.cases import lifecycle as cases
from engine.catalog import processes
from engine.core import chain as audit
from engine.core import nodes, tracking
from engine.core.errors import Forbidden, Invalid, NotFound
from engine.core.settings import Settings
from engine.messages import outbox
from engine.outputs import manage as official
from engine.people import policy
from engine.people.users import Actor
from forms import fields as form_fields
from storage.models.cases import Case
from storage.models.catalog import ProcessVersion

router = APIRouter(route_class=PageRoute)

# The case's messages to the citizen (docs/messages.md): what each stage and status is called on the page.
MESSAGE_STAGES = {"received": N_("Request received"), "department": N_("Papers reached a department"),
                  "returned": N_("Returned for corrections"), "ready_for_pickup": N_("Ready for pickup"),
                  "completed": N_("Request completed"), "rejected": N_("Request rejected"),
                  "contact_corrected": N_("Contact details corrected"),
                  "document_revoked": N_("Document revoked"), "bill_issued": N_("Fees billed"),
                  "bill_paid": N_("Fees paid"), "refunded": N_("Refund approved")}
MESSAGE_STATUSES = {"pending": N_("Waiting to be sent"), "sending": N_("Being sent"), "sent": N_("Sent"),
                    "failed": N_("Failed: the citizen was not told")}
MESSAGE_CHANNELS = {"sms": N_("SMS"), "email": N_("E-mail")}


@router.get("/cases", dependencies=[allow("cases.list")])
def case_list(request: Request, viewer: SignedIn, db: SessionDep, q: str = "", status: str = "") -> HTMLResponse:
    """Recent cases the reader may see; ``q`` finds a tracking number or a citizen's national ID."""
    actor = viewer.signed_in
    query = q.strip()
    base = cases.CaseFilter(status=status if status in ("open", "completed", "cancelled") else None, limit=50)
    if query and ("-" in query or tracking.is_valid(query)):
        base.tracking_number = query
    elif query:
        base.national_id = query
    rows, total = cases.list_cases(session=db, actor=actor, filters=base, settings=settings_of(request))
    if query and not rows and base.tracking_number:  # digits that happen to pass the check: try an ID too
        base.tracking_number, base.national_id = None, query
        rows, total = cases.list_cases(session=db, actor=actor, filters=base, settings=settings_of(request))
    return render(request, "cases.html", rows=rows, total=total, q=q, status=status, labels=load_labels(db))


@router.get("/cases/{case_id}", dependencies=[allow("case.read")])
def case_page(request: Request, case_id: PageId, viewer: SignedIn, db: SessionDep) -> HTMLResponse:
    return _case_page(request, case_id, viewer, db)


def _case_page(request: Request, case_id: int, viewer: Viewer, db: SessionDep, status_code: int = 200,
               correction: dict[str, Any] | None = None) -> HTMLResponse:
    """The case page; ``correction`` is a refused correction of the citizen's details: what was typed and
    the refusal's words (``values``, ``errors`` by field, "" for the form as a whole)."""
    settings = settings_of(request)
    actor = viewer.signed_in
    case = cases.get_case(session=db, case_id=case_id, actor=actor, settings=settings)
    assert case.id is not None
    process = processes.cache.get(db, case.process_version_id, settings)
    version = db.get(ProcessVersion, case.process_version_id)
    assert version is not None
    events = audit.events_of(db, case_id)
    labels = load_labels(db)
    lang = viewer.lang
    marks = cases.diagram_marks(db, case, settings)
    ready = cases.ready_tasks(db, case.id)
    owner = nodes.owner_of(db, case.node)  # a case another node owns: shown as replicated, worked on there
    return render(request, "case.html", status_code=status_code, case=case,
                  elsewhere=owner.lang(lang.code) if owner is not None else None,
                  service_name=labels.service(case.service_code, lang),
                  correction=_correction_form(case, actor, settings, lang, correction),
                  version=version, steps=labels.steps_of(case.service_code, [t.name for t in ready], lang),
                  ready=ready, labels=labels,
                  summary=form_fields.summary(case.data, process.forms, lang),
                  timeline=story(events, process.forms, labels, case.service_code, lang, full_names(db, events),
                                 {d.kind: d.ar if lang.code == "ar" else d.en for d in process.service.documents}),
                  has_diagram=diagram.bpmn_of(version) is not None, done_ids=marks.done, current_ids=marks.current,
                  waiting_ids=marks.waiting,
                  can_travel=policy.may(actor, "audit.case"),
                  can_rate=policy.may_on_case(db, actor, "rating.desk", case, settings),
                  messages=outbox.for_case(db.connection(), case.id), message_stages=MESSAGE_STAGES,
                  message_statuses=MESSAGE_STATUSES, message_channels=MESSAGE_CHANNELS,
                  **documents.panel(db, case, process.lanes, actor, settings, lang),
                  outputs=official.for_page(db, case, process, lang.code), output_words=documents.OUTPUT_WORDS,
                  fee_currency=process.service.fee.currency if process.service.fee else "EGP")


def _correction_form(case: Case, actor: Actor, settings: Settings, lang: Lang,
                     refused: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fields of the correction of the citizen's contact details, for those who may make one."""
    if case.status != "open" or not citizen_correction.may_correct(actor, settings):
        return None
    citizen = case.data.get("citizen") or {}
    values = (refused or {}).get("values") or {k: citizen.get(k) or "" for k in citizen_correction.CONTACT_FIELDS}
    errors = (refused or {}).get("errors") or {}
    fields = [f for f in form_fields.citizen_fields(lang, values, errors) if f.name != "citizen.national_id"
              and f.name != "citizen.full_name"]
    for f in fields:
        f.name = f.name.replace("citizen.", "correction.")
        f.required = False
    return {"fields": fields, "reason": values.get("reason", ""), "reason_error": errors.get("reason"),
            "error": errors.get("")}


@router.post("/cases/{case_id}/citizen-correction", dependencies=[allow("case.correct")])
def correct_citizen(request: Request, case_id: PageId, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    """The front desk or a supervisor corrects the citizen's contact details, saying why (docs/security.md)."""
    lang = viewer.lang
    settings = settings_of(request)
    values = {k: str(form.get(f"correction.{k}", "") or "").strip() for k in citizen_correction.CONTACT_FIELDS}
    reason = str(form.get("reason", "") or "")
    citizen = cases.get_case(session=db, case_id=case_id, actor=viewer.signed_in, settings=settings).data.get(
        "citizen") or {}
    # Only what the clerk changed: the page shows every detail, and Arabic is the language when none is set.
    changes = {k: v for k, v in values.items() if v != (citizen.get(k) or ("ar" if k == "language" else ""))}
    try:
        citizen_correction.correct(session=db, case_id=case_id, changes=changes, reason=reason,
                                   actor=viewer.signed_in, settings=settings)
    except Invalid as exc:
        db.rollback()
        errors: dict[str, str] = {}
        for d in exc.details or [{"field": "", "msg": exc.text(lang.code)}]:
            key = str(d.get("field", "")).split(".")[-1]
            said = str(d.get("msg_ar") if lang.code == "ar" and d.get("msg_ar") else d.get("msg"))
            errors[key] = f"{errors[key]}; {said}" if key in errors else said
        return _case_page(request, case_id, viewer, db, status_code=422,
                          correction={"values": {**values, "reason": reason}, "errors": errors})
    cookie.flash(request, lang.gettext("The citizen's contact details were corrected; the citizen is told on the "
                                       "old and the new phone."))
    return redirect(f"/cases/{case_id}")


@router.get("/cases/{case_id}/diagram.bpmn", dependencies=[allow("case.read")])
def case_diagram(request: Request, case_id: PageId, viewer: SignedIn, db: SessionDep,
                 version_id: PageVersionId = None) -> Response:
    """The case's diagram; ``version_id`` an earlier version of its service (for the auditors' time travel)."""
    actor = viewer.signed_in
    case = cases.get_case(session=db, case_id=case_id, actor=actor, settings=settings_of(request))
    wanted = case.process_version_id if version_id is None else version_id
    if wanted != case.process_version_id and not policy.may(actor, "audit.case"):
        raise Forbidden(N_("Earlier versions of the diagram are for auditors."))
    version = db.get(ProcessVersion, wanted)
    if version is not None and version.service_code != case.service_code:
        version = None
    content = diagram.bpmn_of(version) if version is not None else None
    if content is None:
        raise NotFound(N_("This service's diagram has no layout to draw."))
    return Response(content, media_type="application/xml", headers=SECURITY_HEADERS)


@router.get("/cases/{case_id}/history", dependencies=[allow("audit.case")])
def case_history(request: Request, case_id: PageId, viewer: SignedIn, db: SessionDep, step: int = 1) -> HTMLResponse:
    """Time travel for auditors: the case as it stood after each event, with the diagram, data and diff."""
    settings = settings_of(request)
    actor = viewer.signed_in
    found = auditors.case_history(session=db, case_id=case_id, actor=actor, settings=settings)
    case = cases.get_case(session=db, case_id=case_id, actor=actor, settings=settings)
    lang = viewer.lang
    labels = load_labels(db)
    events = audit.events_of(db, case_id)
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
