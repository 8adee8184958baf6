"""The front desk: find the citizen, choose the service, fill the intake, see the fee, register, print."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from admin_ui import documents, qr
from admin_ui import session as cookie
from admin_ui.i18n import N_, Lang, ltr
from admin_ui.labels import load as load_labels
from admin_ui.pages import CheckedForm, PageRoute, SignedIn, allow, redirect, render
from admin_ui.params import PageId
from api.deps import SessionDep, settings_of
from engine.bpmn.compiler import CompiledProcess
from engine.bpmn.service_info import ServiceInfo
from engine.cases import intake, tasks
from engine.cases import lifecycle as cases
from engine.catalog import processes
from engine.core.errors import DomainError, Forbidden, Invalid
from engine.payments import ledger
from engine.people.identity import check_citizen
from engine.people.users import Actor
from forms import fields as form_fields
from storage.models.cases import Case

router = APIRouter(route_class=PageRoute)
CITIZEN_KEYS = ("national_id", "full_name", "phone", "language", "email")


def _fold(text: str) -> str:
    """Search text without case, Arabic diacritics or letter variants: "أ إ آ" as "ا", "ة" as "ه", "ى" as "ي"."""
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(ch))
    return re.sub("[أإآ]", "ا", text).replace("ة", "ه").replace("ى", "ي").replace("ـ", "")


def _matches(query: str, service: dict[str, Any]) -> bool:
    names = service.get("name") or {}
    haystack = _fold(" ".join([service["service_code"], str(names.get("ar", "")), str(names.get("en", ""))]))
    return all(word in haystack for word in _fold(query).split())


def _catalog(request: Request, db: SessionDep, actor: Actor) -> list[dict[str, Any]]:
    services = intake.catalog(db, actor, settings_of(request))
    if not services:
        raise Forbidden(N_("The front desk is for the roles that register requests."))
    return services


def _earlier(request: Request, db: SessionDep, actor: Actor, national_id: str) -> list[Case]:
    if not national_id.strip():
        return []
    rows, _total = cases.list_cases(session=db, actor=actor, settings=settings_of(request),
                                    filters=cases.CaseFilter(national_id=national_id, limit=20))
    return rows


@router.get("/desk", dependencies=[allow("desk.register")])
def desk(request: Request, viewer: SignedIn, db: SessionDep, national_id: str = "", q: str = "",
         ticket: str = "") -> HTMLResponse:
    actor = viewer.signed_in
    services = _catalog(request, db, actor)
    earlier = _earlier(request, db, actor, national_id)
    return render(request, "desk.html", services=[s for s in services if _matches(q, s)], q=q,
                  national_id=national_id.strip(), earlier=earlier, labels=load_labels(db),
                  searched=bool(national_id.strip()), ticket=ticket.strip()[:16])


def _process(db: SessionDep, request: Request, service_code: str, actor: Actor) -> CompiledProcess:
    version = processes.latest_version(db, service_code)
    assert version.id is not None
    process = processes.cache.get(db, version.id, settings_of(request))
    if not intake.may_open(actor, process.start_lanes, settings_of(request)):
        raise Forbidden(N_("Your roles do not register requests of this service."))
    return process


def _intake_page(request: Request, process: CompiledProcess, lang: Lang, citizen: dict[str, str],
                 values: dict[str, Any], errors: dict[str, str], citizen_errors: dict[str, str],
                 status_code: int = 200, fee: Any = None, scan_errors: dict[str, str] | None = None,
                 ticket: str = "") -> HTMLResponse:
    _task, schema = intake.intake_form(process)
    service = process.service
    return render(request, "intake.html", status_code=status_code, service=service,
                  service_name=lang.pick(service.name.model_dump() if service.name else None, service.code),
                  citizen_fields=form_fields.citizen_fields(lang, citizen, citizen_errors),
                  fields=form_fields.schema_fields(schema or {}, lang, values, errors), form_error=errors.get(""),
                  fee=fee, fee_rule=service.fee, documents=documents.checklist_of(service, lang),
                  scan_errors=scan_errors or {}, ticket=ticket)


@router.get("/desk/{service_code}", dependencies=[allow("desk.register")])
def intake_page(request: Request, service_code: str, viewer: SignedIn, db: SessionDep,
                national_id: str = "", ticket: str = "") -> HTMLResponse:
    actor = viewer.signed_in
    process = _process(db, request, service_code, actor)
    earlier = _earlier(request, db, actor, national_id)
    citizen = {"national_id": national_id.strip()}
    if earlier:  # prefill from the citizen's latest case
        citizen.update(full_name=earlier[0].citizen_name, phone=earlier[0].phone)
    return _intake_page(request, process, viewer.lang, citizen, {}, {}, {}, ticket=ticket.strip()[:16])


@router.post("/desk/{service_code}", dependencies=[allow("desk.register")])
async def register(request: Request, service_code: str, form: CheckedForm, viewer: SignedIn,
                   db: SessionDep) -> Response:
    return await run_in_threadpool(_register, request, service_code, form, viewer.signed_in, viewer.lang, db)


def _register(request: Request, service_code: str, form: Any, actor: Actor, lang: Lang, db: SessionDep) -> Response:
    settings = settings_of(request)
    process = _process(db, request, service_code, actor)
    task, schema = intake.intake_form(process)
    data, raw = form_fields.parse(schema or {}, form)
    citizen = {key: str(form.get(f"citizen.{key}", "")).strip() for key in CITIZEN_KEYS}
    ticket = str(form.get("ticket", "")).strip()[:16]  # the called queue ticket the case is opened from
    citizen_errors: dict[str, str] = {}
    try:
        check_citizen(citizen, settings)
    except Invalid as exc:
        for d in exc.details:
            key = str(d.get("field", "")).split(".")[-1]
            citizen_errors.setdefault(key, str(d.get("msg_ar") if lang.code == "ar" else d.get("msg")))
    data, problems = intake.check_intake(process, data)
    errors = form_fields.messages(problems, schema or {}, lang)
    scans = documents.uploads(form)
    scan_errors = documents.precheck(scans, settings, lang)
    if citizen_errors or errors or scan_errors:
        return _intake_page(request, process, lang, citizen, raw, errors, citizen_errors, status_code=422,
                            scan_errors=scan_errors, ticket=ticket)
    if form.get("action") == "preview":
        result = intake.preview(session=db, service_code=service_code, citizen=citizen, data=data, actor=actor,
                                settings=settings)
        return _intake_page(request, process, lang, citizen, raw, {}, {}, fee=result.get("fee"), ticket=ticket)
    opened = cases.open_case(session=db, service_code=service_code, citizen=citizen, data={}, actor=actor,
                             settings=settings, ticket=ticket or None)
    case = opened.case
    assert case.id is not None
    refused = documents.attach(db, case, scans, actor, settings, lang)  # papers: the case's tasks stay as opened
    waiting = [t for t in opened.tasks if task is not None and t.name == task.name]
    if waiting:
        try:
            tasks.complete(session=db, task_id=waiting[0].id, data=data, actor=actor, settings=settings)
        except DomainError as exc:
            reasons = [*refused, *_reasons(exc, lang)]
            cookie.flash(request, lang.gettext("The request %(number)s was opened but its intake is not complete: "
                                               "%(reason)s", number=ltr(case.tracking_number),
                                               reason="; ".join(reasons)), "error")
            return redirect(f"/tasks/{waiting[0].id}")
    cookie.flash(request, lang.gettext("Request registered: %(number)s", number=ltr(case.tracking_number)))
    return redirect(f"/cases/{case.id}/receipt")


def fee_of(case: Case, service: ServiceInfo) -> Any:
    """What the citizen pays: the amount the diagram worked out, else the service's fixed fee."""
    if case.data.get("fee") is not None:
        return case.data["fee"]
    return service.fee.amount if service.fee is not None else None


