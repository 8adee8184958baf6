"""What the payments add up to: the public check of a receipt, the collections report of leadership, and the
supervisor's collections export per center and drawer (CSV and XLSX).

The ledger is the ``payment`` table: payments are positive, approved refunds negative rows of their own, so a
sum over any range is what was collected less what was given back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session, col

from engine.core import clock, csvfile, throttle, tracking, xlsxfile
from engine.core.errors import NotFound
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from engine.reports.scope import scope_for
from forms.digits import ascii_digits
from storage.models.centers import Center
from storage.models.payments import Bill, CashierSession, Checkout, GatewayCallback, Payment
from storage.models.people import User


@dataclass(frozen=True)
class PublicReceipt:
    """What anyone holding a receipt may check: no name, no case, no cashier."""

    number: str
    amount: int
    currency: str
    date: date
    status: str  # valid | partly_refunded | refunded


def public_receipt(*, session: Session, number: str, settings: Settings, client: str | None) -> PublicReceipt:
    """The receipt ``number``; NotFound otherwise, counted like the tracking page's wrong guesses (per number and
    per client address: engine/core/tracking.py), so receipt numbers cannot be walked."""
    clean = ascii_digits(number.strip()).upper()[:40]
    pairs = tracking.check_guesses(settings, f"receipt:{clean}", client)
    payment = session.execute(select(Payment).where(col(Payment.receipt_number) == clean,
                                                    col(Payment.kind) == "payment")).scalars().first()
    if payment is None:
        throttle.fail(settings, *pairs)
        raise NotFound("receipt.not_found")
    given = refunded_of(session, payment)
    at = payment.at if payment.at.tzinfo else payment.at.replace(tzinfo=ZoneInfo("UTC"))
    return PublicReceipt(number=clean, amount=payment.amount, currency=payment.currency,
                         date=at.astimezone(ZoneInfo(settings.display_timezone)).date(),
                         status="refunded" if given >= payment.amount else "partly_refunded" if given else "valid")


def refunded_of(session: Session, payment: Payment) -> int:
    """How much of ``payment`` was given back since (minor units; refunds are rows of negative amounts)."""
    return -int(session.execute(select(func.coalesce(func.sum(col(Payment.amount)), 0)).where(
        col(Payment.refund_of) == payment.id)).scalar_one())


def payment_of_case(session: Session, case_id: int, payment_id: int) -> tuple[Payment, int]:
    """A payment taken on the case (its receipt), and how much of it was refunded since (minor units, 0 for
    none: a partial refund is not a whole one); NotFound otherwise."""
    payment = session.get(Payment, payment_id)
    if payment is None or payment.case_id != case_id or payment.kind != "payment":
        raise NotFound("receipt.not_found")
    return payment, refunded_of(session, payment)


@dataclass(frozen=True)
class Flagged:
    """A payment reference flagged ``mismatch`` (engine/payments/epay.py): the provider said another amount or
    currency was paid. ``said_*``: what it said last."""

    checkout_id: int
    provider: str
    reference: str
    bill: str
    case_id: int
    amount: int
    currency: str
    said_amount: int
    said_currency: str
    created_at: datetime


def flagged_references(*, session: Session, actor: Actor) -> list[Flagged]:
    """The references flagged ``mismatch`` at the actor's centers, oldest first, for a person to look into."""
    query = (select(Checkout, Bill).join(Bill, col(Bill.id) == col(Checkout.bill_id))
             # By when each was made, not by id: a center node's ids (its block) are above every one of central's.
             .where(col(Checkout.status) == "mismatch").order_by(col(Checkout.created_at), col(Checkout.id)))
    seen = policy.centers_seen(session, actor)
    if seen is not None:
        query = query.where(col(Checkout.center_id).in_(seen))
    found = session.execute(query).all()
    said = {cb.checkout_id: cb for cb in session.execute(
        select(GatewayCallback).where(col(GatewayCallback.checkout_id).in_([ref.id for ref, _ in found]),
                                      col(GatewayCallback.outcome) == "mismatch")
        .order_by(col(GatewayCallback.id))).scalars()}
    out = []
    for ref, bill in found:
        assert ref.id is not None
        last = said.get(ref.id)
        out.append(Flagged(checkout_id=ref.id, provider=ref.provider, reference=ref.reference, bill=bill.number,
                           case_id=ref.case_id, amount=ref.amount, currency=ref.currency,
                           said_amount=last.amount if last else 0, said_currency=last.currency if last else "",
                           created_at=ref.created_at))
    return out


