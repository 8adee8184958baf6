"""The cashier's counter and the supervisor's money page (engine/payments/).

The counter: open one's drawer with a float, find a bill by the request's tracking number or the citizen's
ticket, take a payment (cash
with the change shown, card with the terminal's reference), print the receipt (a PDF, each print audited:
engine/outputs/receipt.py) and close the drawer by counting (expected vs counted per method, the difference).
The supervisor: the refunds waiting for a decision and the drawer differences to acknowledge, at their centers.

Every refusal of the engine is shown on the page in the reader's language and the form can be sent again: a
second submit of the same payment finds the bill paid and says so, it never pays twice.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from admin_ui import session as cookie
from admin_ui.i18n import N_, Lang, ltr
from admin_ui.pages import CheckedForm, PageRoute, SignedIn, Viewer, allow, redirect, render
from admin_ui.params import PageId, ShownRow
from admin_ui.routes.reports import From, day_of
from api.deps import SessionDep, settings_of
from engine.cases import bills
from engine.core import tracking, xlsxfile
from engine.core.amounts import text as money_text
from engine.core.errors import DomainError, Invalid, NotFound
from engine.outputs import receipt as receipts
from engine.payments import drawer as drawers
from engine.payments import epay, gateways, ledger, money, refunds
from engine.payments import pay as payments
from engine.people import centers, policy
from engine.people.users import Actor
from forms.digits import ascii_digits
from storage.models.cases import Case
from storage.models.payments import CashierSession, Checkout, Payment, Refund
from storage.models.queue import QueueTicket

router = APIRouter(route_class=PageRoute)

#: The methods the counter takes by hand (e-payment is confirmed by a gateway, not typed in).
COUNTER_METHODS = ("cash", "card")
METHOD_WORDS = {"cash": N_("Cash"), "card": N_("Card"), "e_payment": N_("E-payment")}
BILL_WORDS = {"open": N_("Due"), "paid": N_("Paid"), "lapsed": N_("Lapsed"), "refunded": N_("Refunded")}


def reasons(exc: DomainError, lang: Lang) -> str:
    """The engine's refusal in the reader's words (each field's problem when it names them)."""
    details = exc.details if isinstance(exc, Invalid) else []
    words = [str(d.get("msg_ar") if lang.code == "ar" and d.get("msg_ar") else d.get("msg")) for d in details]
    return "; ".join(words) or exc.text(lang.code)


def refused(request: Request, db: Session, viewer: Viewer, exc: DomainError, back: str) -> Response:
    """A refused command: nothing of it is kept, its reason is shown on the page the reader goes back to."""
    db.rollback()
    cookie.flash(request, reasons(exc, viewer.lang), "error")
    return redirect(back)


def find_case(db: Session, actor: Actor, query: str) -> Case | None:
    """The case of a tracking number, or of the hall's ticket the citizen holds (``P-014``: the latest ticket of
    that number at the actor's centers that a request was registered from), at a center the actor serves; None
    otherwise (another center's case is not told apart from no case)."""
    typed = ascii_digits(query.strip())[:40]
    case: Case | None = None
    if any(ch.isalpha() for ch in typed):
        tickets = select(QueueTicket).where(col(QueueTicket.number) == typed.upper().replace(" ", ""),
                                            col(QueueTicket.case_id).is_not(None))
        seen = policy.centers_seen(db, actor)
        if seen is not None:
            tickets = tickets.where(col(QueueTicket.center_id).in_(seen))
        # The latest by when it was issued: a center node's tickets carry ids of its block, above central's.
        ticket = db.exec(tickets.order_by(col(QueueTicket.issued_at).desc(), col(QueueTicket.id).desc())).first()
        case = db.get(Case, ticket.case_id) if ticket is not None and ticket.case_id is not None else None
    else:
        number = tracking.normalise(typed)
        if number:
            case = db.exec(select(Case).where(col(Case.tracking_number) == number)).first()
    if case is None or not policy.sees_center(db, actor, case.center_id):
        return None
    return case


def _amounts(values: dict[str, int] | None) -> dict[str, str]:
    return {m: money_text(v) for m, v in (values or {}).items()}


@router.get("/counter", dependencies=[allow("cashier.work")])
def counter_page(request: Request, viewer: SignedIn, db: SessionDep, q: str = "", closed: ShownRow = 0,
                 paid: ShownRow = 0) -> HTMLResponse:
    actor = viewer.signed_in
    drawer = drawers.open_of(db, actor.username, settings_of(request))
    expected = _amounts(drawers.expected_of(db, drawer)) if drawer is not None else {}
    case = find_case(db, actor, q) if q.strip() else None
    found = bills.of_case(db, case.id) if case is not None and case.id is not None else []
    taken = list(db.exec(select(Payment).where(col(Payment.case_id) == case.id, col(Payment.kind) == "payment")
                         .order_by(col(Payment.id))).all()) if case is not None else []
    last = db.get(CashierSession, closed) if closed else None
    if last is not None and last.cashier != actor.username:
        last = None
    just_paid = db.get(Payment, paid) if paid else None
    if just_paid is not None and just_paid.cashier != actor.username:
        just_paid = None
    # E-payment at the counter: a payment reference the citizen pays at the provider (by phone, at a kiosk); the
    # provider's callback pays the bill (engine/payments/epay.py). Offered when a provider is configured.
    online = bool(gateways.names(settings_of(request)))
    pending: dict[int, list[Checkout]] = {}
    if found:
        for ref in db.exec(select(Checkout).where(col(Checkout.bill_id).in_([b.id for b in found]),
                                                  col(Checkout.status) == "pending").order_by(col(Checkout.id))):
            pending.setdefault(ref.bill_id, []).append(ref)
    return render(request, "counter.html", drawer=drawer, expected=expected, q=q, case=case, bills=found,
                  payments=taken, methods=COUNTER_METHODS, closed=last, amounts=_amounts, just_paid=just_paid,
                  money_text=money_text, searched=bool(q.strip()), method_words=METHOD_WORDS,
                  bill_words=BILL_WORDS, online=online, pending=pending)


@router.post("/counter/open", dependencies=[allow("cashier.work")])
def open_drawer(request: Request, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    opening = {m: str(form.get(f"float_{m}", "") or "0") for m in COUNTER_METHODS}
    try:
        drawers.open_session(session=db, actor=viewer.signed_in, opening=opening, settings=settings_of(request))
    except DomainError as exc:
        return refused(request, db, viewer, exc, "/counter")
    cookie.flash(request, viewer.lang.gettext("The drawer is open."))
    return redirect("/counter")


@router.post("/counter/bills/{bill_id}/pay", dependencies=[allow("cashier.work")])
def take_payment(request: Request, bill_id: PageId, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    q = str(form.get("q", ""))[:40]
    back = f"/counter?q={q}" if q else "/counter"
    try:
        paid = payments.pay(session=db, bill_id=bill_id, method=str(form.get("method", ""))[:16],
                            amount=str(form.get("amount", ""))[:32],
                            reference=str(form.get("reference", ""))[:100] or None, actor=viewer.signed_in,
                            settings=settings_of(request))
    except DomainError as exc:
        return refused(request, db, viewer, exc, back)
    payment = paid.payment
    lang = viewer.lang
    cookie.flash(request, lang.gettext("Paid: receipt %(number)s. Change to give: %(change)s %(currency)s.",
                                       number=ltr(payment.receipt_number or ""), change=money_text(payment.change),
                                       currency=payment.currency))
    return redirect(f"{back}{'&' if q else '?'}paid={payment.id}")


@router.post("/counter/bills/{bill_id}/checkout", dependencies=[allow("cashier.work")])
def checkout(request: Request, bill_id: PageId, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    """A payment reference of the open bill's amount due at the configured provider, for the citizen to pay
    there; the page shows it under the bill until the provider's callback pays the bill."""
    q = str(form.get("q", ""))[:40]
    back = f"/counter?q={q}" if q else "/counter"
    try:
        made = epay.checkout(session=db, bill_id=bill_id, actor=viewer.signed_in, settings=settings_of(request))
    except DomainError as exc:
        return refused(request, db, viewer, exc, back)
    cookie.flash(request, viewer.lang.gettext("Payment reference %(reference)s: the citizen pays %(amount)s "
                                              "%(currency)s at %(provider)s.", reference=ltr(made.reference),
                                              amount=money_text(made.amount), currency=made.currency,
                                              provider=made.provider))
    return redirect(back)


@router.post("/counter/payments/{payment_id}/refund", dependencies=[allow("cashier.work")])
def ask_refund(request: Request, payment_id: PageId, form: CheckedForm, viewer: SignedIn,
               db: SessionDep) -> Response:
    """Ask a supervisor to give back a payment (all that is left of it, or the amount typed), with the reason
    (engine/payments/refunds.py: charged to the drawer that took it)."""
    q = str(form.get("q", ""))[:40]
    back = f"/counter?q={q}" if q else "/counter"
    payment = db.get(Payment, payment_id)
    try:
        if payment is None or payment.kind != "payment":
            raise NotFound("receipt.not_found")
        amount = str(form.get("amount", "")).strip()[:32]
        refunds.request(session=db, bill_id=payment.bill_id, payment_id=payment_id,
                        reason=str(form.get("reason", ""))[:1000], amount=amount or None, actor=viewer.signed_in,
                        settings=settings_of(request))
    except DomainError as exc:
        return refused(request, db, viewer, exc, back)
    cookie.flash(request, viewer.lang.gettext("The refund is asked for: a supervisor of the center decides it."))
    return redirect(back)


@router.post("/counter/close", dependencies=[allow("cashier.work")])
def close_drawer(request: Request, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    actor = viewer.signed_in
    drawer = drawers.open_of(db, actor.username, settings_of(request))
    if drawer is None or drawer.id is None:
        cookie.flash(request, viewer.lang.gettext("Your drawer is not open."), "error")
        return redirect("/counter")
    counted = {m: str(form.get(f"counted_{m}", "") or "0") for m in money.METHODS}
    try:
        done = drawers.close(session=db, session_id=drawer.id, counted=counted, actor=actor,
                             settings=settings_of(request))
    except DomainError as exc:
        return refused(request, db, viewer, exc, "/counter")
    cookie.flash(request, viewer.lang.gettext("The drawer is closed."))
    return redirect(f"/counter?closed={done.id}")


@router.post("/cases/{case_id}/payments/{payment_id}/receipt/print", dependencies=[allow("bills.read")])
def print_receipt(request: Request, case_id: PageId, payment_id: PageId, form: CheckedForm, viewer: SignedIn,
                  db: SessionDep) -> Response:
    """The receipt as a PDF to print; every print is audited, reprints are marked as copies."""
    settings = settings_of(request)
    printed = receipts.print_receipt(session=db, case_id=case_id, payment_id=payment_id, actor=viewer.signed_in,
                                     settings=settings, base_url=settings.public_base_url or str(request.base_url))
    return Response(printed.pdf, media_type="application/pdf", headers={
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store", "X-Print-Copy": str(printed.copy),
        "Content-Disposition": f'inline; filename="{printed.number}.pdf"'})


# --- the supervisor: two people for every refund, a reason for every difference ---

@router.get("/supervisor/payments", dependencies=[allow("payments.supervise")])
def supervisor_page(request: Request, viewer: SignedIn, db: SessionDep) -> HTMLResponse:
    actor = viewer.signed_in
    seen = policy.centers_seen(db, actor)
    waiting = select(Refund).where(col(Refund.status) == "requested").order_by(col(Refund.id))
    closed = (select(CashierSession).where(col(CashierSession.status) == "closed",
                                           col(CashierSession.acknowledged_by).is_(None))
              .order_by(col(CashierSession.id)))
    if seen is not None:
        waiting = waiting.where(col(Refund.center_id).in_(seen))
        closed = closed.where(col(CashierSession.center_id).in_(seen))
    differences = [d for d in db.exec(closed).all() if any((d.difference or {}).values())]
    asked = db.exec(waiting).all()
    receipts_of = {p.id: p.receipt_number for p in db.exec(select(Payment).where(
        col(Payment.id).in_([r.payment_id for r in asked]))).all()}
    rows: list[dict[str, Any]] = [{"refund": r, "receipt": receipts_of.get(r.payment_id, "")} for r in asked]
    choices = [c for c in centers.list_centers(db) if seen is None or c.id in seen]  # for the export's form
    flagged = ledger.flagged_references(session=db, actor=actor)
    return render(request, "supervisor_payments.html", refunds=rows, differences=differences, amounts=_amounts,
                  money_text=money_text, method_words=METHOD_WORDS, centers=choices, flagged=flagged)


@router.post("/supervisor/refunds/{refund_id}/decide", dependencies=[allow("payments.supervise")])
def decide_refund(request: Request, refund_id: PageId, form: CheckedForm, viewer: SignedIn,
                  db: SessionDep) -> Response:
    approve = str(form.get("decision", "")) == "approve"
    try:
        refunds.decide(session=db, refund_id=refund_id, approve=approve, reason=str(form.get("reason", ""))[:1000],
                       actor=viewer.signed_in, settings=settings_of(request))
    except DomainError as exc:
        return refused(request, db, viewer, exc, "/supervisor/payments")
    cookie.flash(request, viewer.lang.gettext("The refund was approved.") if approve else
                 viewer.lang.gettext("The refund was refused."))
    return redirect("/supervisor/payments")


@router.post("/supervisor/drawers/{session_id}/acknowledge", dependencies=[allow("payments.supervise")])
def acknowledge(request: Request, session_id: PageId, form: CheckedForm, viewer: SignedIn,
                db: SessionDep) -> Response:
    try:
        drawers.acknowledge(session=db, session_id=session_id, reason=str(form.get("reason", ""))[:1000],
                            actor=viewer.signed_in, settings=settings_of(request))
    except DomainError as exc:
        return refused(request, db, viewer, exc, "/supervisor/payments")
    cookie.flash(request, viewer.lang.gettext("The difference was acknowledged."))
    return redirect("/supervisor/payments")


@router.post("/supervisor/checkouts/{checkout_id}/clear", dependencies=[allow("payments.supervise")])
def clear_flag(request: Request, checkout_id: PageId, form: CheckedForm, viewer: SignedIn,
               db: SessionDep) -> Response:
    """Take a flagged e-payment reference off the list, with the reason (engine/payments/epay.py)."""
    try:
        epay.clear_mismatch(session=db, checkout_id=checkout_id, reason=str(form.get("reason", ""))[:1000],
                            actor=viewer.signed_in, settings=settings_of(request))
    except DomainError as exc:
        return refused(request, db, viewer, exc, "/supervisor/payments")
    cookie.flash(request, viewer.lang.gettext("The payment reference is off the list."))
    return redirect("/supervisor/payments")


@router.get("/supervisor/collections.csv", dependencies=[allow("reports.read")])
def collections_export(request: Request, viewer: SignedIn, db: SessionDep, start: From = "", to: str = "",
                       center: str = "") -> Response:
    """The collections export of the supervisor's page (engine/payments/ledger.py ``drawer_collections``)."""
    return _collections(request, viewer, db, start, to, center, "csv")


@router.get("/supervisor/collections.xlsx", dependencies=[allow("reports.read")])
def collections_workbook(request: Request, viewer: SignedIn, db: SessionDep, start: From = "", to: str = "",
                         center: str = "") -> Response:
    """The same export as an XLSX workbook: Arabic headers, amounts as numbers."""
    return _collections(request, viewer, db, start, to, center, "xlsx")


def _collections(request: Request, viewer: Viewer, db: Session, start: str, to: str, center: str,
                 kind: str) -> Response:
    first, last = day_of(start, "from"), day_of(to, "to")
    rows = ledger.drawer_collections(session=db, actor=viewer.signed_in, settings=settings_of(request),
                                     start=first, end=last, center=center[:32] or None)
    name = f"collections_{first or 'today'}_{last or first or 'today'}.{kind}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"}
    if kind == "xlsx":
        return Response(ledger.collections_xlsx(rows), media_type=xlsxfile.XLSX_TYPE, headers=headers)
    return Response(ledger.collections_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
