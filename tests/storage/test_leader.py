"""The background jobs' turns (storage/leader.py) when the lock's connection dies in the middle of a round: the
round stops, another process takes the turn, and the first takes it again only once it is free."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from engine.core.settings import Settings
from engine.operations import periodic
from harness.settings import make_settings
from storage import leader
from tests.support import advisory_locks

JOB = "leader_test_job"


def holders(admin: Engine, job: str = JOB) -> list[int]:
    """The backends holding the job's lock now."""
    return [pid for pid, _name in advisory_locks.holders(admin, job)]


def kill_holder(admin: Engine) -> None:
    [pid] = holders(admin)
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()


def take(conn: Connection, job: str = JOB) -> bool:
    return bool(conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": leader._lock_id(job)}).scalar())


@pytest.mark.postgres
def test_a_round_whose_lock_is_killed_stops_and_the_other_process_takes_over(postgres_url: str, postgres_admin: Engine,
                                                                             tmp_path: Path) -> None:
    settings = make_settings(postgres_url, tmp_path, leader_check_seconds=0)
    other = postgres_admin.connect()  # the other API process's turn connection
    done: list[int] = []
    killed: list[bool] = []

    def work(_settings: Settings) -> int:
        for piece in range(5):
            leader.check()
            done.append(piece)
            if piece == 1 and not killed:
                killed.append(True)
                kill_holder(postgres_admin)  # PostgreSQL restarted, an idle timeout, pg_terminate_backend...
                assert take(other), "the server let go of the lock: the other process takes the turn"
        return len(done)

    job = periodic.Job(JOB, lambda s: 1.0, 1.0, work, str)
    try:
        assert periodic.run_round(job, settings) == (False, None)
        # The first process stopped at its next piece: never two at work at once after the other took over.
        assert done == [0, 1]
        # While the other holds the turn, this process's rounds do nothing (its pool reconnects by itself).
        assert periodic.run_round(job, settings) == (False, None)
        assert done == [0, 1]
        other.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": leader._lock_id(JOB)})
        # Free again: the next round takes it afresh and runs whole.
        assert periodic.run_round(job, settings) == (True, 7)
        assert done == [0, 1, 0, 1, 2, 3, 4] and holders(postgres_admin) == []
    finally:
        other.close()


@pytest.mark.postgres
def test_a_lost_turn_is_seen_by_still_mine_and_check_raises(postgres_url: str, postgres_admin: Engine) -> None:
    with leader.turn(postgres_url, JOB) as mine:
        assert mine and mine.still_mine()
        leader.check()  # held: nothing happens
        kill_holder(postgres_admin)
        assert not mine.still_mine() and not mine
        with pytest.raises(leader.LostTurn):
            leader.check()
    with leader.turn(postgres_url, JOB) as again:  # a new connection from the pool, the lock taken afresh
        assert again and again.still_mine()
        assert len(holders(postgres_admin)) == 1
    assert holders(postgres_admin) == []


@pytest.mark.postgres
def test_a_turn_that_could_not_be_released_never_goes_back_to_the_pool(postgres_url: str, postgres_admin: Engine,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """If the unlock fails (a timeout, an error), the connection still holds the lock: given back to the pool, it
    would keep the turn on an idle connection and no other process would ever get it. It is closed instead."""
    monkeypatch.setattr(leader, "_unlock", lambda conn, job: False)
    with leader.turn(postgres_url, JOB) as mine:
        assert mine
    assert holders(postgres_admin) == []
    with postgres_admin.connect() as other:
        assert take(other)


@pytest.mark.postgres
def test_a_job_that_fails_releases_its_turn(postgres_url: str, postgres_admin: Engine) -> None:
    with pytest.raises(ZeroDivisionError), leader.turn(postgres_url, JOB) as mine:
        assert mine
        _ = 1 / 0
    assert holders(postgres_admin) == []


@pytest.mark.postgres
def test_the_lock_is_taken_on_the_leader_url_when_one_is_set(postgres_url: str, postgres_admin: Engine) -> None:
    """SHUBBAK_LEADER_DATABASE_URL: the lock's session goes straight to the database (not through a pooler in
    transaction mode); here the same database under another application name shows which URL was used."""
    direct = postgres_url + "?application_name=shubbak-leader"
    with leader.turn(postgres_url, JOB, leader_url=direct) as mine:
        assert mine
        [pid] = holders(postgres_admin)
        with postgres_admin.connect() as conn:
            name = conn.execute(text("SELECT application_name FROM pg_stat_activity WHERE pid = :pid"),
                                {"pid": pid}).scalar()
        assert name == "shubbak-leader"
        with leader.turn(postgres_url, JOB) as contender:  # the same lock, whichever URL a process uses
            assert not contender
    from storage.db import dispose
    dispose(direct)


def test_on_sqlite_a_turn_is_kept_while_the_process_lives(sqlite_settings: Settings) -> None:
    with leader.turn(sqlite_settings.database_url, JOB) as mine:
        assert mine and mine.still_mine()
        leader.check()
    leader.check()  # outside a turn (a Celery task, a test): nothing to lose
