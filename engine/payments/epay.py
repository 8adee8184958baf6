"""E-payment: a provider's payment reference for a bill (checkout), and the provider's callback that pays it.

Checkout: a clerk or cashier of the bill's center asks the configured provider (engine/payments/gateways/) for a
reference of the open bill's amount due; the reference and where the citizen pays are kept (``checkout``) and
written on the case's chain (``checkout_created``).

Callback (public: the provider has no account): its signature (HMAC-SHA256 of the raw body with the provider's
secret) and timestamp (within ``payment_callback_window_seconds``) must hold, else 403 and the failure counts
against the caller's address (429 past ``payment_callback_max_failures_per_address`` in the window). A callback
that holds is recorded (``gateway_callback``) whatever comes of it:
- ``paid`` for a pending (or expired: engine/payments/reconcile.py) reference of an open bill whose amount due
  it matches: the bill is paid as a cashier's ``e_payment`` is (engine/payments/pay.py ``take``: the next
  receipt number, ``payment_taken`` and ``message_received`` on the case's chain, the case moves on), but in no
  drawer: the payment's ``cashier`` is ``gateway:<provider>`` and its ``session_id`` empty;
- ``duplicate``: the reference was settled already (the same callback again, or two at once): 200, nothing paid;
- ``mismatch``: an amount or currency that is not the reference's: refused (422), nothing paid; the reference
  is flagged ``mismatch`` the first time (``checkout_mismatch`` on the case's chain), for a person to look into;
  it still settles with its own amount and currency;
- ``late``: the bill lapsed, or was paid otherwise, before the provider's payment came: the money is recorded
  (a payment with its receipt, the bill not paid again and no message delivered) and a refund of it is asked
  in the two-person flow (engine/payments/refunds.py), by ``gateway:<provider>``, for a supervisor to decide;
- ``unknown``: no such reference at this provider (404); ``not_paid``: a status other than ``paid`` (200);
- ``elsewhere``: the reference of a case another node owns (a center node's case at central): refused (409
  ``node.checkout_elsewhere``, naming that node, so that the provider tries again), nothing of that node's
  written; the node settles it, from the callback sent to its own address (each reference names the address of
  the node that made it, :func:`gateways.callback_url`) or from its reconciliation round.
Locks, as paying at the counter: the case, the checkout, the bill, the receipt counter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from engine.cases import workflows
from engine.core import clock, nodes, throttle
from engine.core.amounts import text
from engine.core.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.payments import gateways
from engine.payments.pay import bill_for, deliver, lock_case, part_paid, take
from engine.people import policy
from engine.people.users import Actor
from storage.db import write_lock
from storage.models.base import tables
from storage.models.cases import Case
from storage.models.payments import Bill, Checkout, GatewayCallback, Refund

log = logging.getLogger("shubbak.payments")
_BILLS, _CHECKOUTS = tables(Bill, Checkout)
_BODY_KEPT = 8000


def checkout(*, session: Session, bill_id: int, actor: Actor, settings: Settings,
             provider: str | None = None) -> Checkout:
    """A payment reference for the open bill's amount due at ``provider`` (the configured default when None)."""
    bill = bill_for(session, bill_id, actor, settings, "payments.checkout")
    configured = gateways.names(settings)
    name = provider or settings.payment_provider or (configured[0] if configured else None)
    if name is None:
        raise Conflict("epay.no_provider")
    gateway = gateways.build(name, settings)
    if bill.status != "open":
        raise Conflict("bill.already_paid" if bill.status in ("paid", "refunded") else "bill.lapsed",
                       number=bill.number)
    due = bill.amount - bill.paid
    if due <= 0:  # open, yet paid in full: a late payment waits for its refund's decision
        raise Conflict("bill.nothing_due", number=bill.number)
    number, case_id, currency = bill.number, bill.case_id, bill.currency
    session.rollback()  # no transaction held while the provider is asked
    try:
        created = gateway.create(gateways.CheckoutRequest(bill_number=number, amount=due, currency=currency,
                                                          idempotency_key=f"{number}:{due}",
                                                          callback_url=gateways.callback_url(settings, name)))
    except gateways.ProviderFailed as exc:
        log.warning("payment provider %s made no reference for bill %s: %s", name, number, exc)
        raise Unavailable("epay.provider_failed", provider=name) from exc
    now = clock.now()
    with write_lock(session):
        case = lock_case(session, case_id)
        bill = session.execute(select(Bill).where(col(Bill.id) == bill_id).with_for_update()
                               .execution_options(populate_existing=True)).scalars().one()
        if bill.status != "open" or bill.amount - bill.paid != due:
            session.rollback()
            raise Conflict("epay.bill_changed", number=number)
        found = session.execute(select(Checkout).where(col(Checkout.provider) == name,
                                                       col(Checkout.reference) == created.reference)
                                ).scalars().first()
        if found is not None:  # the provider answered a retried request with the reference it made before
            if found.bill_id != bill_id:
                session.rollback()
                raise Unavailable("epay.provider_failed", provider=name)
            session.rollback()
            return found
        row = Checkout(provider=name, reference=created.reference, bill_id=bill_id, case_id=case_id,
                       center_id=bill.center_id, amount=due, currency=currency, payment_url=created.payment_url,
                       status="pending", created_by=actor.username, created_at=now)
        session.add(row)
        session.flush()
        workflows.append_to_chain(session, case, actor=actor.username, events=[("checkout_created", bill.element, {
            "bill": number, "provider": name, "reference": created.reference, "amount": text(due),
            "currency": currency})])
        workflows.commit_or_conflict(session)
    session.expunge(row)
    return row


