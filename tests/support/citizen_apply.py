"""The world of the citizen's online applications, for the API's tests and the pages' alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from engine.core.settings import Settings
from harness.api import Api
from harness.pages import center_tree
from storage.db import engine_for
from tests.services.paths import PROCESSES

#: The services a citizen applies to online in these tests.
APPLYING = ("inquiry_suggestion", "birth_certificate", "building_permit")


@contextmanager
def applying(settings: Settings) -> Iterator[Api]:
    """The app on ``settings``, with the center tree made and the ``APPLYING`` services deployed."""
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        with Session(engine_for(settings.database_url)) as session:
            center_tree(session)
        for service in APPLYING:
            assert api.deploy(PROCESSES / service, api.user("analyst")).status_code == 201
        yield api
