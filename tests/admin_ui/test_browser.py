"""The center's whole journey in headless Chromium, from the clerk's sign-in to the citizen's tracking page.

Skipped, with the reason shown, when the machine has no Chromium and CI is not set; under CI=true a missing
Chromium is a failure (``.ci/run`` installs it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.settings import Settings
from harness import journey
from harness.settings import ROOT
from tests.support.browser import need_chromium


@pytest.mark.slow
def test_clerk_engineer_and_citizen_in_a_real_browser(sqlite_settings: Settings, tmp_path: Path) -> None:
    need_chromium()
    done = journey.walk(sqlite_settings, ROOT, tmp_path / "screenshots")
    assert [p.name for p in done.saved] == [
        "01-sign-in.png", "02-front-desk.png", "03-intake.png", "04-receipt.png", "05-inbox.png", "06-task.png",
        "07-case.png", "08-case-tablet.png", "09-tracking.png"]
    assert all(p.stat().st_size > 10_000 for p in done.saved)