@dataclass(frozen=True)
class Outcome:
    outcome: str  # paid | duplicate | late | not_paid
    reference: str
    receipt_number: str | None = None


def failure_rule(settings: Settings) -> throttle.Rule:
    return throttle.Rule.fixed("epay-callback", limit=settings.payment_callback_max_failures_per_address,
                               window_seconds=settings.payment_callback_failure_window_seconds)


def callback(*, session: Session, provider: str, raw: bytes, headers: Mapping[str, str], settings: Settings,
             client: str | None) -> Outcome:
    """Read, check and apply one provider callback (the module's docstring says what comes of it)."""
    pairs = [(failure_rule(settings), client or "")]
    throttle.check(settings, "epay.too_many_failures", *pairs)
    try:
        gateway = gateways.build(provider, settings)
    except NotFound:
        throttle.fail(settings, *pairs)
        raise
    try:
        notice = gateway.verify(raw, headers, now=time.time(), window=settings.payment_callback_window_seconds)
    except gateways.BadCallback as exc:
        throttle.fail(settings, *pairs)
        log.warning("payment callback from %s refused (%s): %s", client, provider, exc.reason)
        raise Forbidden("epay.bad_callback") from exc
    return apply(session=session, provider=provider, notice=notice, body=raw[:_BODY_KEPT].decode("utf-8", "replace"),
                 settings=settings)


def lock_checkout(session: Session, case_id: int, checkout_id: int) -> tuple[Case, Checkout]:
    """The case's row, then its checkout reference's, locked and read afresh (the callback and the
    reconciliation round both settle a reference this way, in the same order)."""
    case = lock_case(session, case_id)
    ref = session.execute(select(Checkout).where(col(Checkout.id) == checkout_id).with_for_update()
                          .execution_options(populate_existing=True)).scalars().one()
    return case, ref


#: The states of a reference that a provider's ``paid`` still settles.
OPEN = ("pending", "expired", "mismatch")


