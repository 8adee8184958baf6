"""``shubbak processes deploy processes``: a first run deploys every service, a second changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session, col, select

from cli.main import main
from engine.core.settings import get_settings
from harness.api import Api
from storage.db import engine_for
from storage.models.catalog import ProcessVersion
from tests.services.paths import PROCESSES, SERVICES, service_paths


@pytest.fixture
def cli_on_test_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CLI's settings come from the environment: point them at this test's fresh database."""
    monkeypatch.setenv("SHUBBAK_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    yield sqlite_url
    get_settings.cache_clear()


def _versions(url: str) -> list[ProcessVersion]:
    with Session(engine_for(url)) as session:
        return list(session.exec(select(ProcessVersion).order_by(col(ProcessVersion.id))).all())


def _deploy(capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["processes", "deploy", str(PROCESSES)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out.splitlines()


def _report(word: str, rows: list[ProcessVersion]) -> list[str]:
    return [f"{word:>9} {row.service_code} v{row.version} ({row.sha256[:12]})" for row in rows]


def test_deploy_folder_twice(cli_on_test_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert get_settings().database_url == cli_on_test_db
    assert _versions(cli_on_test_db) == []

    printed = _deploy(capsys)
    first = _versions(cli_on_test_db)
    assert [(row.service_code, row.version, row.created_by) for row in first] == [
        (code, 1, "cli") for code in SERVICES]
    assert printed == _report("deployed", first)

    printed = _deploy(capsys)
    again = _versions(cli_on_test_db)
    assert [(row.id, row.service_code, row.version, row.sha256) for row in again] == [
        (row.id, row.service_code, row.version, row.sha256) for row in first]
    assert printed == _report("unchanged", first)


def test_every_service_deploys_and_takes_a_case(api: Api) -> None:
    """On SQLite and on PostgreSQL: each service of the catalog deploys and a case waits at its intake."""
    analyst = api.user("analyst")
    for service in SERVICES:
        r = api.deploy(PROCESSES / service, analyst)
        assert r.status_code == 201, r.text
        intake = service_paths(service)[0].steps[0]
        r = api.open_case(service, api.user(intake.lane))
        assert r.status_code == 201, r.text
        assert [(t["name"], t["lane"]) for t in r.json()["tasks"]] == [(intake.task, intake.lane)]
