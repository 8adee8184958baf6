"""The counter of the payments' tests: a center with a clerk, a cashier and a supervisor, the `pay_demo` service
deployed, and the steps they take (a billed case, an open drawer, a payment). The fixtures ``counter`` (on the
database of ``api``) and ``sqlite_counter`` serve every test that takes money."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from engine.catalog.packages import read_package
from harness.api import Api
from harness.pages import center_tree
from harness.settings import TEST_PROCESSES
from storage.db import engine_for


@dataclass
class Counter:
    api: Api
    centers: dict[str, int]
    clerk: dict[str, str]
    cashier: dict[str, str]
    supervisor: dict[str, str]

    @property
    def client(self) -> TestClient:
        return self.api.client

    def take_part_payments(self) -> None:
        """Deploy pay_demo again as a service whose bill may be paid in parts (``partial = true``)."""
        files = read_package(TEST_PROCESSES / "pay_demo")
        files["service.toml"] = files["service.toml"].replace(b"amount = 150", b"amount = 150\npartial = true")
        r = self.client.post("/api/processes", files=[("files", (n, b)) for n, b in files.items()],
                             headers=self.api.user("analyst"))
        assert r.status_code == 201, r.text

    def billed_case(self, fee: Any = 150, **data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """A pay_demo case registered with ``fee``: (the case after registering, its bill)."""
        case = self.api.open_case("pay_demo", self.clerk).json()
        after = self.api.complete(case["tasks"][0]["id"], {"fee": fee, **data}, self.clerk)
        assert after.status_code == 200, after.text
        bills = self.client.get(f"/api/cases/{case['id']}/bills", headers=self.cashier)
        assert bills.status_code == 200, bills.text
        return after.json(), (bills.json() or [None])[-1]

    def open_drawer(self, headers: dict[str, str] | None = None, cash: str = "500") -> dict[str, Any]:
        r = self.client.post("/api/cashier/sessions", json={"float": {"cash": cash}}, headers=headers or self.cashier)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def cash_payment(self) -> None:
        """A bill of 150 paid in cash at a drawer opened for it: the drawer's chain has a ``payment_taken`` link."""
        _case, bill = self.billed_case()
        self.open_drawer()
        assert self.pay(bill["id"], "150").status_code == 201

    def pay(self, bill_id: int, amount: str, method: str = "cash", headers: dict[str, str] | None = None,
            **extra: Any) -> Any:
        return self.client.post(f"/api/bills/{bill_id}/payments", json={"method": method, "amount": amount, **extra},
                                headers={**(headers or self.cashier), **extra.pop("_headers", {})})


def _counter(api: Api) -> Counter:
    with Session(engine_for(api.settings.database_url)) as session:
        ids = center_tree(session)
    assert api.deploy(TEST_PROCESSES / "pay_demo", api.user("analyst")).status_code == 201
    return Counter(api=api, centers=ids, clerk=api.user("front_desk", center_id=ids["CITY-A"]),
                   cashier=api.user("cashier", center_id=ids["CITY-A"]),
                   supervisor=api.user("supervisor", center_id=ids["CITY-A"]))


@pytest.fixture
def counter(api: Api) -> Counter:
    return _counter(api)


@pytest.fixture
def sqlite_counter(sqlite_api: Api) -> Counter:
    return _counter(sqlite_api)
