"""A payment's receipt as a PDF: the same frame, fonts and seal as the official documents (engine/outputs/pdf.py,
seal.py), in Arabic, with the date in both calendars, the amount in figures and in words
(engine/payments/words.py) and, on every page, the QR code of the public check of the receipt
(``/api/public/receipts/{number}``: number, amount, date, valid or refunded; nothing about the person).

Every print is an event of the case's hash chain (``receipt_printed``, with its copy number), so who printed a
receipt and how many times is on the record; every print after the first is marked "نسخة / copy N".
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlmodel import Session, col, select

from engine.cases import lifecycle as cases
from engine.cases import workflows
from engine.catalog import processes
from engine.core import calendars
from engine.core.amounts import text as money_text
from engine.core.settings import Settings
from engine.outputs import pdf, seal
from engine.payments import ledger, words
from engine.payments.pay import lock_case
from engine.people.users import Actor
from storage.db import write_lock
from storage.models.audit import AuditEvent
from storage.models.centers import Center
from storage.models.payments import Payment

PRINTED = "receipt_printed"
METHODS_AR = {"cash": "نقدا", "card": "بطاقة", "e_payment": "دفع إلكتروني"}


@dataclass(frozen=True)
class Printed:
    pdf: bytes
    number: str
    copy: int  # 0 for the first print, then 1, 2, ...


def check_url(number: str, base_url: str) -> str:
    """Where the receipt's QR code leads: the public check of that receipt."""
    return f"{base_url.rstrip('/')}/api/public/receipts/{number}"


def copies_before(session: Session, case_id: int, number: str) -> int:
    """How many times the receipt ``number`` was printed already (its ``receipt_printed`` events)."""
    rows = session.execute(select(AuditEvent.data).where(col(AuditEvent.case_id) == case_id,
                                                         col(AuditEvent.kind) == PRINTED)).scalars().all()
    return sum(1 for data in rows if isinstance(data, dict) and data.get("receipt_number") == number)


def print_receipt(*, session: Session, case_id: int, payment_id: int, actor: Actor, settings: Settings,
                  base_url: str) -> Printed:
    """The receipt of the payment ``payment_id`` taken on the case, as a signed PDF, its print recorded on the
    case's chain (the copy number counted under the case's lock, so two prints at once are copies 1 and 2).
    Who may read the case's bills may print (the case's center first); NotFound for a payment not of that case
    or a refund row."""
    case = cases.get_case(session=session, case_id=case_id, actor=actor, settings=settings, action="bills.read")
    payment, refunded = ledger.payment_of_case(session, case_id, payment_id)
    assert payment.receipt_number is not None
    number = payment.receipt_number
    process = processes.cache.get(session, case.process_version_id, settings)
    center = session.get(Center, payment.center_id) if payment.center_id is not None else None
    session.rollback()
    with write_lock(session):
        locked = lock_case(session, case_id)
        copy = copies_before(session, case_id, number)
        workflows.append_to_chain(session, locked, actor=actor.username, events=[
            (PRINTED, None, {"receipt_number": number, "payment_id": payment_id, "copy": copy})])
        workflows.commit_or_conflict(session)
    service = process.service.name.ar if process.service.name else case.service_code
    raw = pdf.render(*compose(payment, number=number, copy=copy, refunded=refunded, service=service,
                              tracking_number=case.tracking_number, citizen=case.citizen_name or "",
                              center=center.name_ar if center else "شبّاك", base_url=base_url, settings=settings))
    signed = seal.sign(raw, settings, reason=f"Receipt {number}", location=center.name_en if center else "Shubbak")
    return Printed(pdf=signed, number=number, copy=copy)


def compose(payment: Payment, *, number: str, copy: int, refunded: int, service: str, tracking_number: str,
            citizen: str, center: str, base_url: str, settings: Settings) -> tuple[pdf.Page, str]:
    """The frame and the body of a receipt, before the PDF."""
    at: datetime = payment.at if payment.at.tzinfo else payment.at.replace(tzinfo=ZoneInfo("UTC"))
    local = at.astimezone(ZoneInfo(settings.display_timezone))
    day = local.date()
    e = html.escape
    figures = f"{money_text(payment.amount)} {payment.currency}"
    rows = [
        ("المبلغ", f'<span class="ltr" id="figures">{e(figures)}</span>'),
        ("المبلغ بالحروف", f'<span id="words">فقط {e(words.amount(payment.amount, payment.currency))} لا غير</span>'),
        ("المسلم", f'<span class="ltr">{e(money_text(payment.tendered))} {e(payment.currency)}</span>'),
        ("الباقي", f'<span class="ltr">{e(money_text(payment.change))} {e(payment.currency)}</span>'),
        ("طريقة السداد", e(METHODS_AR.get(payment.method, payment.method))
         + (f' <span class="ltr">({e(payment.reference)})</span>' if payment.reference else "")),
        ("الخدمة", e(service)),
        ("اسم المواطن", e(citizen)),
        ("وقت السداد", f'<span class="ltr">{local.strftime("%H:%M")}</span>'),
        ("أمين الخزينة", f'<span class="ltr">{e(payment.cashier)}</span>'),
    ]
    marks = []
    if copy:
        marks.append(f'<p class="copy" id="copy">نسخة / <span class="ltr">copy {copy}</span></p>')
    if refunded >= payment.amount:
        marks.append('<p class="copy" id="refunded">تم رد هذا المبلغ / refunded</p>')
    elif refunded:
        given = e(f"{money_text(refunded)} {payment.currency}")
        marks.append(f'<p class="copy" id="refunded">تم رد جزء من هذا المبلغ: <span class="ltr">{given}</span> / '
                     f'partly refunded</p>')
    table = "".join(f'<tr><td class="label">{label}</td><td>{value}</td></tr>' for label, value in rows)
    body = ("<style>p.copy { font-size: 16pt; font-weight: bold; color: #a00; text-align: center; "
            "border: 2px solid #a00; padding: 2mm; }</style>"
            + "".join(marks) + f'<table class="facts">{table}</table>')
    page = pdf.Page(language="ar", number=number, title="إيصال سداد", center=center, department=center,
                    issued_on=format_date(day, "long", locale="ar_EG"),
                    issued_on_hijri=calendars.hijri(day, "ar") or "", tracking_number=tracking_number,
                    verify_url=check_url(number, base_url))
    return page, body