GROUPS = ("day", "service", "center", "cashier", "method")


def collections(*, session: Session, actor: Actor, settings: Settings, start: date, end: date,
                by: str, center_ids: frozenset[int] | None = None) -> list[dict[str, Any]]:
    """Collections between ``start`` and ``end`` (days in the display time zone, both included) grouped ``by``
    one of :data:`GROUPS`, at the actor's centers (of those, ``center_ids`` when given: a report's chosen
    center): payments, refunds and their net, per currency. Days out of range, a reversed or too long range are
    Invalid (the reports' rules: engine/reports/scope.py)."""
    zone = ZoneInfo(settings.display_timezone)
    scope = scope_for(session=session, actor=actor, settings=settings, start=start, end=end)
    since, until = _utc_days(scope.start, scope.end, zone)
    query = select(Payment).where(col(Payment.at) >= since, col(Payment.at) < until)
    if scope.center_ids is not None:
        query = query.where(col(Payment.center_id).in_(scope.center_ids))
    if center_ids is not None:
        query = query.where(col(Payment.center_id).in_(center_ids))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for payment in session.execute(query.order_by(col(Payment.at), col(Payment.id))).scalars():
        at = payment.at if payment.at.tzinfo else payment.at.replace(tzinfo=ZoneInfo("UTC"))
        key = {"day": at.astimezone(zone).date().isoformat(), "service": payment.service_code,
               "center": str(payment.center_id) if payment.center_id is not None else "",
               "cashier": payment.cashier, "method": payment.method}[by]
        row = out.setdefault((key, payment.currency), {by: key, "currency": payment.currency, "payments": 0,
                                                       "refunds": 0, "count": 0})
        _tally(row, payment)
    rows = [out[k] for k in sorted(out)]
    for row in rows:
        row["net"] = row["payments"] - row["refunds"]
    return rows


def _tally(line: dict[str, Any], payment: Payment) -> None:
    """Add ``payment`` to a line's ``payments`` (and its ``count``), or a refund to its ``refunds`` (positive)."""
    if payment.kind == "refund":
        line["refunds"] += -payment.amount
    else:
        line["payments"] += payment.amount
        line["count"] += 1


#: The columns of the collections export, in order.
EXPORT_COLUMNS = ["center_code", "center_name", "drawer", "opened_at", "closed_at", "cashier", "cashier_name",
                  "method", "currency", "count", "payments", "refunds", "net"]
#: The columns' headers in the XLSX export: Arabic, the language of the centers.
EXPORT_HEADERS_AR = {"center_code": "رمز المركز", "center_name": "اسم المركز", "drawer": "جلسة الخزينة",
                     "opened_at": "فُتحت في", "closed_at": "أُغلقت في", "cashier": "أمين الخزينة",
                     "cashier_name": "اسم أمين الخزينة", "method": "طريقة الدفع", "currency": "العملة",
                     "count": "عدد المدفوعات", "payments": "المدفوعات", "refunds": "المردودات", "net": "الصافي"}
#: The cashier column of a total line (one per currency, at the end).
TOTAL = "المجموع / total"


def exact(minor_units: int) -> Decimal:
    """Minor units as an exact decimal with two places (15050 -> Decimal("150.50")), never a float."""
    return Decimal(minor_units).scaleb(-2)


