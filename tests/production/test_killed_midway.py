"""A process killed in the middle of taking money, booking a visit or issuing a document (SIGKILL: no rollback,
no clean-up, as when the power goes) leaves nothing half-written: the receipt numbers stay without a gap, the
drawer's chain without a dangling link, the slot's count true, and the same command done again does it once.
On SQLite (a file another process recovers) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from api.app import create_app
from engine.audit import verify
from engine.core.errors import Conflict
from engine.core.settings import Settings
from engine.payments import drawer
from engine.queue import bookings
from harness.api import Api
from harness.pages import center_tree
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for, session_for
from storage.models.booking import Booking, BookingSlot
from storage.models.payments import Bill, CashierEvent, Payment
from tests.support.midway import killed_at

pytestmark = pytest.mark.slow


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(database_url, tmp_path)
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings)


def _count(settings: Settings, model: Any, *where: Any) -> int:
    with session_for(settings.database_url) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def test_a_payment_killed_before_its_commit_leaves_no_trace_and_no_gap(api: Api) -> None:
    with Session(engine_for(api.settings.database_url)) as session:
        ids = center_tree(session)
    assert api.deploy(TEST_PROCESSES / "pay_demo", api.user("analyst")).status_code == 201
    clerk = api.user("front_desk", center_id=ids["CITY-A"])
    cashier = api.user("cashier", username="cashier_amal", center_id=ids["CITY-A"])
    case = api.open_case("pay_demo", clerk).json()
    assert api.complete(case["tasks"][0]["id"], {"fee": 150}, clerk).status_code == 200
    [bill] = api.client.get(f"/api/cases/{case['id']}/bills", headers=cashier).json()
    r = api.client.post("/api/cashier/sessions", json={"float": {"cash": "500"}}, headers=cashier)
    assert r.status_code == 201, r.text
    drawer_id = r.json()["id"]
    links = _count(api.settings, CashierEvent, col(CashierEvent.session_id) == drawer_id)
    # Killed with the payment's row, its receipt number, the bill's new total and the drawer's link written,
    # the case not yet moved and nothing committed.
    killed_at(api.settings, at="engine.payments.drawer:append", call="engine.payments.pay:pay",
              kwargs={"bill_id": bill["id"], "method": "cash", "amount": "150", "reference": None},
              actor={"username": "cashier_amal", "roles": ["cashier"], "center_id": ids["CITY-A"]})
    assert _count(api.settings, Payment) == 0
    assert _count(api.settings, CashierEvent, col(CashierEvent.session_id) == drawer_id) == links
    with session_for(api.settings.database_url) as session:
        row = session.get(Bill, bill["id"])
        assert row is not None and (row.status, row.paid) == ("open", 0)
    # The cashier takes the money again: one payment, the year's first receipt number (no gap left by the kill).
    paid = api.client.post(f"/api/bills/{bill['id']}/payments", json={"method": "cash", "amount": "150"},
                           headers=cashier)
    assert paid.status_code == 201, paid.text
    assert paid.json()["receipt_number"].endswith("-000001")
    assert _count(api.settings, Payment) == 1
    with session_for(api.settings.database_url) as session:
        assert verify.verify_all(session=session, settings=api.settings).findings == []
        # The drawer expects its float and the one payment, the chain of its events unbroken.
        row = drawer.get(session, drawer_id)
        assert drawer.expected_of(session, row)["cash"] == 65000
        assert drawer.broken_link(row, drawer.events_of(session, drawer_id)) is None


def test_a_booking_killed_after_taking_its_place_gives_the_place_back(api: Api) -> None:
    admin = api.user("admin")
    r = api.client.put("/api/appointments/calendar", headers=admin,
                       json={"opens": "00:00", "closes": "23:45", "weekend": [], "holidays": [], "center": None})
    assert r.status_code == 200, r.text
    r = api.client.put("/api/appointments/plans/permits", headers=admin,
                       json={"center": None, "slot_minutes": 15, "capacity": 1})
    assert r.status_code == 200, r.text
    day = (datetime.now(UTC).astimezone(ZoneInfo(api.settings.display_timezone)).date() + timedelta(days=1))
    wanted = {"phone": "+201001234567", "center_id": None, "category_code": "permits", "day": day.isoformat(),
              "at": "10:00"}
    # Killed with the slot's count raised and the booking not yet written; nothing committed.
    killed_at(api.settings, at="engine.queue.bookings:_new_code", call="engine.queue.bookings:book",
              kwargs=wanted)
    assert _count(api.settings, Booking) == 0
    assert _count(api.settings, BookingSlot, col(BookingSlot.taken) > 0) == 0
    # The same citizen asks again and gets the one place of the slot; another finds it full.
    with session_for(api.settings.database_url) as session:
        booking, new = bookings.book(session=session, settings=api.settings, **wanted)
        assert new and booking.status == "booked"
    with session_for(api.settings.database_url) as session, pytest.raises(Conflict) as full:
        bookings.book(session=session, settings=api.settings, **{**wanted, "phone": "+201112223334"})
    assert full.value.message_id == "booking.slot_full"
    [slot] = _slots(api.settings)
    assert slot.taken == 1


def _slots(settings: Settings) -> list[BookingSlot]:
    with session_for(settings.database_url) as session:
        return list(session.exec(select(BookingSlot)).all())

