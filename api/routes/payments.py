"""Money at the center (docs/api.md "Payments"): a case's bills, the cashier's drawer, payments with their
receipts, two-person refunds, the public check of a receipt and the collections report.

Amounts are decimal strings with two places (``"150.00"``), in and out; Arabic-Indic digits are read too.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from api.deps import ClientAddress, CurrentActor, SessionDep, SettingsDep, allow
from api.params import DB_ID_MAX, IsoDate, RowId
from engine.cases import bills
from engine.cases import lifecycle as cases
from engine.core import xlsxfile
from engine.core.amounts import text
from engine.core.settings import Settings
from engine.outputs import receipt as receipts
from engine.payments import drawer as drawers
from engine.payments import epay, ledger, refunds
from engine.payments import pay as payments
from engine.people.users import Actor
from storage.models.payments import Bill, CashierSession, Checkout, Payment, Refund

router = APIRouter(tags=["payments"])

Amount = Annotated[str, Field(max_length=32, description='a decimal string, e.g. "150.50"')]


# BillPublic, DrawerPublic, PaymentPublic and RefundPublic deliberately mirror their tables
# (storage/models/payments.py), each with an ``of`` that copies a row field by field, the way api/schemas.py's
# TaskPublic mirrors a task: the response model is the promise written in the OpenAPI document, so a column
# added to a table does not appear in the API's contract unannounced. Alike in shape, each its own table.
class BillPublic(BaseModel):
    id: int
    number: str
    case_id: int
    service_code: str
    status: Literal["open", "paid", "lapsed", "refunded"]
    amount: str
    paid: str
    due: str
    currency: str
    items: list[dict[str, Any]]
    partial_allowed: bool
    issued_at: datetime
    due_at: datetime | None
    settled_at: datetime | None

    @classmethod
    def of(cls, bill: Bill) -> BillPublic:
        assert bill.id is not None
        return cls(id=bill.id, number=bill.number, case_id=bill.case_id, service_code=bill.service_code,
                   status=bill.status, amount=text(bill.amount), paid=text(bill.paid),  # type: ignore[arg-type]
                   due=text(max(bill.amount - bill.paid, 0) if bill.status == "open" else 0),
                   currency=bill.currency, items=bill.items, partial_allowed=bill.partial_allowed,
                   issued_at=bill.issued_at, due_at=bill.due_at, settled_at=bill.settled_at)


class DrawerOpen(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    float_: dict[str, Amount] = Field(alias="float", description="the float per method: cash, card, e_payment")


class DrawerClose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    counted: dict[str, Amount]


class Acknowledge(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class DrawerPublic(BaseModel):
    id: int
    cashier: str
    center_id: int | None
    status: Literal["open", "closed"]
    float_: dict[str, str] = Field(serialization_alias="float")
    expected: dict[str, str] | None
    counted: dict[str, str] | None
    difference: dict[str, str] | None
    opened_at: datetime
    closed_at: datetime | None
    acknowledged_by: str | None
    acknowledge_reason: str | None

    @classmethod
    def of(cls, drawer: CashierSession) -> DrawerPublic:
        def amounts(values: dict[str, int] | None) -> dict[str, str] | None:
            return None if values is None else {k: text(v) for k, v in values.items()}

        assert drawer.id is not None
        return cls(id=drawer.id, cashier=drawer.cashier, center_id=drawer.center_id,
                   status=drawer.status, float_=amounts(drawer.opening) or {},  # type: ignore[arg-type]
                   expected=amounts(drawer.expected), counted=amounts(drawer.counted),
                   difference=amounts(drawer.difference), opened_at=drawer.opened_at, closed_at=drawer.closed_at,
                   acknowledged_by=drawer.acknowledged_by, acknowledge_reason=drawer.acknowledge_reason)


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str = Field(max_length=16, description="cash, card or e_payment")
    amount: Amount
    reference: str | None = Field(default=None, max_length=100, description="the terminal's or gateway's reference")


class PaymentPublic(BaseModel):
    id: int
    receipt_number: str | None
    bill_id: int
    bill_status: str
    method: str
    amount: str
    tendered: str
    change: str
    currency: str
    reference: str | None
    cashier: str
    at: datetime

    @classmethod
    def of(cls, payment: Payment, bill_status: str) -> PaymentPublic:
        assert payment.id is not None
        return cls(id=payment.id, receipt_number=payment.receipt_number, bill_id=payment.bill_id,
                   bill_status=bill_status, method=payment.method, amount=text(payment.amount),
                   tendered=text(payment.tendered), change=text(payment.change), currency=payment.currency,
                   reference=payment.reference, cashier=payment.cashier, at=payment.at)


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)
    payment_id: int | None = Field(default=None, ge=1, le=DB_ID_MAX)
    amount: Amount | None = Field(default=None, description="a part of the payment to give back (default: all "
                                  "that is left of it)")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


class RefundPublic(BaseModel):
    id: int
    bill_id: int
    payment_id: int
    amount: str
    reason: str
    status: Literal["requested", "approved", "refused"]
    requested_by: str
    decided_by: str | None
    decision_reason: str | None

    @classmethod
    def of(cls, refund: Refund) -> RefundPublic:
        assert refund.id is not None
        return cls(id=refund.id, bill_id=refund.bill_id, payment_id=refund.payment_id, amount=text(refund.amount),
                   reason=refund.reason, status=refund.status,  # type: ignore[arg-type]
                   requested_by=refund.requested_by, decided_by=refund.decided_by,
                   decision_reason=refund.decision_reason)


class ReceiptPublic(BaseModel):
    number: str
    amount: str
    currency: str
    date: date
    status: Literal["valid", "partly_refunded", "refunded"]


@router.get("/api/cases/{case_id}/bills", dependencies=[allow("bills.read")], response_model=list[BillPublic])
def case_bills(case_id: RowId, session: SessionDep) -> list[BillPublic]:
    cases.load_case(session, case_id)
    return [BillPublic.of(bill) for bill in bills.of_case(session, case_id)]


@router.post("/api/cashier/sessions", dependencies=[allow("cashier.work")], response_model=DrawerPublic,
             status_code=201, response_model_by_alias=True)
def open_drawer(body: DrawerOpen, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> DrawerPublic:
    return DrawerPublic.of(drawers.open_session(session=session, actor=actor, opening=body.float_,
                                                settings=settings))


@router.post("/api/cashier/sessions/{session_id}/close", dependencies=[allow("cashier.work")],
             response_model=DrawerPublic, response_model_by_alias=True)
def close_drawer(session_id: RowId, body: DrawerClose, session: SessionDep, settings: SettingsDep,
                 actor: CurrentActor) -> DrawerPublic:
    return DrawerPublic.of(drawers.close(session=session, session_id=session_id, counted=body.counted, actor=actor,
                                         settings=settings))


@router.post("/api/cashier/sessions/{session_id}/acknowledge", dependencies=[allow("payments.supervise")],
             response_model=DrawerPublic, response_model_by_alias=True)
def acknowledge_difference(session_id: RowId, body: Acknowledge, session: SessionDep, settings: SettingsDep,
                           actor: CurrentActor) -> DrawerPublic:
    return DrawerPublic.of(drawers.acknowledge(session=session, session_id=session_id, reason=body.reason,
                                               actor=actor, settings=settings))


@router.post("/api/bills/{bill_id}/payments", dependencies=[allow("cashier.work")], response_model=PaymentPublic,
             status_code=201)
def pay_bill(bill_id: RowId, body: PaymentIn, session: SessionDep, settings: SettingsDep,
             actor: CurrentActor) -> PaymentPublic:
    paid = payments.pay(session=session, bill_id=bill_id, method=body.method, amount=body.amount,
                        reference=body.reference, actor=actor, settings=settings)
    return PaymentPublic.of(paid.payment, paid.bill.status)


@router.post("/api/bills/{bill_id}/refunds", dependencies=[allow("cashier.work")], response_model=RefundPublic,
             status_code=201)
def ask_refund(bill_id: RowId, body: RefundIn, session: SessionDep, settings: SettingsDep,
               actor: CurrentActor) -> RefundPublic:
    return RefundPublic.of(refunds.request(session=session, bill_id=bill_id, reason=body.reason, actor=actor,
                                           settings=settings, payment_id=body.payment_id, amount=body.amount))


@router.post("/api/refunds/{refund_id}/approve", dependencies=[allow("payments.supervise")],
             response_model=RefundPublic)
def approve_refund(refund_id: RowId, body: Decision, session: SessionDep, settings: SettingsDep,
                   actor: CurrentActor) -> RefundPublic:
    return RefundPublic.of(refunds.decide(session=session, refund_id=refund_id, approve=True, reason=body.reason,
                                          actor=actor, settings=settings))


@router.post("/api/refunds/{refund_id}/refuse", dependencies=[allow("payments.supervise")],
             response_model=RefundPublic)
def refuse_refund(refund_id: RowId, body: Decision, session: SessionDep, settings: SettingsDep,
                  actor: CurrentActor) -> RefundPublic:
    return RefundPublic.of(refunds.decide(session=session, refund_id=refund_id, approve=False, reason=body.reason,
                                          actor=actor, settings=settings))


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str | None = Field(default=None, max_length=32, description="the provider (default: the configured "
                                 "one)")


class CheckoutPublic(BaseModel):
    id: int
    bill_id: int
    provider: str
    reference: str
    payment_url: str
    amount: str
    currency: str
    status: str

    @classmethod
    def of(cls, row: Checkout) -> CheckoutPublic:
        assert row.id is not None
        return cls(id=row.id, bill_id=row.bill_id, provider=row.provider, reference=row.reference,
                   payment_url=row.payment_url, amount=text(row.amount), currency=row.currency, status=row.status)


class CallbackAnswer(BaseModel):
    outcome: Literal["paid", "duplicate", "late", "not_paid"]
    reference: str
    receipt_number: str | None


@router.post("/api/bills/{bill_id}/checkout", dependencies=[allow("payments.checkout")],
             response_model=CheckoutPublic, status_code=201)
def checkout(bill_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor,
             body: CheckoutIn | None = None) -> CheckoutPublic:
    """A payment reference of the open bill's amount due at the provider, and where the citizen pays it."""
    return CheckoutPublic.of(epay.checkout(session=session, bill_id=bill_id, actor=actor, settings=settings,
                                           provider=body.provider if body else None))


