"""The documented paths of the real services (``processes/<service>/paths.json``), as test parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from engine.cases import timers
from engine.catalog.packages import find_packages
from harness.api import Api
from harness.settings import ROOT
from storage.db import engine_for

PROCESSES = ROOT / "processes"
# Every service folder in processes/ (as `shubbak processes deploy` finds them): a new service is walked as
# soon as its folder exists.
SERVICES = tuple(folder.name for folder in find_packages(PROCESSES))


@dataclass(frozen=True)
class Step:
    """A user task completed by its lane, or (``pay``) the cashier paying the case's bill of that amount, or
    (``wait_days``) days passing so that the timers due by then fire (engine/catalog/analyst_tests.py)."""

    task: str
    lane: str
    data: dict[str, Any]
    pay: str | None = None
    wait_days: float | None = None

    @property
    def is_task(self) -> bool:
        return self.pay is None and self.wait_days is None


def _step(raw: dict[str, Any]) -> Step:
    if raw.get("pay"):
        return Step("(pay)", "cashier", {}, pay=str(raw.get("amount") or ""))
    if "wait_days" in raw:
        return Step("(wait)", "", {}, wait_days=float(raw["wait_days"]))
    return Step(raw["task"], raw["lane"], raw["data"])


@dataclass(frozen=True)
class ServicePath:
    service: str
    name: str
    start_data: dict[str, Any]
    steps: tuple[Step, ...]
    end_event: str
    expected_data: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def case_data(self) -> dict[str, Any]:
        """What the front desk sends as the case's data: the citizen travels apart (and is checked), and the
        case's ``settings`` are the engine's to copy in (forms/ownership.py refuses them from the front desk)."""
        return {k: v for k, v in self.start_data.items() if k not in ("citizen", "settings")}


def service_paths(service: str) -> list[ServicePath]:
    raw = json.loads((PROCESSES / service / "paths.json").read_text(encoding="utf-8"))
    return [ServicePath(service=service, name=p["name"], start_data=p["start_data"],
                        steps=tuple(_step(s) for s in p["steps"]),
                        end_event=p["end_event"], expected_data=p.get("expected_data", {}))
            for p in raw]


def all_paths() -> list[ServicePath]:
    return [path for service in SERVICES for path in service_paths(service)]


def lanes_of(service: str) -> set[str]:
    """Every lane some documented path of ``service`` passes through."""
    return {step.lane for path in service_paths(service) for step in path.steps if step.is_task}


def ready_task(case: dict[str, Any], step: Step) -> dict[str, Any]:
    """The waiting task a step completes. After a parallel split several tasks wait at once (in different
    lanes); a path lists them in the order it completes them."""
    found = [t for t in case["tasks"] if t["name"] == step.task]
    assert len(found) == 1, f"{step.task} is not waiting; waiting: {[t['name'] for t in case['tasks']]}"
    return found[0]


def take(api: Api, case: dict[str, Any], step: Step, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Take one step of a path through the API and return the case after it: complete the task (as
    ``headers``, else a new user of its lane), or pay the case's open bill at the counter (a cashier opens a
    drawer and pays the exact amount, which must be the step's), or let the days pass (the timer tick)."""
    if step.pay is not None:
        cashier = api.user("cashier")
        opened = api.client.post("/api/cashier/sessions", json={"float": {"cash": "0"}}, headers=cashier)
        assert opened.status_code == 201, opened.text
        bills = api.client.get(f"/api/cases/{case['id']}/bills", headers=cashier).json()
        bill = next(b for b in bills if b["status"] == "open")
        assert not step.pay or bill["amount"] == step.pay, (bill["amount"], step.pay)
        r = api.client.post(f"/api/bills/{bill['id']}/payments", json={"method": "cash", "amount": bill["amount"]},
                            headers=cashier)
        assert r.status_code == 201, r.text
    elif step.wait_days is not None:
        with Session(engine_for(api.settings.database_url)) as session:
            timers.tick(session=session, settings=api.settings,
                        now=datetime.now(UTC) + timedelta(days=step.wait_days))
    else:
        r = api.complete(ready_task(case, step)["id"], step.data, headers or api.user(step.lane))
        assert r.status_code == 200, r.text
        return dict(r.json())
    r = api.client.get(f"/api/cases/{case['id']}", headers=api.user("supervisor"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def find_path(service: str, name: str) -> ServicePath:
    return next(p for p in service_paths(service) if p.name == name)


PATHS = [pytest.param(path, id=path.id) for path in all_paths()]
