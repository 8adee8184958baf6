"""Make the README's screenshots: the browser test's journey in headless Chromium, on a fresh database that
already holds a few earlier requests (one of them overdue), so that the inbox looks like a working day.

    .venv/bin/python docs/screenshots/make.py

Needs /usr/bin/chromium (``apt-get install chromium``). Writes the pages as PNG files beside this script.
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


from engine.cases import documents, tasks  # noqa: E402
from engine.cases import lifecycle as cases  # noqa: E402
from engine.core import clock  # noqa: E402
from engine.core.settings import Settings  # noqa: E402
from engine.people.users import Actor  # noqa: E402
from harness import journey  # noqa: E402
from harness.scans import pdf  # noqa: E402
from harness.settings import make_settings  # noqa: E402
from storage.db import session_for  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

KEEP = {"02-front-desk": "front-desk", "03-intake": "intake", "04-receipt": "receipt", "05-inbox": "inbox",
        "06-task": "task", "07-case": "case", "08-case-tablet": "case-tablet", "09-tracking": "tracking"}
CLERK = Actor("clerk", frozenset({"front_desk"}), "منى إبراهيم")
EARLIER = [  # days ago, citizen, plot area, use
    (12, {"national_id": "28503151234561", "full_name": "محمود سامي عبد الله", "phone": "+201112223344"}, 180,
     "commercial"),
    (4, {"national_id": "29207201234568", "full_name": "هدى فؤاد الشريف", "phone": "+201223344556"}, 320,
     "residential"),
    (1, {"national_id": "29911021234560", "full_name": "أحمد علي حسن", "phone": "+201005556677"}, 95, "mixed"),
]


@dataclass
class _Part:
    name: str
    filename: str | None
    content_type: str | None
    source: io.BytesIO

    def read(self, size: int = -1, /) -> bytes:
        return self.source.read(size)


def earlier_cases(settings: Settings) -> None:
    """Requests registered days ago at the window (the engine's clock set back), waiting for review."""
    papers = journey.papers_of(settings)
    store = documents.store_for(settings)
    store.prepare()
    for days, citizen, area, use in EARLIER:
        with session_for(settings.database_url) as db, \
                clock.frozen(clock.now() - timedelta(days=days, hours=3)):
            case = cases.open_case(session=db, service_code="building_permit", citizen=citizen, data={},
                                   actor=CLERK, settings=settings).case
            assert case.id is not None
            for kind, label in papers:
                documents.upload(session=db, actor=CLERK, settings=settings, store=store, case_id=case.id, parts=[
                    _Part("kind", None, None, io.BytesIO(kind.encode())),
                    _Part("file", f"{kind}.pdf", "application/pdf", io.BytesIO(pdf(label)))])
            intake = cases.ready_tasks(db, case.id)[0]
            tasks.complete(session=db, task_id=intake.id, actor=CLERK, settings=settings, data={
                "plot_area_m2": area, "building_use": use, "floors_count": 3,
                "plot_address": "شارع النصر، مدينة نصر، القاهرة", "ownership_deed_number": "2210/2020",
                "engineer_syndicate_number": "55120"})


def main() -> int:
    if not journey.CHROMIUM.exists():
        print(f"no Chromium at {journey.CHROMIUM}: apt-get install chromium", file=sys.stderr)
        return 1
    out = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="shubbak-shots-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'shubbak.db'}"
        upgrade(url)
        done = journey.walk(make_settings(url, folder), ROOT, folder / "shots", prepare=earlier_cases)
        for path in done.saved:
            if path.stem in KEEP:
                shutil.copy(path, out / f"{KEEP[path.stem]}.png")
                print(f"docs/screenshots/{KEEP[path.stem]}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
