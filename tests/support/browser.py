"""The start of a browser test of the centers' pages: Chromium at hand, the app on a fresh database, the centers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI
from playwright.sync_api import Page
from sqlmodel import Session

from api.app import create_app
from engine.core.settings import Settings
from harness import journey
from harness.pages import center_tree
from harness.settings import ROOT, make_settings
from storage.db import engine_for
from tests.conftest import missing


def need_chromium() -> None:
    """Skip the test, with the reason shown, when the machine has no Chromium; under CI=true fail instead."""
    if not journey.CHROMIUM.exists():
        missing(f"no Chromium at {journey.CHROMIUM}: apt-get install chromium (.ci/run does)")


def centers_app(sqlite_url: str, tmp_path: Path) -> tuple[FastAPI, Settings, dict[str, int]]:
    """The app and its settings on ``sqlite_url``, with the center tree made (its ids by code). Without Chromium
    the test is skipped with the reason shown, or fails under CI=true (``tests.conftest.missing``)."""
    need_chromium()
    settings = make_settings(sqlite_url, tmp_path)
    app = create_app(settings)
    with Session(engine_for(settings.database_url)) as session:
        ids = center_tree(session)
    return app, settings, ids


@contextmanager
def signed_in(settings: Settings, shots: Path, prepare: Callable[[Settings], None],
              username: str) -> Iterator[tuple[journey.Walk, Page]]:
    """Chromium on the real app over the center (``harness.journey.center``, with ``prepare`` run on its settings
    first), and a desktop page signed in as ``username``; screenshots go to ``shots``. Without Chromium the test is
    skipped with the reason shown, or fails under CI=true."""
    need_chromium()
    with journey.chromium() as browser, journey.center(settings, ROOT, prepare) as url:
        walk = journey.Walk(browser, url, shots)
        page = walk.context().new_page()
        walk.sign_in(page, username)
        yield walk, page