class FlaggedPublic(BaseModel):
    id: int
    provider: str
    reference: str
    bill: str
    case_id: int
    amount: str
    currency: str
    provider_amount: str
    provider_currency: str
    created_at: datetime


class ClearIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


@router.get("/api/checkouts/flagged", dependencies=[allow("payments.supervise")],
            response_model=list[FlaggedPublic])
def flagged_checkouts(session: SessionDep, actor: CurrentActor) -> list[FlaggedPublic]:
    """The payment references of the caller's centers that the provider said were paid with another amount or
    currency (flagged ``mismatch``), for a person to look into; oldest first."""
    return [FlaggedPublic(id=f.checkout_id, provider=f.provider, reference=f.reference, bill=f.bill,
                          case_id=f.case_id, amount=text(f.amount), currency=f.currency,
                          provider_amount=text(f.said_amount), provider_currency=f.said_currency,
                          created_at=f.created_at)
            for f in ledger.flagged_references(session=session, actor=actor)]


@router.post("/api/checkouts/{checkout_id}/clear", dependencies=[allow("payments.supervise")],
             response_model=CheckoutPublic)
def clear_flag(checkout_id: RowId, body: ClearIn, session: SessionDep, settings: SettingsDep,
               actor: CurrentActor) -> CheckoutPublic:
    """Take a flagged reference off the list, with the reason (what the provider said when asked): it is
    ``expired``, and still pays the bill if the provider pays its own amount after all. 404 no such reference,
    403 another center's, 409 not flagged (or cleared already)."""
    return CheckoutPublic.of(epay.clear_mismatch(session=session, checkout_id=checkout_id, reason=body.reason,
                                                 actor=actor, settings=settings))


