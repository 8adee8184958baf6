"""What the payments add up to: the public check of a receipt, and the collections report of leadership.

The ledger is the ``payment`` table: payments are positive, approved refunds negative rows of their own, so a
sum over any range is what was collected less what was given back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session, col

from engine.core import throttle, tracking
from engine.core.errors import NotFound
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from forms.digits import ascii_digits
from storage.models.payments import Payment


@dataclass(frozen=True)
class PublicReceipt:
    """What anyone holding a receipt may check: no name, no case, no cashier."""

    number: str
    amount: int
    currency: str
    date: date
    status: str  # valid | refunded


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
    refunded = session.execute(select(func.count()).select_from(Payment).where(
        col(Payment.refund_of) == payment.id)).scalar_one()
    at = payment.at if payment.at.tzinfo else payment.at.replace(tzinfo=ZoneInfo("UTC"))
    return PublicReceipt(number=clean, amount=payment.amount, currency=payment.currency,
                         date=at.astimezone(ZoneInfo(settings.display_timezone)).date(),
                         status="refunded" if refunded else "valid")


def payment_of_case(session: Session, case_id: int, payment_id: int) -> tuple[Payment, bool]:
    """A payment taken on the case (its receipt), and whether it was refunded since; NotFound otherwise."""
    payment = session.get(Payment, payment_id)
    if payment is None or payment.case_id != case_id or payment.kind != "payment":
        raise NotFound("receipt.not_found")
    refunded = session.execute(select(func.count()).select_from(Payment).where(
        col(Payment.refund_of) == payment.id)).scalar_one()
    return payment, bool(refunded)


GROUPS = ("day", "service", "center", "cashier", "method")


def collections(*, session: Session, actor: Actor, settings: Settings, start: date, end: date,
                by: str) -> list[dict[str, Any]]:
    """Collections between ``start`` and ``end`` (days in the display time zone, both included) grouped ``by``
    one of :data:`GROUPS`, at the actor's centers: payments, refunds and their net, per currency."""
    zone = ZoneInfo(settings.display_timezone)
    since = datetime.combine(start, time.min, zone)
    until = datetime.combine(end + timedelta(days=1), time.min, zone)
    query = select(Payment).where(col(Payment.at) >= since, col(Payment.at) < until)
    seen = policy.centers_seen(session, actor)
    if seen is not None:
        query = query.where(col(Payment.center_id).in_(seen))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for payment in session.execute(query.order_by(col(Payment.at), col(Payment.id))).scalars():
        at = payment.at if payment.at.tzinfo else payment.at.replace(tzinfo=ZoneInfo("UTC"))
        key = {"day": at.astimezone(zone).date().isoformat(), "service": payment.service_code,
               "center": str(payment.center_id) if payment.center_id is not None else "",
               "cashier": payment.cashier, "method": payment.method}[by]
        row = out.setdefault((key, payment.currency), {by: key, "currency": payment.currency, "payments": 0,
                                                       "refunds": 0, "count": 0})
        if payment.kind == "refund":
            row["refunds"] += -payment.amount
        else:
            row["payments"] += payment.amount
            row["count"] += 1
    rows = [out[k] for k in sorted(out)]
    for row in rows:
        row["net"] = row["payments"] - row["refunds"]
    return rows
