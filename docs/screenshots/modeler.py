"""Make the analyst guide's screenshots: the browser test's walk through the web modeler (a bad gateway marked,
a task added, a publish refused by the service's test cases, then accepted) and the migration of two open
cases, in headless Chromium on a fresh database.

    .venv/bin/python docs/screenshots/modeler.py

Needs /usr/bin/chromium (``apt-get install chromium``). Writes the pages as PNG files beside this script.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness.modeler import walk_the_modeler  # noqa: E402
from harness.settings import make_settings  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

KEEP = {"modeler-problem": "modeler-problem", "modeler-refused": "modeler-refused", "modeler": "modeler",
        "migration-dry-run": "migration-dry-run", "migration-done": "migration-done"}


def main() -> int:
    out = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="shubbak-shots-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'shubbak.db'}"
        upgrade(url)
        for path in walk_the_modeler(make_settings(url, folder), folder / "shots"):
            if path.stem in KEEP:
                shutil.copy(path, out / f"{KEEP[path.stem]}.png")
                print(f"docs/screenshots/{KEEP[path.stem]}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
