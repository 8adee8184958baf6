"""A supervisor opens the dashboard in headless Chromium: the department bars, the daily line and the building
permit's diagram coloured by the average time of each step show the numbers of a dataset with known timings.

Skipped, with the reason shown, when the machine has no Chromium and CI is not set; under CI=true a missing
Chromium is a failure.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from admin_ui.i18n import Lang
from admin_ui.routes.reports import duration
from engine.cases import lifecycle as cases
from engine.cases import tasks
from engine.catalog import processes
from engine.catalog.packages import read_package
from engine.core import clock
from engine.core.settings import Settings
from engine.people.users import Actor
from engine.reports.projector import catch_up
from harness import journey
from harness.pages import add_user
from harness.settings import ROOT
from storage.db import engine_for
from tests.support.browser import signed_in
from tests.support.payments import pay_bill

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
STEPS = {step["task"]: step["data"] for step in json.loads(
    (ROOT / "processes" / "building_permit" / "paths.json").read_text("utf-8"))[0]["steps"] if "task" in step}
# Seconds each case spends in each step: (register_request, engineering_review, hand_over).
# The fourth case was registered and waits at the engineering review.
TIMINGS: list[tuple[int, int | None, int | None]] = [(600, 2 * 86_400, 3600), (1200, 3 * 86_400, 5400),
                                                     (1800, 4 * 86_400, 1800), (900, None, None)]
CLERK = Actor("clerk", frozenset({"front_desk"}))
ENGINEER = Actor("engineer", frozenset({"engineering"}))


def _seed(settings: Settings, done_days: list[str]) -> None:
    files = read_package(ROOT / "processes" / "building_permit")
    files["service.toml"] = files["service.toml"].replace(b"required = true", b"required = false")
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        processes.deploy(session=session, files=files, actor=Actor("t", frozenset({"admin"})), settings=settings)
        for k, spent in enumerate(TIMINGS):
            moment = T0 + timedelta(hours=k)
            with clock.frozen(moment):
                case = cases.open_case(session=session, service_code="building_permit", citizen=journey.CITIZEN,
                                       data={}, actor=CLERK, settings=settings).case
            for (name, actor), seconds in zip([("register_request", CLERK), ("engineering_review", ENGINEER),
                                               ("hand_over", CLERK)], spent, strict=True):
                if seconds is None:
                    break
                if name == "hand_over":  # the approval billed the fee: the counter takes it at once
                    with clock.frozen(moment):
                        pay_bill(session, settings, case.id)
                moment += timedelta(seconds=seconds)
                ready = cases.ready_tasks(session, case.id)
                assert [t.name for t in ready] == [name]
                with clock.frozen(moment):
                    tasks.complete(session=session, task_id=ready[0].id, data=STEPS[name], actor=actor,
                                   settings=settings)
            else:
                done_days.append(moment.date().isoformat())
    add_user(settings, "supervisor", username="boss", full_name="رئيس المركز")
    catch_up(settings)  # the projector's round: the aggregates are counted from the events after commit


@pytest.mark.slow
def test_the_dashboard_draws_the_known_numbers(sqlite_settings: Settings, tmp_path: Path) -> None:
    done_days: list[str] = []
    averages = {name: sum(done) / len(done) for i, name in enumerate(("register_request", "engineering_review",
                                                                      "hand_over"))
                if (done := [t[i] for t in TIMINGS if t[i] is not None])}
    slowest = max(averages.values())
    arabic = Lang("ar")
    with signed_in(sqlite_settings, tmp_path / "reports", lambda s: _seed(s, done_days), "boss") as (walk, page):
        page.get_by_role("link", name="الأداء").click()
        page.fill("input[name=from]", "2026-03-02")
        page.fill("input[name=to]", "2026-03-10")
        page.select_option("select[name=service]", "building_permit")
        page.locator("#report-filters button[type=submit]").click()
        assert "service=building_permit" in page.url and "from=2026-03-02" in page.url
        # Backlog: the fourth case waits at the engineering review; every finished review was on time or not.
        bar = page.locator('#backlog-chart g.bar[data-key="engineering"]')
        expect(bar).to_have_attribute("data-value", "1")
        expect(bar.locator("text.value")).to_have_text("1")
        assert float(bar.locator("rect").get_attribute("height") or 0) > 0
        front = page.locator('#backlog-chart g.bar[data-key="front_desk"]')
        expect(front).to_have_attribute("data-value", "0")
        assert float(front.locator("rect").get_attribute("height") or 1) == 0
        # The daily line: the cases completed on each day of the range.
        for day in sorted(set(done_days)):
            expect(page.locator(f'#throughput-chart circle[data-day="{day}"]')).to_have_attribute(
                "data-value", str(done_days.count(day)))
        assert page.locator("#throughput-chart circle").count() == 9
        # The diagram: each user task coloured by its average time, labelled with it.
        expect(page.locator("#heat-diagram")).to_have_attribute("data-ready", "true")
        for name, seconds in averages.items():
            level = max(1, math.ceil(5 * seconds / slowest))
            element = page.locator(f'#heat-diagram .djs-element[data-element-id="{name}"]')
            expect(element).to_have_class(f"djs-element djs-shape heat-{level}")
            label = page.locator(f'#heat-diagram .heat-label[data-element="{name}"]')
            expect(label).to_have_attribute("data-seconds", _js_number(round(seconds, 1)))
            expect(label).to_have_text(duration(seconds, arabic))
        assert page.locator("#heat-diagram .heat-label").count() == 3
        walk.shot(page, "dashboard", full_page=True)


def _js_number(value: Any) -> str:
    """How JavaScript's String(number) writes the seconds (no trailing .0)."""
    return str(int(value)) if float(value).is_integer() else str(value)