def flag_mismatch(session: Session, case: Case, ref: Checkout, notice: gateways.Notice, via: str | None) -> None:
    """Flag the (locked) reference ``mismatch``: the provider says another amount or currency was paid. The
    reconciliation round asks about it no more; ``checkout_mismatch`` on the case's chain says what was said,
    once; the supervisor's payments page lists it for a person to look into (engine/payments/ledger.py)."""
    session.connection().execute(update(_CHECKOUTS).where(_CHECKOUTS.c.id == ref.id).values(status="mismatch"))
    bill = session.get(Bill, ref.bill_id)
    assert bill is not None
    workflows.append_to_chain(session, case, actor=f"gateway:{ref.provider}", events=[(
        "checkout_mismatch", bill.element, {
            "bill": bill.number, "provider": ref.provider, "reference": ref.reference, "amount": text(ref.amount),
            "currency": ref.currency, "provider_amount": text(notice.amount), "provider_currency": notice.currency,
            "via": via or "callback"})])


def apply(*, session: Session, provider: str, notice: gateways.Notice, body: str, settings: Settings,
          via: str | None = None) -> Outcome:
    """What a notice the provider stands behind does (a verified callback, or, ``via`` ``reconciliation``, its
    answer to the reconciliation round's question: engine/payments/reconcile.py), recorded in
    ``gateway_callback`` with ``body``. A reference the round expired that the provider pays after all is
    applied like a pending one: it pays the bill if the bill still owes that amount, else it is ``late``."""
    found = session.execute(select(Checkout).where(col(Checkout.provider) == provider,
                                                   col(Checkout.reference) == notice.reference)).scalars().first()

    def note(outcome: str, checkout_id: int | None) -> None:
        session.add(GatewayCallback(provider=provider, reference=notice.reference, checkout_id=checkout_id,
                                    status=notice.status, amount=notice.amount, currency=notice.currency,
                                    outcome=outcome, body=body, received_at=clock.now()))

    if found is None:
        session.rollback()
        with write_lock(session):
            note("unknown", None)
            session.commit()
        raise NotFound("epay.unknown_reference")
    case_id, checkout_id, found_status = found.case_id, found.id, found.status
    case_node, owner = None, None
    if not nodes.is_single(session):  # a single installation has no other node's case: nothing more to ask
        case_node = session.execute(select(col(Case.node)).where(col(Case.id) == case_id)).scalar()
        owner = nodes.owner_of(session, case_node)
    session.rollback()
    if owner is not None:
        # Another node's case (a center node's, replicated here, or the other way): settled there, by its own
        # callback address or its reconciliation round. Kept here as heard, with no link to that node's rows.
        with write_lock(session):
            note("elsewhere", None)
            session.commit()
        if found_status not in OPEN:
            # The owner settled it already (its callback or its reconciliation round; the row replicated): a
            # provider that calls one address for every node hears it is done, rather than 409 until it gives up.
            return Outcome("duplicate", notice.reference)
        log.warning("payment callback from %s for reference %s of another node's case (%s): not settled here",
                    provider, notice.reference, case_node or "central")
        raise nodes.CaseElsewhere("node.checkout_elsewhere", owner=owner)
    now = clock.now()
    with write_lock(session):
        case, ref = lock_checkout(session, case_id, checkout_id)
        if ref.status not in OPEN:
            note("duplicate", checkout_id)
            session.commit()
            return Outcome("duplicate", notice.reference)
        if notice.status != "paid":
            note("not_paid", checkout_id)
            session.commit()
            return Outcome("not_paid", notice.reference)
        if notice.amount != ref.amount or notice.currency != ref.currency:
            note("mismatch", checkout_id)
            if ref.status != "mismatch":  # flagged once, however often the provider says it again
                flag_mismatch(session, case, ref, notice, via)
                log.warning("payment reference %s at %s flagged: the provider says %s %s was paid, not %s %s",
                            ref.reference, provider, text(notice.amount), notice.currency, text(ref.amount),
                            ref.currency)
            workflows.commit_or_conflict(session)
            raise Invalid("epay.amount_mismatch", [problem("amount", "epay.amount_mismatch_detail",
                                                           expected=text(ref.amount), currency=ref.currency)])
        bill = session.execute(select(Bill).where(col(Bill.id) == ref.bill_id).with_for_update()
                               .execution_options(populate_existing=True)).scalars().one()
        who = f"gateway:{provider}"
        late = bill.status != "open" or bill.amount - bill.paid != ref.amount
        payment, record = take(session, bill, method="e_payment", applied=ref.amount, tendered=ref.amount,
                               change=0, reference=ref.reference, cashier=who, session_id=None, now=now,
                               settings=settings)
        record["provider"] = provider
        if via is not None:
            record["via"] = via
        events: list[tuple[str, str | None, dict[str, Any]]] = [("payment_taken", bill.element, record)]
        values: dict[str, Any] = {"status": "to_refund" if late else "paid", "payment_id": payment.id}
        session.connection().execute(update(_CHECKOUTS).where(_CHECKOUTS.c.id == checkout_id).values(**values))
        note("late" if late else "paid", checkout_id)
        number = record["receipt_number"]
        if late:
            assert payment.id is not None
            reason = f"paid through {provider} when the bill was {bill.status}"
            refund = Refund(payment_id=payment.id, bill_id=bill.id, case_id=case_id, center_id=bill.center_id,
                            amount=ref.amount, reason=reason, status="requested", requested_by=who,
                            requested_at=now)
            session.add(refund)
            session.flush()
            events.append(("refund_requested", None, {
                "refund_id": refund.id, "bill": bill.number, "receipt_number": number,
                "amount": text(ref.amount), "currency": ref.currency, "reason": reason}))
            workflows.append_to_chain(session, case, actor=who, events=events)
            workflows.commit_or_conflict(session)
            log.warning("late payment callback for bill %s (%s): refund %s asked", bill.number, bill.status,
                        refund.id)
            return Outcome("late", notice.reference, number)
        if record["settled"]:
            deliver(session, case, bill, events, number, who, settings, now)
        else:
            part_paid(session, case, who, events, settings, now)
    return Outcome("paid", notice.reference, number)