@router.post("/api/payments/{provider}/callback", dependencies=[allow("payments.callback")],
             response_model=CallbackAnswer, tags=["public"])
async def provider_callback(provider: Annotated[str, Path(max_length=32)], request: Request,
                            session: SessionDep, settings: SettingsDep, client: ClientAddress) -> CallbackAnswer:
    """A payment provider's callback: the raw body signed with the provider's secret (docs/front-desk.md,
    "E-payment"). 200 paid, or already settled (the same callback again); 403 a signature or timestamp that
    does not hold; 404 an unknown provider or reference; 409 a reference of a case another node owns (named:
    the provider tries again, the node settles it, docs/center-nodes.md); 422 an amount or currency that is not
    the reference's; 429 too many refused callbacks from one address."""
    raw = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    done = await run_in_threadpool(lambda: epay.callback(session=session, provider=provider, raw=raw,
                                                         headers=headers, settings=settings, client=client))
    return CallbackAnswer(outcome=done.outcome, reference=done.reference,  # type: ignore[arg-type]
                          receipt_number=done.receipt_number)


@router.post("/api/cases/{case_id}/payments/{payment_id}/receipt/print", dependencies=[allow("bills.read")],
             response_class=Response)
def print_receipt(case_id: RowId, payment_id: RowId, request: Request, session: SessionDep, settings: SettingsDep,
                  actor: CurrentActor) -> Response:
    """The payment's receipt as a signed PDF (Arabic, both calendars, the amount in figures and in words, the QR
    code of the public check). Every print is recorded on the case's chain; prints after the first are marked
    "copy N", the number in ``X-Print-Copy`` (0 for the first)."""
    base = settings.public_base_url or str(request.base_url)
    printed = receipts.print_receipt(session=session, case_id=case_id, payment_id=payment_id, actor=actor,
                                     settings=settings, base_url=base)
    return Response(printed.pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{printed.number}.pdf"', "X-Print-Copy": str(printed.copy),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


@router.get("/api/public/receipts/{number}", dependencies=[allow("public")], response_model=ReceiptPublic,
            tags=["public"])
def check_receipt(number: Annotated[str, Path(max_length=40)], session: SessionDep, settings: SettingsDep,
                  client: ClientAddress) -> ReceiptPublic:
    """Anyone holding a receipt checks it: number, amount, date, valid, partly refunded or refunded; nothing
    about the person.
    Wrong numbers count against the tracking page's limits per address."""
    found = ledger.public_receipt(session=session, number=number, settings=settings, client=client)
    return ReceiptPublic(number=found.number, amount=text(found.amount), currency=found.currency, date=found.date,
                         status=found.status)  # type: ignore[arg-type]


@router.get("/api/reports/collections", dependencies=[allow("reports.read")])
def collections(session: SessionDep, settings: SettingsDep, actor: CurrentActor,
                start: Annotated[IsoDate, Query(alias="from", description="first day, included")],
                end: Annotated[IsoDate, Query(alias="to", description="last day, included")],
                by: Literal["day", "service", "center", "cashier", "method"] = "day") -> list[dict[str, Any]]:
    """Collections at the caller's centers grouped by day, service, center, cashier or method: payments, refunds
    and net (decimal strings), count of payments, per currency."""
    rows = ledger.collections(session=session, actor=actor, settings=settings, start=start, end=end, by=by)
    return [{**row, "payments": text(row["payments"]), "refunds": text(row["refunds"]), "net": text(row["net"])}
            for row in rows]


@router.get("/api/reports/collections.csv", dependencies=[allow("reports.read")],
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def collections_csv(session: SessionDep, settings: SettingsDep, actor: CurrentActor,
                    start: Annotated[IsoDate | None, Query(alias="from", description="first day, included")] = None,
                    end: Annotated[IsoDate | None, Query(alias="to", description="last day, included")] = None,
                    center: Annotated[str | None, Query(max_length=32, description="a center's code")] = None,
                    ) -> Response:
    """The supervisor's collections export (today when no days are given): one line per center, drawer,
    cashier, method and currency, then a total per currency; exact decimal amounts; UTF-8 with a byte-order mark
    so a spreadsheet reads the Arabic names. A center outside the caller's is 403."""
    return _collections(session, settings, actor, start, end, center, "csv")


@router.get("/api/reports/collections.xlsx", dependencies=[allow("reports.read")],
            response_class=Response, responses={200: {"content": {xlsxfile.XLSX_TYPE: {}}}})
def collections_xlsx(session: SessionDep, settings: SettingsDep, actor: CurrentActor,
                     start: Annotated[IsoDate | None, Query(alias="from", description="first day, included")] = None,
                     end: Annotated[IsoDate | None, Query(alias="to", description="last day, included")] = None,
                     center: Annotated[str | None, Query(max_length=32, description="a center's code")] = None,
                     ) -> Response:
    """The collections export as an XLSX workbook: the CSV's lines under Arabic headers, right to left; the count
    and the amounts are numbers. A center outside the caller's is 403."""
    return _collections(session, settings, actor, start, end, center, "xlsx")


def _collections(session: Session, settings: Settings, actor: Actor, start: date | None, end: date | None,
                 center: str | None, kind: str) -> Response:
    rows = ledger.drawer_collections(session=session, actor=actor, settings=settings, start=start, end=end,
                                     center=center or None)
    first, last = (start or end), (end or start)
    name = f"collections_{first}_{last}.{kind}" if first else f"collections_today.{kind}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if kind == "xlsx":
        return Response(ledger.collections_xlsx(rows), media_type=xlsxfile.XLSX_TYPE, headers=headers)
    return Response(ledger.collections_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
