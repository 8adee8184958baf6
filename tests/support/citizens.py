"""Citizens' cases for the tests of what a citizen may see: the app on a fresh database, the test permit deployed,
and one case opened at the front desk for each citizen the test names."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from harness.api import Api
from harness.settings import TEST_PROCESSES, make_settings

# Another citizen, on another phone than harness.api.CITIZEN's.
OTHER = {"national_id": "29105051234568", "full_name": "منى علي حسن", "phone": "+201112223334"}


@contextmanager
def cases_of(database_url: str, tmp_path: Path,
             citizens: dict[str, dict[str, str]]) -> Iterator[tuple[Api, dict[str, Any]]]:
    """The API on ``database_url`` with ``test_permit`` deployed and, for each name, the case opened for that
    citizen (the API's answer, by the same name)."""
    settings = make_settings(database_url, tmp_path)
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
        clerk = api.user("front_desk")
        yield api, {name: api.open_case("test_permit", clerk, citizen=citizen).json()
                    for name, citizen in citizens.items()}