@router.get("/cases/{case_id}/payments/{payment_id}/receipt", dependencies=[allow("bills.read")])
def payment_receipt(request: Request, case_id: PageId, payment_id: PageId, viewer: SignedIn,
                    db: SessionDep) -> HTMLResponse:
    """The printable receipt of a payment at the cash desk: its gap-free number, the amount, what was handed over
    and the change, both calendars; a refunded payment says so."""
    settings = settings_of(request)
    case = cases.get_case(session=db, case_id=case_id, actor=viewer.signed_in, settings=settings,
                          action="bills.read")
    payment, refunded = ledger.payment_of_case(db, case_id, payment_id)
    service = processes.cache.get(db, case.process_version_id, settings).service
    lang = viewer.lang
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    link = f"{base}/api/public/receipts/{payment.receipt_number}"
    return render(request, "payment_receipt.html", case=case, payment=payment, refunded=refunded,
                  refunded_amount=Decimal(refunded) / 100,
                  service_name=lang.pick(service.name.model_dump() if service.name else None, case.service_code),
                  amount=Decimal(payment.amount) / 100, tendered=Decimal(payment.tendered) / 100,
                  change=Decimal(payment.change) / 100, link=link,
                  qr=Markup(qr.svg(link)))  # noqa: S704 - segno writes the SVG, no user markup in it


def _reasons(exc: DomainError, lang: Lang) -> list[str]:
    """The engine's refusal in the reader's words where it gives them (``msg_ar``), else its message."""
    details = exc.details if isinstance(exc, Invalid) else []
    words = [str(d.get("msg_ar") if lang.code == "ar" and d.get("msg_ar") else d.get("msg")) for d in details]
    return words or [exc.text(lang.code)]


@router.get("/cases/{case_id}/receipt", dependencies=[allow("case.read")])
def receipt(request: Request, case_id: PageId, viewer: SignedIn, db: SessionDep) -> HTMLResponse:
    settings = settings_of(request)
    case = cases.get_case(session=db, case_id=case_id, actor=viewer.signed_in, settings=settings)
    process = processes.cache.get(db, case.process_version_id, settings)
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    link = f"{base}/track?number={case.tracking_number}"
    lang = viewer.lang
    service = process.service
    return render(request, "receipt.html", case=case, service=service,
                  service_name=lang.pick(service.name.model_dump() if service.name else None, case.service_code),
                  fee=fee_of(case, service), currency=service.fee.currency if service.fee else "EGP",
                  received=documents.received(db, case, viewer.signed_in, settings, lang),
                  qr=Markup(qr.svg(link)), link=link)  # noqa: S704 - segno writes the SVG, no user markup in it
