"""The receipt of a payment as a PDF (engine/outputs/receipt.py): the text pdftotext reads back in logical order
(the receipt number, the amount in figures and in Arabic words, both calendars, the public check's link), reprints
marked as copies and every print on the case's chain; who may not read the bill may not print it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from engine.audit import verify
from engine.cases.replay import replay_case
from engine.payments import words
from harness.api import Api
from storage.db import engine_for
from tests.outputs.conftest import pdf_text
from tests.support.cash_desk import Counter, _counter
from tests.support.concurrent import at_once


def _paid(counter: Counter, fee: Any = 3000) -> tuple[dict[str, Any], dict[str, Any]]:
    case, bill = counter.billed_case(fee=fee)
    counter.open_drawer()
    r = counter.pay(bill["id"], str(fee))
    assert r.status_code == 201, r.text
    return case, r.json()


def _print(counter: Counter, case_id: int, payment_id: int, who: dict[str, str] | None = None) -> Any:
    return counter.client.post(f"/api/cases/{case_id}/payments/{payment_id}/receipt/print",
                               headers=who or counter.cashier)


def test_the_receipt_pdf_reads_back_in_arabic_with_the_amount_in_words(sqlite_api: Api, tmp_path: Path) -> None:
    counter = _counter(sqlite_api)
    case, paid = _paid(counter, fee=3000)
    r = _print(counter, case["id"], paid["id"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.headers["x-print-copy"] == "0"
    assert r.content.startswith(b"%PDF")
    text = pdf_text(r.content, tmp_path)
    assert paid["receipt_number"] in text and case["tracking_number"] in text
    assert "إيصال سداد" in text
    assert "3000.00 EGP" in text
    # the words in the order they are read, not reversed by the layout
    assert words.amount(300000, "EGP") == "ثلاثة آلاف جنيه مصري"
    assert "فقط ثلاثة آلاف جنيه مصري لا غير" in text
    assert f"/api/public/receipts/{paid['receipt_number']}" in text
    assert "هـ" in text  # the Hijri date beside the Gregorian one
    assert "نسخة" not in text and "copy" not in text


def test_reprints_are_marked_copies_and_every_print_is_on_the_case_chain(api: Api, tmp_path: Path) -> None:
    counter = _counter(api)
    case, paid = _paid(counter, fee="150.50")
    first = _print(counter, case["id"], paid["id"])
    second = _print(counter, case["id"], paid["id"], counter.supervisor)
    third = _print(counter, case["id"], paid["id"])
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert [r.headers["x-print-copy"] for r in (first, second, third)] == ["0", "1", "2"]
    text = pdf_text(third.content, tmp_path)
    assert "نسخة" in text and "copy 2" in text
    assert "مائة وخمسون جنيها مصريا وخمسون قرشا" in text
    events = counter.client.get(f"/api/cases/{case['id']}/events", headers=counter.clerk).json()
    printed = [e for e in events if e["kind"] == "receipt_printed"]
    assert [(e["data"]["receipt_number"], e["data"]["copy"]) for e in printed] == [
        (paid["receipt_number"], 0), (paid["receipt_number"], 1), (paid["receipt_number"], 2)]
    assert len({e["actor"] for e in printed}) == 2
    # the prints are links of the case's chain: verify and replay still hold
    with Session(engine_for(api.settings.database_url)) as session:
        assert verify.verify_all(session=session, settings=api.settings).findings == []
        assert replay_case(session=session, case_id=case["id"], settings=api.settings).divergence is None


def test_strangers_cannot_print_and_a_missing_payment_is_not_found(sqlite_api: Api) -> None:
    counter = _counter(sqlite_api)
    case, paid = _paid(counter)
    elsewhere = counter.api.user("cashier", username="cashier_b", center_id=counter.centers["CITY-B"])
    assert _print(counter, case["id"], paid["id"], elsewhere).status_code in (403, 404)
    assert _print(counter, case["id"], paid["id"], counter.api.user("analyst")).status_code == 403
    assert _print(counter, case["id"], paid["id"] + 100).status_code == 404
    assert _print(counter, case["id"] + 100, paid["id"]).status_code == 404
    assert counter.client.post(f"/api/cases/{case['id']}/payments/abc/receipt/print",
                               headers=counter.cashier).status_code == 422
    events = counter.client.get(f"/api/cases/{case['id']}/events", headers=counter.clerk).json()
    assert not [e for e in events if e["kind"] == "receipt_printed"]  # a refused print leaves no trace


# WeasyPrint leaves its sRGB profile to the collector; engine/outputs/pdf.py silences that with
# warnings.catch_warnings(), which is not thread-safe, so renders in parallel threads can let it through.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_prints_at_the_same_moment_get_distinct_copy_numbers(api: Api) -> None:
    counter = _counter(api)
    case, paid = _paid(counter, fee=75)
    answers = [r.headers.get("x-print-copy", str(r.status_code))
               for r in at_once(lambda: _print(counter, case["id"], paid["id"]), times=4)]
    assert sorted(answers) == ["0", "1", "2", "3"], answers
    events = counter.client.get(f"/api/cases/{case['id']}/events", headers=counter.clerk).json()
    assert sorted(e["data"]["copy"] for e in events if e["kind"] == "receipt_printed") == [0, 1, 2, 3]
