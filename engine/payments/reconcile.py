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
- ``paid`` with another amount or currency: nothing paid; the reference is flagged ``mismatch`` once (by
  engine/payments/epay.py ``apply``: ``checkout_mismatch`` on the case's chain) and is not asked again: a person
  must look at it (the supervisor's payments page lists it);
- still pending, or no usable answer: left for the next round, until the reference is
  ``payment_reference_expire_days`` old: then it is ``expired`` all the same, with ``checkout_expired`` saying
  why (``"cause": "too_old"``, what the provider last said), so that no reference stays pending for ever.
Whatever the provider said is recorded in ``gateway_callback`` like a callback. A round run twice, or beside the
callback itself, changes a reference once: each write locks the case and the reference and finds it no longer
pending.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from engine.cases import workflows
from engine.core import clock, nodes
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
    mismatch: int = 0


@dataclass(frozen=True)
class Due:
    """A pending reference to ask about; ``too_old``: past ``payment_reference_expire_days``."""

    id: int
    provider: str
    reference: str
    too_old: bool


def due(session: Session, settings: Settings, now: datetime, after_id: int = 0) -> list[Due]:
    """The pending references old enough to ask about, past ``after_id``."""
    cutoff = now - timedelta(minutes=settings.payment_reconcile_after_minutes)
    oldest = now - timedelta(days=settings.payment_reference_expire_days)
    rows = session.execute(select(col(Checkout.id), col(Checkout.provider), col(Checkout.reference),
                                  col(Checkout.created_at))
                           .where(col(Checkout.status) == "pending", col(Checkout.created_at) <= cutoff,
                                  col(Checkout.id) > after_id,
                                  # this node's cases only: another node settles its own (engine/core/nodes.py)
                                  nodes.of_my_cases(col(Checkout.case_id), settings.node_center))
                           .order_by(col(Checkout.id)).limit(settings.payment_reconcile_batch)).all()
    session.rollback()
    return [Due(int(i), str(p), str(r), _aware(made) <= oldest) for i, p, r, made in rows]


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive UTC times."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def reconcile(*, session: Session, settings: Settings) -> Reconciled:
    """One round over every reference due now (in pages of ``payment_reconcile_batch``)."""
    done = Reconciled()
    last = 0
    while True:
        page = due(session, settings, clock.now(), last)
        if not page:
            return done
        for ref in page:
            leader.check()  # stop when another process may have taken the job's turn
            done.asked += 1
            _one(session, settings, done, ref)
        last = page[-1].id


def _one(session: Session, settings: Settings, done: Reconciled, ref: Due) -> None:
    checkout_id, provider, reference = ref.id, ref.provider, ref.reference
    try:
        answer = gateways.build(provider, settings).status(reference)
    except (DomainError, gateways.ProviderFailed) as exc:
        log.warning("reconciliation: provider %s said nothing usable about %s: %s", provider, reference, exc)
        if ref.too_old:
            body = json.dumps({"via": "reconciliation", "reference": reference, "status": "no_answer"})
            done.expired += expire(session, checkout_id, "no_answer", body,
                                   after_days=settings.payment_reference_expire_days)
        else:
            done.failed += 1
        return
    body = json.dumps({"via": "reconciliation", "reference": answer.reference, "status": answer.status,
                       "amount": answer.amount, "currency": answer.currency})
    if answer.status == "paid":
        notice = gateways.Notice(reference=reference, status="paid", amount=answer.amount,
                                 currency=answer.currency, timestamp=clock.now().timestamp())
        try:
            outcome = epay.apply(session=session, provider=provider, notice=notice, body=body, settings=settings,
                                 via="reconciliation")
        except DomainError as exc:  # an amount that is not the reference's (flagged as a mismatch), a race
            session.rollback()
            if exc.message_id == "epay.amount_mismatch":
                done.mismatch += 1
            else:
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
    if ref.too_old:
        done.expired += expire(session, checkout_id, answer.status, body,
                               after_days=settings.payment_reference_expire_days)
        return
    done.pending += 1


def expire(session: Session, checkout_id: int, said: str, body: str, after_days: int | None = None) -> int:
    """Mark a still pending reference ``expired`` (1), on the case's chain and in ``gateway_callback``; 0 when
    it is pending no more (its callback, or another round, came first). ``after_days``: it is expired for its
    age (``payment_reference_expire_days``), not because the provider said it is over."""
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
        record: dict[str, Any] = {"bill": bill.number, "provider": ref.provider, "reference": ref.reference,
                                  "provider_status": said}
        if after_days is not None:
            record.update(cause="too_old", after_days=after_days)
        workflows.append_to_chain(session, case, actor=ACTOR, events=[("checkout_expired", bill.element, record)])
        workflows.commit_or_conflict(session)
    return 1
