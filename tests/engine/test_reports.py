"""Every figure of the reports against the same figure computed again from the seeded timeline
(tests/support/reports.py), on SQLite and PostgreSQL; and a rebuild from the rows equals the hook's counts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from engine.cases import escalation, tasks
from engine.cases import lifecycle as cases
from engine.core import clock
from engine.core.errors import Forbidden, Invalid
from engine.core.settings import Settings
from engine.people.users import Actor, create_user
from engine.reports.buckets import RATIO, bucket, percentile, upper
from engine.reports.figures import spans
from engine.reports.projector import catch_up
from engine.reports.read import report
from engine.reports.rebuild import AGGREGATE_TABLES, rebuild
from harness.api import CITIZEN
from harness.pages import deploy
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.ratings import Rating
from tests.support import reports as data
from tests.support.reports import BASE, NOW, Dataset, seed

BOSS = Actor("boss", frozenset({"supervisor"}))
ALL = (BASE.date(), NOW.date())
FIRST_DAYS = (BASE.date() + timedelta(days=1), BASE.date() + timedelta(days=3))


def close(got: float | None, want: float | None) -> bool:
    return (got is None) == (want is None) and (want is None or abs(got - want) <= 0.1)  # type: ignore[operator]


def bucketed(got: float | None, exact: float | None) -> bool:
    """A percentile from the buckets: never below the exact value, at most one bucket (19%) above it."""
    if exact is None:
        return got is None
    return got is not None and exact <= got <= exact * RATIO + 0.1


def run(settings: Settings, name: str, start: date, end: date, center: str | None = None,
        **kw: Any) -> list[dict[str, Any]]:
    with Session(engine_for(settings.database_url)) as session, clock.frozen(NOW):
        return report(name, session=session, actor=BOSS, settings=settings, start=start, end=end, center=center,
                      **kw)[1]


@pytest.fixture
def dataset(settings: Settings) -> Dataset:
    return seed(settings)


MARCH_ON = (date(2026, 3, 1), NOW.date())  # a whole month (its monthly rows) and a loose day
SCOPES = [(ALL, None), (FIRST_DAYS, None), (ALL, "CITY-A"), (FIRST_DAYS, "CITY-B"), (ALL, "GOV"),
          (MARCH_ON, None), (MARCH_ON, "CITY-B")]


def _wanted(dataset: Dataset, center: str | None) -> set[int] | None:
    if center is None:
        return None
    if center == "GOV":
        return set(dataset.centers.values())
    return {dataset.centers[center]}


@pytest.mark.parametrize(("days", "center"), SCOPES)
def test_sla_per_service_matches_the_timeline(settings: Settings, dataset: Dataset, days: tuple[date, date],
                                              center: str | None) -> None:
    want = data.expected_sla(dataset, *days, _wanted(dataset, center))
    [got] = run(settings, "sla", *days, center)
    assert got["service_code"] == "test_permit"
    for key in ("opened", "completed", "rejected", "on_time", "late", "cancelled", "open", "open_overdue",
                "breached"):
        assert got[key] == want[key], key
    assert got["compliance"] == (round(want["on_time"] / want["completed"], 4) if want["completed"] else None)
    assert close(got["avg_case_seconds"], want["avg_case_seconds"])
    assert bucketed(got["p90_case_seconds"], want["p90_case_seconds"])


def test_the_dataset_has_every_kind_of_figure(dataset: Dataset) -> None:
    want = data.expected_sla(dataset, *ALL)
    assert want["late"] > 0 and want["on_time"] > 0 and want["rejected"] > 0 and want["open_overdue"] > 0
    assert want["open"] > want["open_overdue"] and want["cancelled"] == 1
    steps = data.expected_steps(dataset, *ALL)
    assert steps["review"]["overdue_open"] > 0 and steps["review"]["on_time"] < steps["review"]["count"]


@pytest.mark.parametrize(("days", "center"), SCOPES)
def test_steps_match_the_timeline(settings: Settings, dataset: Dataset, days: tuple[date, date],
                                  center: str | None) -> None:
    want = data.expected_steps(dataset, *days, _wanted(dataset, center))
    got = {row["name"]: row for row in run(settings, "steps", *days, center, service_code="test_permit")}
    assert got["review"]["title"] == "Review request" and got["review"]["lane"] == "reviewer"
    for name, expected in want.items():
        if expected["count"] == 0 and expected["waiting"] == 0:
            assert name not in got
            continue
        row = got[name]
        for key in ("count", "on_time", "waiting", "overdue_open"):
            assert row[key] == expected[key], (name, key)
        assert close(row["avg_seconds"], expected["avg_seconds"]), name
        assert bucketed(row["p90_seconds"], expected["p90_seconds"]), name


@pytest.mark.parametrize(("days", "center"), SCOPES)
def test_departments_throughput_and_officers_match_the_timeline(
        settings: Settings, dataset: Dataset, days: tuple[date, date], center: str | None) -> None:
    wanted = _wanted(dataset, center)
    lanes = {row["department"]: row for row in run(settings, "departments", *days, center)}
    for lane, expected in data.expected_departments(dataset, *days, wanted).items():
        assert {k: lanes[lane][k] for k in expected} == expected, lane
    daily = {row["day"]: {k: row[k] for k in ("opened", "completed", "tasks_completed")}
             for row in run(settings, "throughput", *days, center)}
    assert daily == data.expected_throughput(dataset, *days, wanted)
    officers = {row["officer"]: row for row in run(settings, "officers", *days, center)}
    expected_officers = data.expected_officers(dataset, *days, wanted)
    assert officers.keys() == expected_officers.keys()
    for name, expected in expected_officers.items():
        assert officers[name]["completed"] == expected["completed"]
        assert close(officers[name]["avg_seconds"], expected["avg_seconds"])
        assert bucketed(officers[name]["median_seconds"], expected["median_seconds"])


def test_a_department_filter_keeps_its_lane(settings: Settings, dataset: Dataset) -> None:
    rows = run(settings, "departments", *ALL, department="reviewer")
    assert [r["department"] for r in rows] == ["reviewer"]
    steps = run(settings, "steps", *ALL, service_code="test_permit", department="reviewer")
    assert [r["name"] for r in steps] == ["review"]


def _aggregates(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with Session(engine_for(settings.database_url)) as session:
        for model in AGGREGATE_TABLES:
            table = model.__table__  # type: ignore[attr-defined]
            rows = session.connection().execute(select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(round(v, 3) if isinstance(v, float) else v for v in row) for row in rows]
    return out


def test_a_rebuild_counts_what_the_hook_counted(settings: Settings, dataset: Dataset) -> None:
    before = _aggregates(settings)
    assert before["report_day"] and before["report_claim"]
    with Session(engine_for(settings.database_url)) as session:
        counted = rebuild(session.connection())
        session.commit()
    assert counted == {"cases": len(dataset.cases), "tasks": sum(s.done is not None for c in dataset.cases
                                                                  for s in c.steps)}
    assert _aggregates(settings) == before


def test_refusals(settings: Settings, dataset: Dataset) -> None:
    with Session(engine_for(settings.database_url)) as session:
        with pytest.raises(Forbidden):
            report("sla", session=session, actor=Actor("clerk", frozenset({"front_desk"})), settings=settings)
        with pytest.raises(Invalid):
            report("sla", session=session, actor=BOSS, settings=settings, start=ALL[1], end=ALL[0])
        with pytest.raises(Invalid):
            report("sla", session=session, actor=BOSS, settings=settings, start=date(2025, 1, 1),
                   end=date(2026, 3, 1))
        with pytest.raises(Invalid):
            report("steps", session=session, actor=BOSS, settings=settings)
        for far in ({"start": date(9999, 12, 1), "end": date(9999, 12, 31)}, {"end": date(1, 1, 2)}):
            with pytest.raises(Invalid):  # not an OverflowError (a 500) in the date arithmetic
                report("sla", session=session, actor=BOSS, settings=settings, **far)
        local = Actor("local", frozenset({"supervisor"}), center_id=dataset.centers["CITY-A"])
        with pytest.raises(Forbidden):
            report("sla", session=session, actor=local, settings=settings, center="CITY-B")
    # A supervisor of a city sees that city's cases only, without asking.
    with Session(engine_for(settings.database_url)) as session, clock.frozen(NOW):
        [mine] = report("sla", session=session, actor=local, settings=settings, start=ALL[0], end=ALL[1])[1]
    assert mine["opened"] == data.expected_sla(dataset, *ALL, {dataset.centers["CITY-A"]})["opened"]


def test_spans_read_whole_months_from_monthly_rows() -> None:
    assert spans(date(2026, 3, 1), date(2026, 3, 31)) == ([date(2026, 3, 1)], [])
    assert spans(date(2026, 3, 2), date(2026, 3, 31)) == ([], [(date(2026, 3, 2), date(2026, 3, 31))])
    assert spans(date(2026, 1, 15), date(2026, 4, 2)) == (
        [date(2026, 2, 1), date(2026, 3, 1)], [(date(2026, 1, 15), date(2026, 1, 31)),
                                               (date(2026, 4, 1), date(2026, 4, 2))])
    assert spans(date(2025, 12, 1), date(2026, 1, 31)) == ([date(2025, 12, 1), date(2026, 1, 1)], [])


def test_buckets() -> None:
    for seconds in (0.2, 1.0, 1.5, 59.0, 3600.0, 86_400 * 3.3, 2 ** 7.25):
        b = bucket(seconds)
        assert upper(b - 1) <= seconds < upper(b) if b > 0 else seconds < 1
    assert percentile([], 0.9) is None
    values = [1.5, 30.0, 30.0, 700.0]
    got = percentile([(bucket(v), 1) for v in values], 0.5)
    assert got is not None and 30.0 <= got <= 30.0 * RATIO + 0.1


def test_satisfaction_counts_ratings_given_in_the_range(settings: Settings, dataset: Dataset) -> None:
    given = [("happy", 0), ("happy", 1), ("unhappy", 1), ("neutral", 2), ("happy", 9), ("unhappy", 40)]
    rated = [c for c in dataset.cases if c.status == "completed"][:len(given)]
    with Session(engine_for(settings.database_url)) as session:
        for run_, (score, day) in zip(rated, given, strict=True):
            session.add(Rating(case_id=run_.case_id, service_code="test_permit", center_id=run_.center,
                               clerk="clerk", score=score, channel="desk", created_at=BASE + timedelta(days=day)))
        session.commit()
    for days, center in SCOPES:
        wanted = _wanted(dataset, center)
        chosen = [score for run_, (score, day) in zip(rated, given, strict=True)
                  if days[0] <= (BASE + timedelta(days=day)).date() <= days[1]
                  and (wanted is None or run_.center in wanted)]
        rows = run(settings, "satisfaction", *days, center)
        want = [{"service_code": "test_permit", "happy": chosen.count("happy"), "neutral": chosen.count("neutral"),
                 "unhappy": chosen.count("unhappy"), "rated": len(chosen),
                 "happy_share": round(chosen.count("happy") / len(chosen), 4)}] if chosen else []
        assert rows == want, (days, center)


def test_a_reassignment_starts_the_officers_handling_time(settings: Settings) -> None:
    deploy(settings, TEST_PROCESSES / "test_permit")
    clerk, officer = Actor("clerk", frozenset({"front_desk"})), Actor("rev9", frozenset({"reviewer"}))
    t0 = BASE
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        create_user(session=session, username="rev9", password="correct horse", full_name="Rev", roles=["reviewer"],
                    settings=settings, installation_wide=True)
        with clock.frozen(t0):
            case = cases.open_case(session=session, service_code="test_permit", citizen=CITIZEN, data={},
                                   actor=clerk, settings=settings).case
        with clock.frozen(t0 + timedelta(minutes=5)):
            tasks.complete(session=session, task_id=cases.ready_tasks(session, case.id)[0].id,
                           data={"area": 100, "purpose": "house"}, actor=clerk, settings=settings)
        review = cases.ready_tasks(session, case.id)[0].id
        with clock.frozen(t0 + timedelta(days=2)):
            escalation.reassign(session=session, task_id=review, to="rev9", actor=BOSS, settings=settings)
        with clock.frozen(t0 + timedelta(days=2, hours=3)):
            tasks.complete(session=session, task_id=review, data={"decision": "reject"}, actor=officer,
                           settings=settings)
    assert catch_up(settings) == 5  # opened, two completions, the reassignment, the end
    [row] = [r for r in run(settings, "officers", *ALL) if r["officer"] == "rev9"]
    assert row["completed"] == 1 and row["avg_seconds"] == 3 * 3600.0
    assert bucketed(row["median_seconds"], 3 * 3600.0)
    before = _aggregates(settings)
    with Session(engine_for(settings.database_url)) as session:
        rebuild(session.connection())
        session.commit()
    assert _aggregates(settings) == before


def test_the_citizen_is_neither_a_department_nor_an_officer(settings: Settings, dataset: Dataset) -> None:
    """A complaint's time to reopen is a task in the citizen's lane that the citizen completes: it is no
    department's backlog or work, and the citizen is no officer."""
    from engine.people.users import CITIZEN_ACTOR, CITIZEN_LANE
    from engine.reports.tally import Tally, add_to

    before = {name: run(settings, name, *ALL) for name in ("departments", "officers", "throughput")}
    tally = Tally()
    done = BASE + timedelta(days=2)
    tally.task_done(service_code="test_permit", center_id=dataset.centers["CITY-A"], lane=CITIZEN_LANE,
                    name="reopen_window", officer=CITIZEN_ACTOR, ready_at=done - timedelta(hours=5), claimed_at=None,
                    due_at=None, at=done)
    with engine_for(settings.database_url).begin() as conn:
        add_to(conn, tally)
    after = {name: run(settings, name, *ALL) for name in ("departments", "officers", "throughput")}
    assert CITIZEN_LANE not in {row["department"] for row in after["departments"]}
    assert CITIZEN_ACTOR not in {row["officer"] for row in after["officers"]}
    assert after == before