def clear_mismatch(*, session: Session, checkout_id: int, reason: str, actor: Actor, settings: Settings) -> Checkout:
    """A supervisor of the reference's center, having looked into a flagged ``mismatch`` (with the provider),
    takes it off the list with a reason: the reference is ``expired`` (``mismatch_cleared`` on the case's chain).
    Expired, it still pays the bill if the provider pays it with its own amount after all (:func:`apply`), so no
    money is lost by clearing it. NotFound for no such reference, Conflict when it is not (or no longer) flagged."""
    policy.require(actor, "payments.supervise", settings)
    why = (reason or "").strip()
    if not why:
        raise Invalid("epay.reason_needed", [problem("reason", "epay.reason_needed")])
    found = session.get(Checkout, checkout_id, populate_existing=True)
    if found is None:
        raise NotFound("epay.no_such_checkout", checkout_id=checkout_id)
    policy.require_center(session, actor, found.center_id)
    case_id = found.case_id
    session.rollback()
    with write_lock(session):
        case, ref = lock_checkout(session, case_id, checkout_id)
        if ref.status != "mismatch":
            session.rollback()
            raise Conflict("epay.not_flagged", reference=ref.reference, status=ref.status)
        bill = session.get(Bill, ref.bill_id)
        assert bill is not None
        session.connection().execute(update(_CHECKOUTS).where(_CHECKOUTS.c.id == checkout_id)
                                     .values(status="expired"))
        workflows.append_to_chain(session, case, actor=actor.username, events=[("mismatch_cleared", bill.element, {
            "bill": bill.number, "provider": ref.provider, "reference": ref.reference, "reason": why})])
        workflows.commit_or_conflict(session)
    ref.status = "expired"
    session.expunge(ref)
    return ref
