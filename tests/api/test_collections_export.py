"""The supervisor's collections export (CSV per center and drawer) from the side of whoever would misread or
misuse it: amounts that floats would round (0.10 + 0.20), Arabic names that a spreadsheet must read, a name that
is a formula, another center's supervisor, a cashier, reversed or malformed dates, days without payments."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from api.app import create_app
from engine.core.settings import Settings
from engine.payments import ledger
from engine.people.users import create_user, issue_token
from harness.api import Api
from harness.pages import Pages
from storage.db import engine_for
from storage.models.centers import Center
from storage.models.payments import Payment
from tests.support.arabic import assert_arabic
from tests.support.cash_desk import Counter, _counter

BOM = b"\xef\xbb\xbf"
URL = "/api/reports/collections.csv"
XLSX = "/api/reports/collections.xlsx"


@pytest.fixture
def desk(settings: Any) -> Iterator[Counter]:
    with TestClient(create_app(settings)) as client:
        yield _counter(Api(client, settings))


def cashier(c: Counter, username: str, full_name: str) -> dict[str, str]:
    settings = c.api.settings
    with Session(engine_for(settings.database_url)) as session:
        user = create_user(session=session, username=username, password="correct horse", full_name=full_name,
                           roles=["cashier"], settings=settings, center_id=c.centers["CITY-A"])
        token = issue_token(user, settings)
    return {"Authorization": f"Bearer {token}"}


def read(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(BOM)  # Excel reads UTF-8 (the Arabic names) only with it
    text = body[len(BOM):].decode("utf-8")
    assert "\r\n" in text
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ledger.EXPORT_COLUMNS
    return list(reader)


def day_span(days_back: int = 0, days_on: int = 0) -> dict[str, str]:
    """Days around today in the display time zone (the export's days), whatever the hour in UTC."""
    today = datetime.now(ZoneInfo(Settings().display_timezone)).date()
    return {"from": (today - timedelta(days=days_back)).isoformat(),
            "to": (today + timedelta(days=days_on)).isoformat()}


def test_the_export_adds_up_exactly_per_center_and_drawer(desk: Counter) -> None:
    c = desk
    with Session(engine_for(c.api.settings.database_url)) as session:
        center = session.exec(select(Center).where(Center.code == "CITY-A")).one()
        center.name_ar = "مركز خدمات المدينة أ"
        session.add(center)
        session.commit()
    amal = cashier(c, "amal", "أمل عبد الرحمن")
    formula = cashier(c, "mallory", '=HYPERLINK("http://evil.example","click")')
    paid: list[dict[str, Any]] = []
    for headers, fees in ((amal, ("0.10", "0.20", "100.70")), (formula, ("0.35",))):
        c.open_drawer(headers=headers, cash="0")
        for fee in fees:
            _case, bill = c.billed_case(fee=fee)
            r = c.pay(bill["id"], fee, headers=headers)
            assert r.status_code == 201, r.text
            paid.append(r.json())
    _case, bill = c.billed_case(fee="5.05")  # by card, the same drawer: a line of its own
    assert c.pay(bill["id"], "5.05", method="card", reference="T-1", headers=amal).status_code == 201
    refund = c.client.post(f"/api/bills/{paid[1]['bill_id']}/refunds", json={"reason": "r"}, headers=amal).json()
    assert c.client.post(f"/api/refunds/{refund['id']}/approve", json={}, headers=c.supervisor).status_code == 200
    r = c.client.get(URL, params=day_span(1, 1), headers=c.supervisor)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
    rows = read(r.content)
    lines, totals = rows[:-1], rows[-1:]
    by = {(row["cashier"], row["method"], row["drawer"]): row for row in lines}
    amal_cash = next(v for k, v in by.items() if k[:2] == ("amal", "cash") and k[2])
    assert (amal_cash["center_code"], amal_cash["center_name"], amal_cash["cashier_name"]) == (
        "CITY-A", "مركز خدمات المدينة أ", "أمل عبد الرحمن")
    assert (amal_cash["count"], amal_cash["payments"], amal_cash["refunds"], amal_cash["net"]) == (
        "3", "101.00", "0.20", "100.80")  # 0.10 + 0.20 + 100.70, not 101.00000000000001; the refund of 0.20
    assert amal_cash["drawer"] and amal_cash["opened_at"] and not amal_cash["closed_at"]
    assert next(v for k, v in by.items() if k[:2] == ("amal", "card"))["payments"] == "5.05"
    assert not [k for k in by if k[0] == "amal" and k[2] == ""]  # charged to the drawer, no line outside it
    # A name that is a formula stays text; a negative amount stays a number.
    evil = next(v for k, v in by.items() if k[0] == "mallory")
    assert evil["cashier_name"].startswith("'=HYPERLINK")
    [total] = totals
    assert (total["cashier"], total["currency"]) == (ledger.TOTAL, "EGP")
    for field in ("payments", "refunds", "net"):
        assert sum((Decimal(row[field]) for row in lines), Decimal(0)) == Decimal(total[field])
    assert (total["payments"], total["refunds"], total["net"], total["count"]) == ("106.40", "0.20", "106.20", "5")
    # The same money as the collections report adds up to.
    report = c.client.get("/api/reports/collections", params={**day_span(1, 1), "by": "center"},
                          headers=c.supervisor).json()
    assert [r["net"] for r in report] == [total["net"]]
    # The parent center's supervisor sees the same lines; the day before has none.
    parent = c.api.user("supervisor", center_id=c.centers["GOV"])
    assert read(c.client.get(URL, params=day_span(1, 1), headers=parent).content) == rows
    assert read(c.client.get(URL, params={**day_span(2, -1)}, headers=c.supervisor).content) == []



def test_a_payment_after_midnight_in_cairo_is_counted_on_that_day_whatever_the_hour_now(desk: Counter) -> None:
    """Days are the center's days: a payment at 22:30 UTC is 00:30 the next day in Cairo (UTC+2). SQLite compares
    timestamps as text, so a day's bounds left in Cairo time once counted it on the day before (and the tests
    above failed only when run between 22:00 and midnight UTC)."""
    c = desk
    c.cash_payment()
    zone = ZoneInfo(Settings().display_timezone)
    late = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)  # 2026-03-11 00:30 in Cairo
    with Session(engine_for(c.api.settings.database_url)) as session:
        [payment] = session.exec(select(Payment)).all()
        payment.at = late
        session.add(payment)
        session.commit()
    local_day = late.astimezone(zone).date()
    assert local_day.isoformat() == "2026-03-11"
    day = {"from": local_day.isoformat(), "to": local_day.isoformat()}
    before = {"from": "2026-03-10", "to": "2026-03-10"}
    [line, _total] = read(c.client.get(URL, params=day, headers=c.supervisor).content)
    assert (line["count"], line["payments"]) == ("1", "150.00")
    assert read(c.client.get(URL, params=before, headers=c.supervisor).content) == []
    report = c.client.get("/api/reports/collections", params={**day, "by": "day"}, headers=c.supervisor).json()
    assert [(r["day"], r["payments"]) for r in report] == [("2026-03-11", "150.00")]
    assert c.client.get("/api/reports/collections", params={**before, "by": "day"},
                        headers=c.supervisor).json() == []

