"""The audit chain and `shubbak audit verify`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlmodel import Session

from cli.main import main
from engine.core.settings import get_settings
from harness.api import Api
from harness.settings import TEST_PROCESSES
from storage.db import engine_for


@pytest.fixture
def walked(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Api, list[int]]]:
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    clerk = api.user("front_desk")
    ids = []
    for _ in range(3):
        case = api.open_case("test_permit", clerk).json()
        api.complete(case["tasks"][0]["id"], {"area": 10, "purpose": "audit"}, clerk)
        ids.append(case["id"])
    monkeypatch.setenv("SHUBBAK_DATABASE_URL", api.settings.database_url)
    get_settings.cache_clear()
    yield api, ids
    get_settings.cache_clear()


def _sql(api: Api, statement: str) -> None:
    with Session(engine_for(api.settings.database_url)) as session:
        session.execute(text(statement))
        session.commit()


def test_verify_passes_on_untouched_database(walked: tuple[Api, list[int]], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify"]) == 0
    assert "every case's audit chain holds" in capsys.readouterr().out


@pytest.mark.parametrize("tamper, reason", [
    ("UPDATE audit_event SET actor = 'someone else' WHERE case_id = {case} AND seq = 2",
     "event 2: the event's content does not match its hash"),
    ("DELETE FROM audit_event WHERE case_id = {case} AND seq = 2",
     "head: the case records 2 events"),
    ("UPDATE audit_event SET seq = 7 WHERE case_id = {case} AND seq = 1",
     "event 2: expected event 1 here"),
])
def test_verify_names_first_broken_link(walked: tuple[Api, list[int]], capsys: pytest.CaptureFixture[str],
                                        tamper: str, reason: str) -> None:
    api, ids = walked
    _sql(api, tamper.format(case=ids[1]))
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    broken = [line for line in out.splitlines() if line.startswith("BROKEN")]
    assert len(broken) == 1
    assert f"(id {ids[1]})" in broken[0] and reason in broken[0]
