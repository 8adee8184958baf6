"""The report projector (engine/reports/projector.py): the aggregates are counted from the audit events after
they commit, exactly once: not in the step's transaction, not twice after a failed round, not skipped when a
later event commits first (PostgreSQL), and caught up after a rebuild. Its freshness is on the API and the page."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlmodel import Session

from api.app import create_app
from engine.cases import hooks, tasks
from engine.cases import lifecycle as cases
from engine.core.settings import Settings
from engine.people.users import Actor
from engine.reports import projector
from engine.reports.projector import catch_up, project_round
from engine.reports.rebuild import AGGREGATE_TABLES, rebuild
from harness.api import CITIZEN, Api
from harness.pages import deploy
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for
from storage.models.reports import ProjectionCursor
from tests import conftest
from tests.conftest import _postgres_db, missing

CLERK = Actor("clerk", frozenset({"front_desk"}))
REVIEWER = Actor("rev", frozenset({"reviewer"}))
REGISTER = {"area": 100, "purpose": "house"}
TABLES = AGGREGATE_TABLES


@pytest.fixture
def pg_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """PostgreSQL only: transactions that commit out of id order happen there (SQLite has one writer)."""
    server = request.getfixturevalue("postgres_template")
    if server is None:
        missing(conftest._reason[0])
    for url in _postgres_db(server):
        yield make_settings(url, tmp_path)


def aggregates(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    with Session(engine_for(settings.database_url)) as session:
        return {model.__tablename__: sorted(tuple(r) for r in session.execute(select(model.__table__)).all())  # type: ignore[union-attr]
                for model in TABLES}


def rebuilt(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    with Session(engine_for(settings.database_url)) as session:
        rebuild(session.connection())
        session.commit()
    return aggregates(settings)


def cursor(settings: Settings) -> Any:
    with Session(engine_for(settings.database_url)) as session:
        return session.execute(select(ProjectionCursor.__table__)).one()  # type: ignore[attr-defined]


def open_cases(settings: Settings, n: int) -> list[int]:
    deploy(settings, TEST_PROCESSES / "test_permit")
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        ids = []
        for _ in range(n):
            case = cases.open_case(session=session, service_code="test_permit", citizen=CITIZEN, data={},
                                   actor=CLERK, settings=settings).case
            assert case.id is not None
            ids.append(case.id)
    return ids


def register(settings: Settings, case_id: int) -> None:
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        task = cases.ready_tasks(session, case_id)[0]
        tasks.complete(session=session, task_id=task.id, data=REGISTER, actor=CLERK, settings=settings)


def lane_completed(settings: Settings) -> int:
    return sum(row[4] for row in aggregates(settings)["report_lane_day"])


def test_the_step_writes_no_aggregate_and_the_projector_counts_it_once(settings: Settings) -> None:
    [case_id] = open_cases(settings, 1)
    register(settings, case_id)
    assert aggregates(settings) == {model.__tablename__: [] for model in TABLES}  # not in the step
    with Session(engine_for(settings.database_url)) as session:
        counted_at, behind = projector.freshness(session.connection())
    assert behind >= 2  # the case opened and the task completed, at least
    assert catch_up(settings) == 2
    assert lane_completed(settings) == 1
    assert catch_up(settings) == 0  # idempotent: a second round counts nothing again
    assert lane_completed(settings) == 1
    with Session(engine_for(settings.database_url)) as session:
        counted_at, behind = projector.freshness(session.connection())
    assert behind == 0 and counted_at is not None
    assert datetime.now(UTC) - counted_at < timedelta(minutes=1)
    assert aggregates(settings) == rebuilt(settings)


def test_a_round_that_fails_writes_nothing_and_the_next_counts_once(settings: Settings,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    [case_id] = open_cases(settings, 1)
    register(settings, case_id)
    before = cursor(settings)

    def crash(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("the process died mid-round")

    monkeypatch.setattr(projector, "add_to", crash)
    with pytest.raises(RuntimeError):
        catch_up(settings)
    assert cursor(settings) == before
    assert aggregates(settings)["report_day"] == []
    monkeypatch.undo()
    assert catch_up(settings) == 2
    assert lane_completed(settings) == 1
    assert aggregates(settings) == rebuilt(settings)


def test_a_rebuild_moves_the_cursor_so_nothing_is_counted_twice(settings: Settings) -> None:
    [case_id] = open_cases(settings, 1)
    register(settings, case_id)
    counted = rebuilt(settings)
    assert catch_up(settings) == 0
    assert aggregates(settings) == counted
    assert lane_completed(settings) == 1


def test_a_database_without_a_cursor_counts_from_the_start(settings: Settings) -> None:
    [case_id] = open_cases(settings, 1)
    register(settings, case_id)
    with Session(engine_for(settings.database_url)) as session:
        session.execute(ProjectionCursor.__table__.delete())  # type: ignore[attr-defined]
        session.commit()
    assert catch_up(settings) == 2
    assert aggregates(settings) == rebuilt(settings)


def test_small_batches_count_everything(settings: Settings) -> None:
    ids = open_cases(settings, 3)
    for case_id in ids:
        register(settings, case_id)
    assert catch_up(settings.model_copy(update={"report_project_batch": 1})) == 6
    assert lane_completed(settings) == 3
    assert aggregates(settings) == rebuilt(settings)


class Held:
    """A step of ``case_id`` stopped inside its transaction, its events inserted and not committed."""

    def __init__(self, settings: Settings, case_id: int, monkeypatch: pytest.MonkeyPatch, *, fail: bool = False):
        self.inserted, self.release = threading.Event(), threading.Event()
        self.errors: list[BaseException] = []
        original = list(hooks._HOOKS)

        def hold(written: hooks.Written) -> None:
            if written.case.id == case_id and any(e.kind == "task_completed" for e in written.events):
                self.inserted.set()
                assert self.release.wait(30)
                if fail:
                    raise RuntimeError("the step failed after its events were inserted")

        monkeypatch.setattr(hooks, "_HOOKS", [hold, *original])

        def step() -> None:
            try:
                register(settings, case_id)
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                self.errors.append(exc)

        self.thread = threading.Thread(target=step)
        self.thread.start()
        assert self.inserted.wait(30)

    def finish(self) -> None:
        self.release.set()
        self.thread.join(30)


@pytest.mark.postgres
def test_an_event_committed_after_a_later_one_is_not_skipped(pg_settings: Settings,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = open_cases(pg_settings, 2)
    assert catch_up(pg_settings) == 2
    held = Held(pg_settings, first, monkeypatch)
    try:
        register(pg_settings, second)  # a later id, committed first
        with Session(engine_for(pg_settings.database_url)) as session:
            done = project_round(session, pg_settings)
        assert done is not None and done.counted == 1 and done.holes == 1
        assert lane_completed(pg_settings) == 1
        row = cursor(pg_settings)
        assert row.position < row.high and len(row.holes) == 1
    finally:
        held.finish()
    assert held.errors == []
    assert catch_up(pg_settings) == 1  # the hole filled: counted now, once
    row = cursor(pg_settings)
    assert row.holes == {} and row.position == row.high
    assert lane_completed(pg_settings) == 2
    assert aggregates(pg_settings) == rebuilt(pg_settings)


@pytest.mark.postgres
def test_a_rolled_back_id_is_given_up_after_the_window(pg_settings: Settings,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = open_cases(pg_settings, 2)
    assert catch_up(pg_settings) == 2
    held = Held(pg_settings, first, monkeypatch, fail=True)
    register(pg_settings, second)
    now = datetime.now(UTC)
    with Session(engine_for(pg_settings.database_url)) as session:
        assert project_round(session, pg_settings, now=now) == projector.Round(read=1, counted=1, holes=1)
    held.finish()
    assert [type(e) for e in held.errors] == [RuntimeError]  # rolled back: its id never appears
    with Session(engine_for(pg_settings.database_url)) as session:
        still = project_round(session, pg_settings, now=now + timedelta(seconds=1))
        assert still is not None and still.holes == 1
        later = now + timedelta(seconds=pg_settings.report_gap_seconds + 1)
        assert project_round(session, pg_settings, now=later) == projector.Round(read=0, counted=0, holes=0)
    row = cursor(pg_settings)
    assert row.holes == {} and row.position == row.high
    assert lane_completed(pg_settings) == 1
    assert aggregates(pg_settings) == rebuilt(pg_settings)


@pytest.mark.postgres
def test_a_second_projector_skips_its_round_while_the_first_holds_the_cursor(pg_settings: Settings) -> None:
    [case_id] = open_cases(pg_settings, 1)
    with engine_for(pg_settings.database_url).connect() as other:
        other.execute(text("SELECT name FROM projection_cursor FOR UPDATE"))
        started = time.perf_counter()
        assert catch_up(pg_settings) == 0  # neither waits nor counts
        assert time.perf_counter() - started < 5
        other.rollback()
    assert catch_up(pg_settings) == 1
    register(pg_settings, case_id)
    assert catch_up(pg_settings) == 1
    assert aggregates(pg_settings) == rebuilt(pg_settings)


def test_freshness_on_the_api(api: Api) -> None:
    assert api.client.get("/api/reports/freshness").status_code == 401
    clerk = api.user("front_desk")
    refused = api.client.get("/api/reports/freshness", headers=clerk)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this is for: admin, supervisor"
    boss = api.user("supervisor")
    assert api.deploy(TEST_PROCESSES / "test_permit", api.user("admin")).status_code == 201
    assert api.open_case("test_permit", clerk).status_code == 201
    before = api.client.get("/api/reports/freshness", headers=boss).json()
    assert before["behind"] >= 1
    catch_up(api.settings)
    after = api.client.get("/api/reports/freshness", headers=boss).json()
    assert after["behind"] == 0
    assert datetime.fromisoformat(after["counted_at"]) <= datetime.now(UTC)


def test_the_api_process_counts_in_the_background(sqlite_settings: Settings) -> None:
    settings = sqlite_settings.model_copy(update={"report_project_seconds": 0.05})
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        assert api.deploy(TEST_PROCESSES / "test_permit", api.user("admin")).status_code == 201
        assert api.open_case("test_permit", api.user("front_desk")).status_code == 201
        boss = api.user("supervisor")
        deadline = time.monotonic() + 10
        sla: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            sla = client.get("/api/reports/sla", headers=boss).json()
            if sla and sla[0]["opened"] == 1:
                break
            time.sleep(0.05)
        assert sla and sla[0]["opened"] == 1
        assert client.get("/api/reports/freshness", headers=boss).json()["behind"] == 0


def test_beat_runs_the_projector_when_a_broker_is_set() -> None:
    from cli.worker import beat_schedule
    from engine.operations.periodic import JOBS

    [job] = [job for job in JOBS if job.name == "reports"]
    assert job.run is catch_up
    settings = make_settings("sqlite://", Path("."), report_project_seconds=3)
    assert beat_schedule(settings)["shubbak-reports"]["schedule"] == 3


def test_central_counts_each_center_nodes_events_by_their_own_block(pg_settings: Settings) -> None:
    # Central holds its own events (block 0) and a center node's, numbered from the node's block (storage/nodes.py
    # ID_BLOCK) and arriving between central's own: numbered here by moving the sequences there and back.
    from storage import nodes

    settings = pg_settings
    open_cases(settings, 2)
    catch_up(settings)
    engine = engine_for(settings.database_url)
    with engine.begin() as conn:
        sequences = nodes.id_sequences(conn)
        before = {s: conn.exec_driver_sql(f"SELECT last_value FROM {s}").scalar_one() for s in sequences.values()}
        for sequence in sequences.values():
            conn.exec_driver_sql(f"SELECT setval('{sequence}', {7 * nodes.ID_BLOCK})")
    at_node = open_cases(settings, 3)
    assert all(7 * nodes.ID_BLOCK < i < 8 * nodes.ID_BLOCK for i in at_node)
    with engine.begin() as conn:
        for sequence, value in before.items():
            conn.exec_driver_sql(f"SELECT setval('{sequence}', {value})")
    open_cases(settings, 1)  # central's own again, below the node's ids
    assert catch_up(settings) == 4  # no range of seven million million ids was built on the way
    with Session(engine) as session:
        names = set(session.execute(select(ProjectionCursor.name)).scalars())  # type: ignore[call-overload]
        assert names == {"reports", "reports@7"}
        assert projector.freshness(session.connection())[1] == 0
    projected = aggregates(settings)
    assert sum(row[3] for row in projected["report_day"]) == 6  # every case opened, once
    assert projected == rebuilt(settings)
    open_cases(settings, 1)
    assert catch_up(settings) == 1


@pytest.mark.postgres
def test_a_center_nodes_event_held_back_by_a_long_cut_is_still_counted(pg_settings: Settings) -> None:
    # A center node's transactions reach central in their commit order: the later id first when the earlier one
    # committed after it, and the line may be cut between the two for longer than the gap window. Central's clock
    # says nothing of the node's rolled-back ids then: the node's own events do.
    from storage import nodes
    from storage.models.audit import AuditEvent

    settings = pg_settings
    engine = engine_for(settings.database_url)
    with engine.begin() as conn:
        for sequence in nodes.id_sequences(conn).values():
            conn.exec_driver_sql(f"SELECT setval('{sequence}', {7 * nodes.ID_BLOCK})")
    first, second = open_cases(settings, 2)
    events = AuditEvent.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:  # the first case's transaction has not arrived yet
        late = [dict(r) for r in conn.execute(events.select().where(events.c.case_id == first)).mappings()]
        conn.execute(events.delete().where(events.c.case_id == first))
    now = datetime.now(UTC)
    with Session(engine) as session:
        assert project_round(session, settings, now=now) is not None
        cut = now + timedelta(seconds=settings.report_gap_seconds * 10)  # nothing else arrives meanwhile
        assert project_round(session, settings, now=cut) is not None
    with engine.begin() as conn:  # the line is back
        conn.execute(events.insert(), late)
    catch_up(settings)
    assert sum(row[3] for row in aggregates(settings)["report_day"]) == 2  # both cases opened, each once
    assert aggregates(settings) == rebuilt(settings)


@pytest.mark.postgres
def test_freshness_at_a_central_of_many_center_nodes_counts_each_block_in_the_same_few_statements(
        pg_settings: Settings) -> None:
    # Read at every scrape of the metrics: a central with a thousand center nodes must not make three trips per node.
    from sqlalchemy import event

    from storage import nodes
    from storage.models.audit import AuditEvent

    settings = pg_settings
    open_cases(settings, 1)
    catch_up(settings)
    engine = engine_for(settings.database_url)
    events = AuditEvent.__table__  # type: ignore[attr-defined]

    def at_center(center: int, after: int = 0) -> None:
        with engine.begin() as conn:
            sequences = nodes.id_sequences(conn)
            before = {s: conn.exec_driver_sql(f"SELECT last_value FROM {s}").scalar_one() for s in sequences.values()}
            for sequence in sequences.values():
                conn.exec_driver_sql(f"SELECT setval('{sequence}', {center * nodes.ID_BLOCK + after})")
        open_cases(settings, 1)
        with engine.begin() as conn:
            for sequence, value in before.items():
                conn.exec_driver_sql(f"SELECT setval('{sequence}', {value})")

    def fresh() -> tuple[int, int]:
        statements: list[str] = []

        def seen(*args: Any) -> None:
            statements.append(args[2])

        event.listen(engine, "before_cursor_execute", seen)
        try:
            with Session(engine) as session:
                behind = projector.freshness(session.connection())[1]
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        return behind, len(statements)

    def uncounted() -> int:  # every event at a center node, none counted yet: their blocks have no cursor
        with engine.connect() as conn:
            return len(conn.execute(events.select().where(events.c.id >= nodes.ID_BLOCK)).all())

    at_center(7)
    behind, one_node = fresh()
    assert behind == uncounted() > 0
    for center in (8, 9, 12):
        at_center(center)
    behind, four_nodes = fresh()
    assert behind == uncounted()
    assert four_nodes == one_node  # not a trip per node
    catch_up(settings)
    assert fresh()[0] == 0
    at_center(8, after=1000)  # more of a node whose block has a cursor now
    with engine.connect() as conn:
        newest = conn.execute(events.select().where(events.c.id > 8 * nodes.ID_BLOCK + 1000,
                                                    events.c.id < 9 * nodes.ID_BLOCK)).all()
    assert fresh() == (len(newest), one_node) and newest