@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_another_center_a_cashier_and_bad_dates_are_refused(desk: Counter, kind: str) -> None:
    """The CSV file and the XLSX workbook: the same refusals, and the same lines in either."""
    c = desk
    url, lines = (URL, read) if kind == "csv" else (XLSX, workbook)
    c.cash_payment()
    sibling = c.api.user("supervisor", center_id=c.centers["CITY-B"])
    r = c.client.get(url, params={**day_span(), "center": "CITY-A"}, headers=sibling)
    assert r.status_code == 403
    assert_arabic(r, "reports.center_not_seen")
    # Without naming a center, the sibling gets its own centers' collections: none of CITY-A's.
    assert lines(c.client.get(url, params=day_span(), headers=sibling).content) == []
    assert c.client.get(url, params=day_span(), headers=c.cashier).status_code == 403
    assert c.client.get(url, params=day_span()).status_code == 401
    assert c.client.get(url, params={**day_span(), "center": "NOWHERE"}, headers=c.supervisor).status_code == 404
    assert c.client.get(url, params={"from": "2026-02-01", "to": "2026-01-01"},
                        headers=c.supervisor).status_code == 422
    assert c.client.get(url, params={"from": "2026-13-01"}, headers=c.supervisor).status_code == 422
    assert c.client.get(url, params={"from": "1000-01-01", "to": "2026-01-01"},
                        headers=c.supervisor).status_code == 422  # longer than a report may cover
    assert c.client.get(url, params={"center": "x" * 33}, headers=c.supervisor).status_code == 422
    # Arabic digits in the dates, and no dates at all (today), both read.
    arabic = {k: v.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")) for k, v in day_span().items()}
    assert len(lines(c.client.get(url, params=arabic, headers=c.supervisor).content)) == 2
    assert len(lines(c.client.get(url, headers=c.supervisor).content)) == 2


@pytest.mark.parametrize(("kind", "offered"), [
    ("csv", ('id="collections-today"', 'action="/supervisor/collections.csv"', "تحصيلات اليوم")),
    ("xlsx", ('href="/supervisor/collections.xlsx"', 'id="no-flagged"'))])
def test_the_supervisor_page_links_the_export(desk: Counter, kind: str, offered: tuple[str, ...]) -> None:
    """The supervisor's page offers both files, and each keeps to the reader's centers."""
    c = desk
    c.cash_payment()
    lines = read if kind == "csv" else workbook
    export = f"/supervisor/collections.{kind}"
    settings = c.api.settings
    with Session(engine_for(settings.database_url)) as session:
        for name, center in (("boss_a", "CITY-A"), ("boss_b", "CITY-B")):
            create_user(session=session, username=name, password="correct horse", full_name="مدير",
                        roles=["supervisor"], settings=settings, center_id=c.centers[center])
    with TestClient(create_app(settings), follow_redirects=False) as client:
        pages = Pages(client, settings)
        assert pages.sign_in("boss_a").status_code == 303
        page = client.get("/supervisor/payments").text
        assert all(said in page for said in offered), offered
        own = client.get(export, params=day_span())
        assert own.status_code == 200 and len(lines(own.content)) == 2
        pages.sign_out()
        assert pages.sign_in("boss_b").status_code == 303
        assert client.get(export, params={**day_span(), "center": "CITY-A"}).status_code == 403
        assert lines(client.get(export).content) == []
        assert client.get(export, params={"from": "nope"}).status_code == 422
        pages.sign_out()
        assert client.get(export).status_code in (303, 401)  # signed out: no file



def workbook(body: bytes) -> list[tuple[Any, ...]]:
    """The export's sheet read back with openpyxl: its header row (Arabic) checked, then its lines."""
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet is not None and sheet.sheet_view.rightToLeft
    lines = list(sheet.iter_rows(values_only=True))
    assert list(lines[0]) == [ledger.EXPORT_HEADERS_AR[name] for name in ledger.EXPORT_COLUMNS]
    return lines[1:]


def test_the_xlsx_export_has_arabic_headers_and_numbers_that_add_up(desk: Counter) -> None:
    c = desk
    amal = cashier(c, "amal_x", "أمل عبد الرحمن")
    formula = cashier(c, "mallory_x", "=1+1")
    for headers, fees in ((amal, ("0.10", "0.20", "100.70")), (formula, ("0.35",))):
        c.open_drawer(headers=headers, cash="0")
        for fee in fees:
            _case, bill = c.billed_case(fee=fee)
            assert c.pay(bill["id"], fee, headers=headers).status_code == 201
    refund = c.client.post(f"/api/bills/{bill['id']}/refunds", json={"reason": "r"}, headers=amal).json()
    assert c.client.post(f"/api/refunds/{refund['id']}/approve", json={}, headers=c.supervisor).status_code == 200
    r = c.client.get(XLSX, params=day_span(1, 1), headers=c.supervisor)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="collections_' in r.headers["content-disposition"] and ".xlsx" in r.headers[
        "content-disposition"]
    rows = [dict(zip(ledger.EXPORT_COLUMNS, line, strict=True)) for line in workbook(r.content)]
    lines, [total] = rows[:-1], rows[-1:]
    for row in rows:  # numbers stay numbers: a spreadsheet sums them
        assert isinstance(row["count"], int)
        for field in ("payments", "refunds", "net"):
            assert isinstance(row[field], int | float) and not isinstance(row[field], bool), (field, row)
    amal_cash = next(row for row in lines if row["cashier"] == "amal_x")
    assert amal_cash["cashier_name"] == "أمل عبد الرحمن" and isinstance(amal_cash["drawer"], int)
    assert (amal_cash["count"], amal_cash["payments"]) == (3, 101)
    evil = next(row for row in lines if row["cashier"] == "mallory_x")
    assert evil["cashier_name"] == "=1+1"  # text, not a formula the spreadsheet would run
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    at = rows.index(evil) + 2, ledger.EXPORT_COLUMNS.index("cashier_name") + 1  # under the header row; from 1
    assert sheet.cell(row=at[0], column=at[1]).data_type == "s"
    assert (total["cashier"], total["count"]) == (ledger.TOTAL, 4)
    for field in ("payments", "refunds", "net"):
        assert round(sum(row[field] for row in lines), 2) == total[field]
    assert (total["payments"], total["refunds"], total["net"]) == (101.35, 0.35, 101.0)
    # The same lines as the CSV.
    csv_rows = read(c.client.get(URL, params=day_span(1, 1), headers=c.supervisor).content)
    assert [(row["cashier"], row["net"]) for row in csv_rows] == [
        (row["cashier"], f"{Decimal(str(row['net'])):.2f}") for row in rows]
