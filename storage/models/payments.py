"""Money at the center: the bills the diagrams issue, the cashiers' drawer sessions and their own hash chain, the
payments and their gap-free receipts, and refunds.

Only ``engine/cases/bills.py`` (bills, in the case's transaction) and ``engine/payments/`` write these tables.
Amounts are integers in the currency's minor unit (piastres, halalas): exact, and the same on SQLite and
PostgreSQL. Nothing here is ever deleted or edited back: a refund is a row of its own that reverses a payment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, PrimaryKeyConstraint, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.models.base import ChainLink, _big, _ts, utcnow


class Bill(SQLModel, table=True):
    """What a case owes, issued when it reaches a wait for ``payment_received``. ``task_id`` is the waiting
    task (the message goes to it); ``status``: ``open``, ``paid``, ``lapsed`` (the diagram's timer fired first)."""

    __tablename__ = "bill"
    __table_args__ = (Index("ix_bill_case", "case_id"), Index("ix_bill_status_center", "status", "center_id"))

    id: int | None = _big(default=None, primary_key=True)
    number: str = Field(max_length=48, unique=True)
    case_id: int = _big(foreign_key="case_file.id")
    center_id: int | None = Field(default=None, foreign_key="center.id")
    service_code: str = Field(max_length=100)
    task_id: str = Field(max_length=36)
    element: str = Field(max_length=255)
    currency: str = Field(max_length=3)
    amount: int = Field(sa_type=BigInteger)  # type: ignore[call-overload]
    paid: int = Field(default=0, sa_type=BigInteger)  # type: ignore[call-overload]
    items: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    partial_allowed: bool = False
    status: str = Field(max_length=16, default="open")
    issued_at: datetime = _ts(default_factory=utcnow)
    due_at: datetime | None = _ts(default=None, nullable=True)
    settled_at: datetime | None = _ts(default=None, nullable=True)


class CashierSession(SQLModel, table=True):
    """A cashier's drawer from opening to counting. ``opening`` (the float), ``expected``, ``counted`` and
    ``difference`` map a method to an amount in minor units. ``audit_seq``/``audit_head`` are the head of the
    session's own hash chain (``cashier_event``), as a case row keeps its chain's head. At most one open
    session per cashier and node: a partial unique index (``ux_cashier_session_open``) holds it in the database,
    whatever two requests racing past the application's check do. ``node``: the center node the drawer is open at
    (its code), '' on central and on a single installation; a cashier may have one open at central and one at a
    node, which neither can see (docs/center-nodes.md)."""

    __tablename__ = "cashier_session"
    __table_args__ = (Index("ix_cashier_session_cashier_status", "cashier", "status"),
                      Index("ux_cashier_session_open", "cashier", "node", unique=True,
                            sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")))

    id: int | None = _big(default=None, primary_key=True)
    cashier: str = Field(max_length=64)
    center_id: int | None = Field(default=None, foreign_key="center.id")
    status: str = Field(max_length=16, default="open")
    opening: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    expected: dict[str, int] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    counted: dict[str, int] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    difference: dict[str, int] | None = Field(default=None,
                                              sa_column=Column(JSON(none_as_null=True), nullable=True))
    opened_at: datetime = _ts(default_factory=utcnow)
    closed_at: datetime | None = _ts(default=None, nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = _ts(default=None, nullable=True)
    acknowledge_reason: str | None = Field(default=None, max_length=1000)
    audit_seq: int = 0
    audit_head: str = Field(default="", max_length=64)
    node: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})


class CashierEvent(ChainLink, table=True):
    """One link of a drawer session's hash chain (opened, payment, closed, difference acknowledged)."""

    __tablename__ = "cashier_event"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: int | None = _big(default=None, primary_key=True)
    session_id: int = _big(foreign_key="cashier_session.id")


class Payment(SQLModel, table=True):
    """Money in (``kind`` ``payment``, ``amount`` > 0) or back out (``refund``, ``amount`` < 0, ``refund_of``
    the payment it reverses, in that payment's drawer ``session_id`` and under its ``cashier``). ``tendered`` and
    ``change`` are what the citizen handed over and got back."""

    __tablename__ = "payment"
    __table_args__ = (Index("ix_payment_bill", "bill_id"), Index("ix_payment_at", "at"),
                      Index("ix_payment_session", "session_id"))

    id: int | None = _big(default=None, primary_key=True)
    kind: str = Field(max_length=16, default="payment")
    bill_id: int = _big(foreign_key="bill.id")
    case_id: int = _big(foreign_key="case_file.id")
    center_id: int | None = Field(default=None, foreign_key="center.id")
    service_code: str = Field(max_length=100)
    session_id: int | None = _big(default=None, foreign_key="cashier_session.id")
    cashier: str = Field(max_length=64)
    method: str = Field(max_length=16)
    currency: str = Field(max_length=3)
    amount: int = Field(sa_type=BigInteger)  # type: ignore[call-overload]
    tendered: int = Field(default=0, sa_type=BigInteger)  # type: ignore[call-overload]
    change: int = Field(default=0, sa_type=BigInteger)  # type: ignore[call-overload]
    reference: str | None = Field(default=None, max_length=100)
    receipt_number: str | None = Field(default=None, max_length=40, unique=True)
    refund_of: int | None = _big(default=None, foreign_key="payment.id")
    at: datetime = _ts(default_factory=utcnow)


class ReceiptCounter(SQLModel, table=True):
    """The last receipt number given at a center in a year: locked in the payment's transaction, so numbers
    come without gaps or duplicates whatever the number of cashiers."""

    __tablename__ = "receipt_counter"
    __table_args__ = (PrimaryKeyConstraint("center_code", "year"),)

    center_code: str = Field(max_length=32)
    year: int
    last: int = 0


class Refund(SQLModel, table=True):
    """A cashier's request to give a payment back (all of it, or ``amount`` of it), and a supervisor's decision on
    it (two people)."""

    __tablename__ = "refund"
    __table_args__ = (Index("ix_refund_status_center", "status", "center_id"),)

    id: int | None = _big(default=None, primary_key=True)
    payment_id: int = _big(foreign_key="payment.id")
    bill_id: int = _big(foreign_key="bill.id")
    case_id: int = _big(foreign_key="case_file.id")
    center_id: int | None = Field(default=None, foreign_key="center.id")
    amount: int = Field(sa_type=BigInteger)  # type: ignore[call-overload]
    reason: str = Field(max_length=1000)
    status: str = Field(max_length=16, default="requested")
    requested_by: str = Field(max_length=64)
    requested_at: datetime = _ts(default_factory=utcnow)
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = _ts(default=None, nullable=True)
    decision_reason: str | None = Field(default=None, max_length=1000)
    reversal_id: int | None = _big(default=None, foreign_key="payment.id")


class Checkout(SQLModel, table=True):
    """A payment reference a provider made for a bill (engine/payments/checkout.py): the provider's own
    reference, the amount and currency asked, where the citizen pays. ``status``: ``pending``, ``paid`` (its
    callback paid the bill: ``payment_id``), ``to_refund`` (paid at the provider after the bill lapsed or was
    settled otherwise: the payment is recorded and a refund requested),
    ``expired`` (the provider said it is over unpaid when the reconciliation round asked, or it stayed pending
    ``payment_reference_expire_days``: engine/payments/reconcile.py), ``mismatch`` (the provider said another
    amount or currency was paid: flagged for a person, asked about no more; its own amount still pays it)."""

    __tablename__ = "checkout"
    __table_args__ = (UniqueConstraint("provider", "reference"), Index("ix_checkout_bill", "bill_id"))

    id: int | None = _big(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    reference: str = Field(max_length=100)
    bill_id: int = _big(foreign_key="bill.id")
    case_id: int = _big(foreign_key="case_file.id")
    center_id: int | None = Field(default=None, foreign_key="center.id")
    amount: int = Field(sa_type=BigInteger)  # type: ignore[call-overload]
    currency: str = Field(max_length=3)
    payment_url: str = Field(max_length=2000)
    status: str = Field(max_length=16, default="pending")
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts(default_factory=utcnow)
    payment_id: int | None = _big(default=None, foreign_key="payment.id")


class GatewayCallback(SQLModel, table=True):
    """Every provider callback whose signature held, and what came of it (``outcome``: ``paid``,
    ``duplicate``, ``mismatch``, ``late``, ``unknown``, ``not_paid``, ``elsewhere``: another node's case): the
    record of what the provider said, also when it was refused."""

    __tablename__ = "gateway_callback"
    __table_args__ = (Index("ix_gateway_callback_reference", "provider", "reference"),)

    id: int | None = _big(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    reference: str = Field(max_length=100)
    checkout_id: int | None = _big(default=None, foreign_key="checkout.id")
    status: str = Field(max_length=32)
    amount: int = Field(sa_type=BigInteger)  # type: ignore[call-overload]
    currency: str = Field(max_length=3)
    outcome: str = Field(max_length=16)
    body: str = Field(max_length=8000)
    received_at: datetime = _ts(default_factory=utcnow)
