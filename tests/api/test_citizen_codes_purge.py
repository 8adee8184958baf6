"""The periodic job ``citizen_codes`` (engine/operations/periodic.py) deletes the citizens' sign-in codes expired
or used more than ``citizen_code_keep_hours`` ago, and leaves live codes and recently spent ones: run at chosen
moments with the test clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from engine.citizen import signin
from engine.core import clock
from engine.operations import periodic
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.citizen import CitizenCode

MOMENT = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def _phones(settings: object) -> set[str]:
    with Session(engine_for(settings.database_url)) as session:  # type: ignore[attr-defined]
        return {c.phone for c in session.exec(select(CitizenCode)).all()}


def test_old_codes_go_and_live_ones_stay(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path, citizen_code_keep_hours=24, citizen_code_minutes=5)
    with TestClient(create_app(settings)):
        with Session(engine_for(settings.database_url)) as session:
            def code(phone: str, created: datetime, used: datetime | None = None) -> None:
                session.add(CitizenCode(phone=phone, code_hash="0" * 64, tries=0, created_at=created,
                                        expires_at=created + timedelta(minutes=5), used_at=used))
            code("+201000000001", MOMENT - timedelta(hours=30))  # expired 30 h ago: goes
            code("+201000000002", MOMENT - timedelta(hours=30), used=MOMENT - timedelta(hours=30))  # used: goes
            code("+201000000003", MOMENT - timedelta(minutes=2))  # live: stays
            code("+201000000004", MOMENT - timedelta(hours=2))  # expired 2 h ago, within the retention: stays
            code("+201000000005", MOMENT - timedelta(minutes=3), used=MOMENT - timedelta(minutes=1))  # just used
            # Expired just inside the retention, and just past it.
            code("+201000000006", MOMENT - timedelta(hours=24, minutes=4))
            code("+201000000007", MOMENT - timedelta(hours=24, minutes=6))
            session.commit()
        job = periodic.job("citizen_codes")
        with clock.frozen(MOMENT):
            assert job.run(settings) == 3
            assert job.says(3) == "3 old sign-in code(s) deleted"
            assert _phones(settings) == {"+201000000003", "+201000000004", "+201000000005", "+201000000006"}
            assert job.run(settings) == 0  # run again (or by two processes): nothing more goes
        with clock.frozen(MOMENT + timedelta(hours=25)):
            assert job.run(settings) == 4
            assert _phones(settings) == set()


def test_a_live_code_still_signs_in_after_the_job(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    with TestClient(create_app(settings)) as client, Session(engine_for(settings.database_url)) as session:
        signin._store(session, settings, "+201000000009", "123456", None, datetime.now(UTC))
        assert periodic.job("citizen_codes").run(settings) == 0
        r = client.post("/api/citizen/token", json={"phone": "+201000000009", "code": "123456"})
        assert r.status_code == 200, r.text
