"""``shubbak reports rebuild`` counts the aggregates again: the figures stay what the hook made them."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from cli.main import main
from engine.core import clock
from engine.core.settings import Settings
from engine.people.users import Actor
from engine.reports.read import report
from storage.db import engine_for
from tests.support.reports import BASE, NOW, seed


def test_rebuild_from_the_command_line(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = seed(sqlite_settings)
    boss = Actor("boss", frozenset({"admin"}))

    def figures() -> list[dict[str, object]]:
        with Session(engine_for(sqlite_settings.database_url)) as session, clock.frozen(NOW):
            return report("sla", session=session, actor=boss, settings=sqlite_settings, start=BASE.date(),
                          end=NOW.date())[1]

    before = figures()
    monkeypatch.setattr("cli.main.get_settings", lambda: sqlite_settings)
    assert main(["reports", "rebuild"]) == 0
    assert f"counted {len(data.cases)} cases" in capsys.readouterr().out
    assert figures() == before and before[0]["opened"] == len(data.cases)
