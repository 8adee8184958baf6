"""The printable receipt of a payment at the cash desk: its number, the amount, the change, both calendars, the
QR code of the public check; refunded payments say so; the page keeps to the bill readers of the case."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from engine.cases import lifecycle as cases
from engine.cases import tasks
from engine.payments import refunds
from engine.people.users import Actor
from harness.api import CITIZEN
from harness.pages import Pages, csrf_of, deploy
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.payments import Payment
from tests.support.payments import CASHIER, pay_bill

CLERK = Actor("clerk_t", frozenset({"front_desk"}))


def _paid_case(pages: Pages) -> tuple[int, int, str]:
    """A pay_demo case whose bill of 150 was paid: (case id, payment id, receipt number)."""
    settings = pages.settings
    deploy(settings, TEST_PROCESSES / "pay_demo")
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        opened = cases.open_case(session=session, service_code="pay_demo", citizen=CITIZEN, data={}, actor=CLERK,
                                 settings=settings)
        assert opened.case.id is not None
        tasks.complete(session=session, task_id=opened.tasks[0].id, data={"fee": 150}, actor=CLERK,
                       settings=settings)
        number = pay_bill(session, settings, opened.case.id)
        payment = session.exec(select(Payment).where(Payment.receipt_number == number)).one()
        assert payment.id is not None
        return opened.case.id, payment.id, number


def test_the_cashier_prints_the_receipt_of_a_payment(pages: Pages) -> None:
    case_id, payment_id, number = _paid_case(pages)
    pages.as_user("cashier")
    r = pages.client.get(f"/cases/{case_id}/payments/{payment_id}/receipt")
    assert r.status_code == 200, r.text
    page = r.text
    assert f">{number}<" in page and number == f"MAIN-{datetime.now(UTC).year}-000001"
    assert "إيصال سداد" in page and "150" in page and "<svg" in page
    assert f"/api/public/receipts/{number}" in page
    assert 'id="refunded"' not in page
    assert pages.client.get(f"/cases/{case_id}/payments/{payment_id + 1}/receipt").status_code == 404
    assert pages.client.get(f"/cases/{case_id + 1}/payments/{payment_id}/receipt").status_code == 404


def test_a_refunded_payment_says_so_and_strangers_are_refused(pages: Pages) -> None:
    case_id, payment_id, _number = _paid_case(pages)
    settings = pages.settings
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        refund = refunds.request(session=session, bill_id=1, reason="paid twice", actor=CASHIER, settings=settings)
        assert refund.id is not None
        refunds.decide(session=session, refund_id=refund.id, approve=True, reason=None,
                       actor=Actor("boss_t", frozenset({"supervisor"})), settings=settings)
    pages.as_user("supervisor")
    r = pages.client.get(f"/cases/{case_id}/payments/{payment_id}/receipt")
    assert r.status_code == 200 and 'id="refunded"' in r.text
    pages.as_user("analyst")
    assert pages.client.get(f"/cases/{case_id}/payments/{payment_id}/receipt").status_code == 403


def test_the_receipt_page_prints_the_pdf_and_each_print_is_a_copy(pages: Pages) -> None:
    case_id, payment_id, number = _paid_case(pages)
    pages.as_user("cashier")
    page = pages.client.get(f"/cases/{case_id}/payments/{payment_id}/receipt").text
    action = f"/cases/{case_id}/payments/{payment_id}/receipt/print"
    assert f'action="{action}"' in page
    token = csrf_of(page)
    first = pages.client.post(action, data={"csrf_token": token})
    again = pages.client.post(action, data={"csrf_token": token})
    assert first.status_code == again.status_code == 200 and first.content.startswith(b"%PDF")
    assert (first.headers["x-print-copy"], again.headers["x-print-copy"]) == ("0", "1")
    assert number in first.headers["content-disposition"]
    assert pages.client.post(action, data={}).status_code in (400, 403)  # no CSRF token: no print
