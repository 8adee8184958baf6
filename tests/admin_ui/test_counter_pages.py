"""The cashier's counter and the supervisor's money page, from the side of whoever tries to break them: a clerk
who is no cashier, a cashier of another center looking for the bill, a double submit of one payment, an amount
typed in Arabic-Indic digits, a supervisor of another center deciding a refund, a form without its CSRF token."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from api.app import create_app
from engine.cases import bills, tasks
from engine.cases import lifecycle as cases
from engine.payments import refunds
from engine.people.users import Actor, create_user
from harness.api import CITIZEN
from harness.pages import PASSWORD, Pages, center_tree, csrf_of, deploy
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for
from storage.models.payments import CashierSession, Checkout, Payment, Refund
from storage.models.queue import QueueTicket
from tests.support.payment_provider import PaymentProvider


@dataclass
class Hall:
    pages: Pages
    centers: dict[str, int]
    tracking_number: str
    case_id: int
    bill_id: int


def _user(pages: Pages, name: str, role: str, center_id: int) -> str:
    with Session(engine_for(pages.settings.database_url)) as session:
        create_user(session=session, username=name, password=PASSWORD, full_name=name.title(), roles=[role],
                    settings=pages.settings, center_id=center_id)
    return name


def _sign_in(pages: Pages, name: str) -> None:
    pages.sign_out()
    assert pages.sign_in(name).status_code == 303


def _hall(pages: Pages, fee: int = 150) -> Hall:
    settings = pages.settings
    deploy(settings, TEST_PROCESSES / "pay_demo")
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        ids = center_tree(session)
        clerk = Actor("clerk_a", frozenset({"front_desk"}), center_id=ids["CITY-A"])
        opened = cases.open_case(session=session, service_code="pay_demo", citizen=CITIZEN, data={}, actor=clerk,
                                 settings=settings)
        assert opened.case.id is not None
        tasks.complete(session=session, task_id=opened.tasks[0].id, data={"fee": fee}, actor=clerk,
                       settings=settings)
        [bill] = bills.of_case(session, opened.case.id)
        assert bill.id is not None
    return Hall(pages, ids, opened.case.tracking_number, opened.case.id, bill.id)


def _at_the_counter(hall: Hall, name: str = "cash_a", center: str = "CITY-A") -> None:
    """A new cashier ``name`` of ``center`` signed in, with a drawer open on no float."""
    _sign_in(hall.pages, _user(hall.pages, name, "cashier", hall.centers[center]))
    _form(hall.pages, "/counter/open", {"float_cash": "0"})


def _form(pages: Pages, path: str, data: dict[str, str], page: str = "/counter") -> object:
    return pages.client.post(path, data={"csrf_token": csrf_of(pages.client.get(page).text), **data})


def _flash(pages: Pages, page: str = "/counter") -> str:
    """The refusals the page shows (error flashes) after a redirect."""
    return " ".join(re.findall(r'<p class="flash error"[^>]*>(.*?)</p>', pages.client.get(page).text, re.S))


def test_the_cashier_opens_finds_pays_in_cash_prints_and_closes(pages: Pages) -> None:
    hall = _hall(pages)
    _sign_in(pages, _user(pages, "cash_a", "cashier", hall.centers["CITY-A"]))
    page = pages.client.get("/counter")
    assert page.status_code == 200 and 'id="open-drawer"' in page.text and 'lang="ar"' in page.text
    assert _form(pages, "/counter/open", {"float_cash": "٥٠٠", "float_card": "0"}).status_code == 303
    found = pages.client.get("/counter", params={"q": hall.tracking_number})
    assert f'data-bill="{hall.bill_id}"' in found.text and 'data-due="150.00"' in found.text
    typed = hall.tracking_number.replace("-", "").translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert f'data-bill="{hall.bill_id}"' in pages.client.get("/counter", params={"q": typed}).text
    r = _form(pages, f"/counter/bills/{hall.bill_id}/pay",
              {"method": "cash", "amount": "٢٠٠", "q": hall.tracking_number})
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    after = pages.client.get(r.headers["location"]).text  # type: ignore[attr-defined]
    number = f"CITY-A-{datetime.now(UTC).year}-000001"
    assert number in after and 'id="change-given"' in after and "50.00 EGP" in after
    with Session(engine_for(pages.settings.database_url)) as session:
        [payment] = session.exec(select(Payment)).all()
        assert (payment.amount, payment.tendered, payment.change) == (15000, 20000, 5000)
    printed = _form(pages, f"/cases/{hall.case_id}/payments/{payment.id}/receipt/print", {})
    assert printed.status_code == 200 and printed.headers["content-type"] == "application/pdf"  # type: ignore[attr-defined]
    assert printed.headers["x-print-copy"] == "0"  # type: ignore[attr-defined]
    # the close: 500 float + 150 taken = 650 expected in cash; 640 counted is 10 short
    r = _form(pages, "/counter/close", {"counted_cash": "640", "counted_card": "0"})
    closed = pages.client.get(r.headers["location"]).text  # type: ignore[attr-defined]
    assert 'data-method="cash"' in closed and "650.00" in closed and 'data-difference="-10.00"' in closed
    assert 'id="open-drawer"' in closed  # a new drawer may be opened


def test_a_double_submit_pays_once_and_says_the_bill_is_paid(pages: Pages) -> None:
    hall = _hall(pages)
    _at_the_counter(hall)
    token = csrf_of(pages.client.get("/counter", params={"q": hall.tracking_number}).text)
    data = {"csrf_token": token, "method": "cash", "amount": "150", "q": hall.tracking_number}
    first = pages.client.post(f"/counter/bills/{hall.bill_id}/pay", data=data)
    second = pages.client.post(f"/counter/bills/{hall.bill_id}/pay", data=data)
    assert first.status_code == second.status_code == 303
    message = _flash(pages)
    assert "مدفوعة بالفعل" in message, message
    with Session(engine_for(pages.settings.database_url)) as session:
        assert len(session.exec(select(Payment)).all()) == 1


def test_refusals_are_shown_in_arabic_and_nothing_is_written(pages: Pages) -> None:
    hall = _hall(pages)
    _sign_in(pages, _user(pages, "cash_a", "cashier", hall.centers["CITY-A"]))
    # no drawer open: refused
    _form(pages, "/counter/open", {"float_cash": "abc"})
    assert re.search(r"[\u0600-\u06FF]", _flash(pages))
    _form(pages, "/counter/open", {"float_cash": "0"})
    for data in ({"method": "cash", "amount": "100"},          # less than due, no part payments
                 {"method": "card", "amount": "150"},          # a card needs the terminal's reference
                 {"method": "card", "amount": "200", "reference": "T-1"},  # no change by card
                 {"method": "cheque", "amount": "150"},
                 {"method": "cash", "amount": "1e3"}):
        assert _form(pages, f"/counter/bills/{hall.bill_id}/pay", data).status_code == 303
        message = _flash(pages)
        assert re.search(r"[\u0600-\u06FF]", message), (data, message)
    without_token = pages.client.post(f"/counter/bills/{hall.bill_id}/pay", data={"method": "cash", "amount": "150"})
    assert without_token.status_code in (400, 403)
    with Session(engine_for(pages.settings.database_url)) as session:
        assert session.exec(select(Payment)).all() == []
    # card with its reference, exact
    _form(pages, f"/counter/bills/{hall.bill_id}/pay", {"method": "card", "amount": "150.00", "reference": "T-77"})
    with Session(engine_for(pages.settings.database_url)) as session:
        [payment] = session.exec(select(Payment)).all()
        assert (payment.method, payment.reference, payment.change) == ("card", "T-77", 0)


def test_a_clerk_is_refused_the_counter_and_another_center_does_not_find_the_bill(pages: Pages) -> None:
    hall = _hall(pages)
    _sign_in(pages, _user(pages, "clerk_page", "front_desk", hall.centers["CITY-A"]))
    assert pages.client.get("/counter").status_code == 403
    _at_the_counter(hall, "cash_b", "CITY-B")
    found = pages.client.get("/counter", params={"q": hall.tracking_number}).text
    assert 'id="not-found"' in found and f'data-bill="{hall.bill_id}"' not in found
    _form(pages, f"/counter/bills/{hall.bill_id}/pay", {"method": "cash", "amount": "150"})
    with Session(engine_for(pages.settings.database_url)) as session:
        assert session.exec(select(Payment)).all() == []
    printed = pages.client.post(f"/cases/{hall.case_id}/payments/1/receipt/print",
                                data={"csrf_token": csrf_of(pages.client.get("/counter").text)})
    assert printed.status_code in (403, 404)


def test_the_supervisor_of_the_center_decides_refunds_and_acknowledges_differences(pages: Pages) -> None:
    hall = _hall(pages)
    settings = pages.settings
    cashier = Actor("cash_a", frozenset({"cashier"}), center_id=hall.centers["CITY-A"])
    _user(pages, "cash_a", "cashier", hall.centers["CITY-A"])
    _sign_in(pages, "cash_a")
    _form(pages, "/counter/open", {"float_cash": "0"})
    _form(pages, f"/counter/bills/{hall.bill_id}/pay", {"method": "cash", "amount": "150"})
    _form(pages, "/counter/close", {"counted_cash": "140"})
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        refund = refunds.request(session=session, bill_id=hall.bill_id, reason="paid twice", actor=cashier,
                                 settings=settings)
    # a supervisor of another center sees nothing and cannot decide
    _sign_in(pages, _user(pages, "boss_b", "supervisor", hall.centers["CITY-B"]))
    other = pages.client.get("/supervisor/payments").text
    assert 'id="no-refunds"' in other and 'id="no-differences"' in other
    _form(pages, f"/supervisor/refunds/{refund.id}/decide", {"decision": "approve"}, page="/supervisor/payments")
    assert re.search(r"[\u0600-\u06FF]", _flash(pages, "/supervisor/payments"))
    with Session(engine_for(settings.database_url)) as session:
        assert session.get(Refund, refund.id).status == "requested"  # type: ignore[union-attr]
    # the center's own supervisor
    _sign_in(pages, _user(pages, "boss_a", "supervisor", hall.centers["CITY-A"]))
    own = pages.client.get("/supervisor/payments").text
    assert f'data-refund="{refund.id}"' in own and 'data-session="1"' in own
    _form(pages, "/supervisor/drawers/1/acknowledge", {"reason": ""}, page="/supervisor/payments")
    assert re.search(r"[\u0600-\u06FF]", _flash(pages, "/supervisor/payments"))
    _form(pages, "/supervisor/drawers/1/acknowledge", {"reason": "عد خاطئ"}, page="/supervisor/payments")
    _form(pages, f"/supervisor/refunds/{refund.id}/decide", {"decision": "approve"}, page="/supervisor/payments")
    with Session(engine_for(settings.database_url)) as session:
        assert session.get(Refund, refund.id).status == "approved"  # type: ignore[union-attr]
        drawer = session.get(CashierSession, 1)
        assert drawer is not None and drawer.acknowledged_by == "boss_a" and drawer.acknowledge_reason == "عد خاطئ"
    after = pages.client.get("/supervisor/payments").text
    assert 'id="no-refunds"' in after and 'id="no-differences"' in after


def test_collections_on_the_performance_page_keep_to_the_readers_centers(pages: Pages) -> None:
    hall = _hall(pages)
    _at_the_counter(hall)
    _form(pages, f"/counter/bills/{hall.bill_id}/pay", {"method": "cash", "amount": "150"})
    _sign_in(pages, _user(pages, "boss_a", "supervisor", hall.centers["CITY-A"]))
    own = pages.client.get("/reports").text
    section = own[own.index('id="collections"'):]
    assert 'data-key="cash"' in section and 'data-net="150.00"' in section and 'data-key="cash_a"' in section
    assert "نقدًا" in section
    # Each table downloads like the page's other tables, CSV or XLSX; the XLSX keeps the amounts as numbers.
    assert 'href="/reports/export/collections_method.xlsx?' in section
    book = pages.client.get("/reports/export/collections_method.xlsx")
    assert book.status_code == 200 and book.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    assert list(sheet.iter_rows(values_only=True)) == [("method", "currency", "count", "payments", "refunds", "net"),
                                                       ("cash", "EGP", 1, 150, 0, 150)]
    plain = pages.client.get("/reports/export/collections_cashier.csv").content.decode("utf-8-sig")
    assert plain.splitlines() == ["cashier,currency,count,payments,refunds,net", "cash_a,EGP,1,150.00,0.00,150.00"]
    assert pages.client.get("/reports/export/collections_service.csv").status_code == 404  # not a table of the page
    _sign_in(pages, _user(pages, "boss_b", "supervisor", hall.centers["CITY-B"]))
    other = pages.client.get("/reports").text
    section = other[other.index('id="collections"'):]
    assert "data-net=" not in section and 'data-key="cash_a"' not in section
    theirs = pages.client.get("/reports/export/collections_day.xlsx")
    assert theirs.status_code == 200
    assert len(list(load_workbook(io.BytesIO(theirs.content)).active.iter_rows())) == 0  # type: ignore[union-attr]
    assert pages.client.get("/reports/export/collections_day.xlsx", params={"center": "CITY-A"}).status_code == 403


def test_the_bill_is_found_by_the_citizens_ticket_at_the_cashiers_center_only(pages: Pages) -> None:
    hall = _hall(pages)
    with Session(engine_for(pages.settings.database_url)) as session:
        session.add(QueueTicket(number="P-014", day=date.today(), seq=14, category_code="permits",
                                priority="normal", status="done", case_id=hall.case_id,
                                center_id=hall.centers["CITY-A"]))
        session.add(QueueTicket(number="P-015", day=date.today(), seq=15, category_code="permits",
                                priority="normal", status="waiting", center_id=hall.centers["CITY-A"]))
        session.commit()
    _at_the_counter(hall)
    assert f'data-bill="{hall.bill_id}"' in pages.client.get("/counter", params={"q": " p-014 "}).text
    assert 'id="not-found"' in pages.client.get("/counter", params={"q": "P-015"}).text  # no request from it
    _at_the_counter(hall, "cash_b", "CITY-B")
    other = pages.client.get("/counter", params={"q": "P-014"}).text
    assert 'id="not-found"' in other and f'data-bill="{hall.bill_id}"' not in other


@pytest.fixture
def online(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[Pages, PaymentProvider]]:
    """The pages with the fake payment provider configured and served on loopback."""
    with PaymentProvider() as provider:
        settings = make_settings(sqlite_url, tmp_path, payment_providers={"fake": provider.options()})
        with TestClient(create_app(settings), follow_redirects=False) as client:
            yield Pages(client, settings), provider


def test_the_counter_gives_an_e_payment_reference_that_the_providers_callback_pays(
        online: tuple[Pages, PaymentProvider]) -> None:
    pages, provider = online
    hall = _hall(pages)
    # A cashier of another center cannot make a reference for the bill.
    _at_the_counter(hall, "cash_b", "CITY-B")
    _form(pages, f"/counter/bills/{hall.bill_id}/checkout", {"q": hall.tracking_number})
    assert re.search(r"[\u0600-\u06FF]", _flash(pages))
    with Session(engine_for(pages.settings.database_url)) as session:
        assert session.exec(select(Checkout)).all() == []
    _at_the_counter(hall)
    found = pages.client.get("/counter", params={"q": hall.tracking_number}).text
    assert f'action="/counter/bills/{hall.bill_id}/checkout"' in found
    r = _form(pages, f"/counter/bills/{hall.bill_id}/checkout", {"q": hall.tracking_number})
    assert r.status_code == 303
    after = pages.client.get(r.headers["location"]).text  # type: ignore[attr-defined]
    with Session(engine_for(pages.settings.database_url)) as session:
        [ref] = session.exec(select(Checkout)).all()
    assert ref.amount == 15000 and ref.created_by == "cash_a"
    assert f'data-reference="{ref.reference}"' in after and ref.payment_url in after
    # The citizen pays at the provider; its callback pays the bill: the receipt is on the counter, no reference
    # waits any more, and the payment is in no drawer.
    body, headers = provider.callback(ref.reference)
    paid = pages.client.post("/api/payments/fake/callback", content=body, headers=headers)
    assert paid.status_code == 200 and paid.json()["outcome"] == "paid"
    now = pages.client.get("/counter", params={"q": hall.tracking_number}).text
    assert 'data-status="paid"' in now and f'data-reference="{ref.reference}"' not in now
    assert paid.json()["receipt_number"] in now
    with Session(engine_for(pages.settings.database_url)) as session:
        [payment] = session.exec(select(Payment)).all()
        assert (payment.method, payment.session_id, payment.cashier) == ("e_payment", None, "gateway:fake")
    # A paid bill gets no new reference.
    _form(pages, f"/counter/bills/{hall.bill_id}/checkout", {"q": hall.tracking_number})
    assert re.search(r"[\u0600-\u06FF]", _flash(pages))


def test_without_a_provider_the_counter_offers_no_e_payment(pages: Pages) -> None:
    hall = _hall(pages)
    _at_the_counter(hall)
    found = pages.client.get("/counter", params={"q": hall.tracking_number}).text
    assert f'data-bill="{hall.bill_id}"' in found and "checkout-form" not in found
    _form(pages, f"/counter/bills/{hall.bill_id}/checkout", {"q": hall.tracking_number})
    assert re.search(r"[\u0600-\u06FF]", _flash(pages))  # no provider: refused, said in Arabic


def test_the_supervisor_page_lists_a_flagged_e_payment_and_takes_it_off(
        online: tuple[Pages, PaymentProvider]) -> None:
    pages, provider = online
    hall = _hall(pages)
    _at_the_counter(hall)
    _form(pages, f"/counter/bills/{hall.bill_id}/checkout", {"q": hall.tracking_number})
    with Session(engine_for(pages.settings.database_url)) as session:
        [ref] = session.exec(select(Checkout)).all()
    body, headers = provider.callback(ref.reference, amount="1.50")
    assert pages.client.post("/api/payments/fake/callback", content=body, headers=headers).status_code == 422
    # Another center's supervisor neither sees it nor takes it off.
    _sign_in(pages, _user(pages, "boss_b", "supervisor", hall.centers["CITY-B"]))
    assert 'id="no-flagged"' in pages.client.get("/supervisor/payments").text
    _form(pages, f"/supervisor/checkouts/{ref.id}/clear", {"reason": "checked"}, page="/supervisor/payments")
    assert re.search(r"[\u0600-\u06FF]", _flash(pages, "/supervisor/payments"))
    _sign_in(pages, _user(pages, "boss_a", "supervisor", hall.centers["CITY-A"]))
    own = pages.client.get("/supervisor/payments").text
    assert f'data-flagged="{ref.id}"' in own and "1.50 EGP" in own and "150.00 EGP" in own
    _form(pages, f"/supervisor/checkouts/{ref.id}/clear", {"reason": " "}, page="/supervisor/payments")
    assert re.search(r"[\u0600-\u06FF]", _flash(pages, "/supervisor/payments"))  # a reason is needed
    _form(pages, f"/supervisor/checkouts/{ref.id}/clear", {"reason": "المزود أكد أنها دفعة تجريبية"},
          page="/supervisor/payments")
    after = pages.client.get("/supervisor/payments").text
    assert 'id="no-flagged"' in after
    with Session(engine_for(pages.settings.database_url)) as session:
        assert session.get(Checkout, ref.id).status == "expired"  # type: ignore[union-attr]


def test_the_cashier_asks_a_refund_at_the_counter_and_cannot_overdo_it(pages: Pages) -> None:
    hall = _hall(pages)
    _at_the_counter(hall)
    _form(pages, f"/counter/bills/{hall.bill_id}/pay", {"method": "cash", "amount": "150"})
    with Session(engine_for(pages.settings.database_url)) as session:
        [payment] = session.exec(select(Payment)).all()
    page = pages.client.get("/counter", params={"q": hall.tracking_number}).text
    ask = f"/counter/payments/{payment.id}/refund"
    assert f'action="{ask}"' in page
    for data in ({"reason": "paid twice", "amount": "150.01"},  # more than was paid
                 {"reason": "paid twice", "amount": "abc"},
                 {"reason": "   ", "amount": ""}):
        _form(pages, ask, {**data, "q": hall.tracking_number})
        assert re.search(r"[\u0600-\u06FF]", _flash(pages)), data
    _form(pages, "/counter/payments/2000000/refund", {"reason": "x"})
    assert re.search(r"[\u0600-\u06FF]", _flash(pages))
    with Session(engine_for(pages.settings.database_url)) as session:
        assert session.exec(select(Refund)).all() == []  # nothing asked by the refusals
    _form(pages, ask, {"reason": "دفع مرتين", "amount": "٥٠", "q": hall.tracking_number})
    _form(pages, ask, {"reason": "دفع مرتين", "amount": "٥٠", "q": hall.tracking_number})  # sent twice
    assert "بالفعل" in _flash(pages)
    with Session(engine_for(pages.settings.database_url)) as session:
        [refund] = session.exec(select(Refund)).all()
        assert (refund.amount, refund.payment_id, refund.status) == (5000, payment.id, "requested")
    # A cashier of another center cannot ask.
    _sign_in(pages, _user(pages, "cash_b", "cashier", hall.centers["CITY-B"]))
    _form(pages, ask, {"reason": "x"})
    assert re.search(r"[\u0600-\u06FF]", _flash(pages))
    with Session(engine_for(pages.settings.database_url)) as session:
        assert len(session.exec(select(Refund)).all()) == 1


def test_collections_keep_to_the_center_chosen_on_the_performance_page(pages: Pages) -> None:
    # The governorate's supervisor sees both cities; choosing CITY-B shows and exports none of CITY-A's money.
    hall = _hall(pages)
    _sign_in(pages, _user(pages, "cash_a", "cashier", hall.centers["CITY-A"]))
    _form(pages, "/counter/open", {"float_cash": "0"})
    _form(pages, f"/counter/bills/{hall.bill_id}/pay", {"method": "cash", "amount": "150"})
    _sign_in(pages, _user(pages, "boss_gov", "supervisor", hall.centers["GOV"]))
    for center, shown in (("", True), ("CITY-A", True), ("CITY-B", False)):
        page = pages.client.get("/reports", params={"center": center}).text
        assert ('data-key="cash_a"' in page[page.index('id="collections"'):]) is shown, center
        plain = pages.client.get("/reports/export/collections_cashier.csv", params={"center": center})
        assert ("cash_a,EGP,1,150.00" in plain.content.decode("utf-8-sig")) is shown, center
