"""One open drawer per cashier is a guarantee of the database, not only of the application's check: two
openings racing past the check (PostgreSQL locks no row that does not exist yet) end with one drawer and a
clear 409 for the other; a row written around the application is refused by the partial unique index."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.app import create_app
from engine.core.errors import Conflict
from engine.payments import drawer
from engine.people.users import Actor
from harness.api import Api
from harness.settings import make_settings
from storage.db import engine_for, session_for
from storage.models.payments import CashierSession
from tests.support.arabic import assert_arabic
from tests.support.concurrent import at_once

pytestmark = pytest.mark.postgres


def _race(settings: Any, opener: Any, monkeypatch: pytest.MonkeyPatch, *, both_past_the_check: bool) -> list[Any]:
    checked = threading.Barrier(2, timeout=30)
    if both_past_the_check:  # both requests read "no open drawer" before either inserts its own
        real = drawer.open_of

        def slow_check(session: Session, username: str, settings: Any, *, lock: bool = False) -> CashierSession | None:
            found = real(session, username, settings, lock=lock)
            checked.wait()
            return found

        monkeypatch.setattr(drawer, "open_of", slow_check)

    results = at_once(opener)
    monkeypatch.undo()
    return results


def test_two_openings_past_the_check_leave_one_drawer_on_postgres(postgres_url: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(postgres_url, tmp_path)
    actor = Actor("racer", frozenset({"cashier"}), "Racer", None)

    def opener() -> CashierSession:
        with session_for(settings.database_url) as session:
            return drawer.open_session(session=session, actor=actor, opening={"cash": "100"}, settings=settings)

    results = _race(settings, opener, monkeypatch, both_past_the_check=True)
    won = [r for r in results if isinstance(r, CashierSession)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 1 and len(lost) == 1, results
    assert lost[0].message_id == "cashier.session_already_open"
    with Session(engine_for(settings.database_url)) as session:
        rows = session.exec(select(CashierSession).where(CashierSession.cashier == "racer")).all()
        assert [(r.id, r.status, r.audit_seq) for r in rows] == [(won[0].id, "open", 1)]  # the loser left nothing
    # Once it is closed, the cashier opens the next one.
    with session_for(settings.database_url) as session:
        drawer.close(session=session, session_id=won[0].id, counted={"cash": "100"}, actor=actor, settings=settings)
    with session_for(settings.database_url) as session:
        assert drawer.open_session(session=session, actor=actor, opening={}, settings=settings).status == "open"


def test_two_openings_at_once_through_the_api_get_201_and_409_on_postgres(postgres_url: str, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(postgres_url, tmp_path)
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        cashier = api.user("cashier")

        def opener() -> Any:
            return client.post("/api/cashier/sessions", json={"float": {"cash": "50"}}, headers=cashier)

        results = _race(settings, opener, monkeypatch, both_past_the_check=True)
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409], [r.text for r in results]
    refused = next(r for r in results if r.status_code == 409)
    body = assert_arabic(refused, "cashier.session_already_open")
    assert "already open" in body["detail"] and "مفتوح بالفعل" in body["message_ar"]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_second_open_row_written_around_the_application_is_refused(database: str, sqlite_url: str,
                                                                     tmp_path: Path,
                                                                     request: pytest.FixtureRequest) -> None:
    url = sqlite_url if database == "sqlite" else request.getfixturevalue("postgres_url")
    now = datetime.now(UTC)
    with Session(engine_for(url)) as session:
        session.add(CashierSession(cashier="around", status="open", opened_at=now))
        session.add(CashierSession(cashier="around", status="closed", opened_at=now, closed_at=now))
        session.add(CashierSession(cashier="other", status="open", opened_at=now))
        session.commit()
        session.add(CashierSession(cashier="around", status="open", opened_at=now))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        # Closed ones do not count: many closed sessions, one open, of one cashier.
        session.add(CashierSession(cashier="around", status="closed", opened_at=now, closed_at=now))
        session.commit()