def drawer_collections(*, session: Session, actor: Actor, settings: Settings, start: date | None,
                       end: date | None, center: str | None = None) -> list[dict[str, Any]]:
    """The supervisor's collections export: one line per center, drawer session, cashier, method and currency
    between ``start`` and ``end`` (days in the display time zone, both included), then a total per currency.
    ``center`` (a code) narrows to that center and those below it; a center outside the actor's is Forbidden,
    a reversed or too long range Invalid (the reports' rules: engine/reports/scope.py). Amounts are Decimals.
    A payment through a provider has no drawer (its cashier is ``gateway:<provider>``); an approved refund is
    charged to the drawer (and cashier) that took the payment (engine/payments/refunds.py), on that line."""
    zone = ZoneInfo(settings.display_timezone)
    if start is None and end is None:  # today where the center is, not in UTC
        start = end = clock.now().astimezone(zone).date()
    scope = scope_for(session=session, actor=actor, settings=settings, start=start, end=end, center=center)
    since, until = _utc_days(scope.start, scope.end, zone)
    query = (select(Payment, Center).outerjoin(Center, col(Center.id) == col(Payment.center_id))
             .where(col(Payment.at) >= since, col(Payment.at) < until))
    if scope.center_ids is not None:
        query = query.where(col(Payment.center_id).in_(scope.center_ids))
    lines: dict[tuple[Any, ...], dict[str, Any]] = {}
    for payment, found in session.execute(query.order_by(col(Payment.id))).all():
        key = (found.code if found else "", payment.session_id or 0, payment.cashier, payment.method,
               payment.currency)
        line = lines.setdefault(key, {"center_code": key[0], "center_name": found.name_ar if found else "",
                                      "drawer": payment.session_id, "cashier": payment.cashier,
                                      "method": payment.method, "currency": payment.currency, "count": 0,
                                      "payments": 0, "refunds": 0})
        _tally(line, payment)
    names = {str(username): str(full_name) for username, full_name in session.execute(
        select(col(User.username), col(User.full_name)).where(col(User.username).in_({k[2] for k in lines})))}
    drawers = {d.id: d for d in session.execute(select(CashierSession).where(
        col(CashierSession.id).in_({k[1] for k in lines if k[1]}))).scalars()}
    session.rollback()
    rows: list[dict[str, Any]] = []
    totals: dict[str, dict[str, Any]] = {}
    for key in sorted(lines):
        line = lines[key]
        drawer = drawers.get(line["drawer"])
        total = totals.setdefault(line["currency"], {"count": 0, "payments": 0, "refunds": 0})
        for field in ("count", "payments", "refunds"):
            total[field] += line[field]
        rows.append({**line, "opened_at": _local(drawer.opened_at, zone) if drawer else None,
                     "closed_at": _local(drawer.closed_at, zone) if drawer and drawer.closed_at else None,
                     "cashier_name": names.get(line["cashier"], ""), "payments": exact(line["payments"]),
                     "refunds": exact(line["refunds"]), "net": exact(line["payments"] - line["refunds"])})
    for currency in sorted(totals):
        total = totals[currency]
        rows.append({"center_code": "", "center_name": "", "drawer": None, "opened_at": None, "closed_at": None,
                     "cashier": TOTAL, "cashier_name": "", "method": "", "currency": currency,
                     "count": total["count"], "payments": exact(total["payments"]),
                     "refunds": exact(total["refunds"]), "net": exact(total["payments"] - total["refunds"])})
    return rows


def _utc_days(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The moments from the start of ``start`` to the end of ``end`` (days in ``zone``), in UTC: the zone the
    payments were written in. SQLite compares timestamps as text and drops a bound's zone, so a bound left in
    Cairo time would shift the days by its offset (a payment at 00:45 in Cairo counted on the day before)."""
    return (datetime.combine(start, time.min, zone).astimezone(UTC),
            datetime.combine(end + timedelta(days=1), time.min, zone).astimezone(UTC))


def _local(moment: datetime, zone: ZoneInfo) -> str:
    at = moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def collections_csv(rows: list[dict[str, Any]]) -> bytes:
    """The export as CSV: UTF-8 with a byte-order mark (Excel reads the Arabic names), formulas made inert."""
    return csvfile.to_csv(rows, EXPORT_COLUMNS)


def collections_xlsx(rows: list[dict[str, Any]]) -> bytes:
    """The export as an XLSX workbook: the same lines as the CSV under Arabic headers, right to left; the count
    and the amounts are numbers (exact two-place decimals), a name that is a formula stays text."""
    return xlsxfile.to_xlsx(rows, "التحصيلات", EXPORT_COLUMNS, EXPORT_HEADERS_AR, right_to_left=True)
