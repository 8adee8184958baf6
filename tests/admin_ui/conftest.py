"""Fixtures for the pages: the app on a fresh SQLite database with the test services deployed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from engine.core.settings import Settings
from harness.pages import Pages, deploy
from harness.settings import ROOT, TEST_PROCESSES


@pytest.fixture
def pages(sqlite_settings: Settings) -> Iterator[Pages]:
    deploy(sqlite_settings, TEST_PROCESSES / "test_permit")
    deploy(sqlite_settings, ROOT / "processes" / "building_permit")
    with TestClient(create_app(sqlite_settings), follow_redirects=False) as client:
        yield Pages(client, sqlite_settings)
