"""An analyst in headless Chromium opens the building permit in the web modeler, sees a bad gateway marked on
the diagram, adds a user task (through bpmn-js's modeling service), saves the draft and publishes it with the
page's own buttons, then dry-runs and migrates the two open cases onto the new version (harness/modeler.py).

Skipped, with the reason shown, when the machine has no Chromium and CI is not set; under CI=true a missing
Chromium is a failure. docs/screenshots/modeler.py runs the same walk to make the analyst guide's pictures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.settings import Settings
from harness.modeler import walk_the_modeler
from tests.support.browser import need_chromium


@pytest.mark.slow
def test_an_analyst_adds_a_task_publishes_and_migrates_two_cases(sqlite_settings: Settings, tmp_path: Path) -> None:
    need_chromium()
    walk_the_modeler(sqlite_settings, tmp_path / "modeler")
