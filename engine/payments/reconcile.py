"""The reconciliation round: payment references whose callback never came are asked about at their provider.

A callback can be lost (the provider's retries ran out, our address was down); the citizen has paid and the case
waits. Each round (a job of engine/operations/periodic.py) takes the references still ``pending``
``payment_reconcile_after_minutes`` after they were made, oldest first, and asks each one's provider
(``Provider.status``), holding no transaction while it asks:
- ``paid``: applied exactly as a verified callback is (engine/payments/epay.py ``apply``): the amount and
  currency must be the reference's; the bill is paid and the case moves on, or, when the bill lapsed or was paid
  otherwise meanwhile, the money is recorded and a refund asked. The payment's record says ``via``
  ``reconciliation``;
- over without a payment (``expired``, ``failed``, ``cancelled``, or ``unknown`` to the provider): the reference is
  ``expired`` and ``checkout_expired`` is written on the case's chain; the bill stays open (paid at the
  counter, or by a new reference). A callback paying the expired reference after all is never lost: it pays
  the bill if the bill still owes that amount, else the money is recorded and a refund asked;
- still pending, or no usable answer: left for the next round.
Whatever the provider said is recorded in ``gateway_callback`` like a callback. A round run twice, or beside the
callback itself, changes a reference once: each write locks the case and the reference and finds it no longer
pending.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import Session, col

from engine.cases import workflows
from engine.core import clock
from engine.core.errors import DomainError
from engine.core.settings import Settings
from engine.payments import epay, gateways
from storage import leader
from storage.db import write_lock
from storage.models.base import table
from storage.models.payments import Bill, Checkout, GatewayCallback

log = logging.getLogger("shubbak.payments")
_CHECKOUTS = table(Checkout)
ACTOR = "system:reconciliation"


@dataclass
class Reconciled:
    """One round: references asked, and what came of them."""

    asked: int = 0
    paid: int = 0
    late: int = 0
    expired: int = 0
    pending: int = 0
    failed: int = 0


def due(session: Session, settings: Settings, now: datetime, after_id: int = 0) -> list[tuple[int, str, str]]:
    """(id, provider, reference) of the pending references old enough to ask about, past ``after_id``."""
    cutoff = now - timedelta(minutes=settings.payment_reconcile_after_minutes)
    rows = session.execute(select(col(Checkout.id), col(Checkout.provider), col(Checkout.reference))
                           .where(col(Checkout.status) == "pending", col(Checkout.created_at) <= cutoff,
                                  col(Checkout.id) > after_id)
                           .order_by(col(Checkout.id)).limit(settings.payment_reconcile_batch)).all()
    session.rollback()
    return [(int(i), str(p), str(r)) for i, p, r in rows]


def reconcile(*, session: Session, settings: Settings) -> Reconciled:
    """One round over every reference due now (in pages of ``payment_reconcile_batch``)."""
    done = Reconciled()
    last = 0
    while True:
        page = due(session, settings, clock.now(), last)
        if not page:
            return done
        for checkout_id, provider, reference in page:
            leader.check()  # stop when another process may have taken the job's turn
            done.asked += 1
            _one(session, settings, done, checkout_id, provider, reference)
        last = page[-1][0]


def _one(session: Session, settings: Settings, done: Reconciled, checkout_id: int, provider: str,
         reference: str) -> None:
    try:
        answer = gateways.build(provider, settings).status(reference)
    except (DomainError, gateways.ProviderFailed) as exc:
        done.failed += 1
        log.warning("reconciliation: provider %s said nothing usable about %s: %s", provider, reference, exc)
        return
    body = json.dumps({"via": "reconciliation", "reference": answer.reference, "status": answer.status,
                       "amount": answer.amount, "currency": answer.currency})
    if answer.status == "paid":
        notice = gateways.Notice(reference=reference, status="paid", amount=answer.amount,
                                 currency=answer.currency, timestamp=clock.now().timestamp())
        try:
            outcome = epay.apply(session=session, provider=provider, notice=notice, body=body, settings=settings,
                                 via="reconciliation")
        except DomainError as exc:  # an amount that is not the reference's (recorded as a mismatch), a race
            session.rollback()
            done.failed += 1
            log.warning("reconciliation: %s at %s not applied: %s", reference, provider, exc.message_id)
            return
        if outcome.outcome == "paid":
            done.paid += 1
        elif outcome.outcome == "late":
            done.late += 1
        return
    if answer.status in gateways.OVER:
        done.expired += expire(session, checkout_id, answer.status, body)
        return
    done.pending += 1


def expire(session: Session, checkout_id: int, said: str, body: str) -> int:
    """Mark a still pending reference ``expired`` (1), on the case's chain and in ``gateway_callback``; 0 when
    it is pending no more (its callback, or another round, came first)."""
    found = session.get(Checkout, checkout_id, populate_existing=True)
    if found is None:
        return 0
    case_id = found.case_id
    session.rollback()
    now = clock.now()
    with write_lock(session):
        case, ref = epay.lock_checkout(session, case_id, checkout_id)
        if ref.status != "pending":
            session.rollback()
            return 0
        bill = session.get(Bill, ref.bill_id)
        assert bill is not None
        session.connection().execute(update(_CHECKOUTS).where(_CHECKOUTS.c.id == checkout_id)
                                     .values(status="expired"))
        session.add(GatewayCallback(provider=ref.provider, reference=ref.reference, checkout_id=checkout_id,
                                    status=said, amount=0, currency=ref.currency, outcome="expired", body=body,
                                    received_at=now))
        workflows.append_to_chain(session, case, actor=ACTOR, events=[("checkout_expired", bill.element, {
            "bill": bill.number, "provider": ref.provider, "reference": ref.reference, "provider_status": said})])
        workflows.commit_or_conflict(session)
    return 1
