"""The benchmark's workload: the building permit's approved path (register, review, hand over).

The permit is the benchmark's own copy (bench/building_permit): the three-user-task permit every measurement
so far was taken on, without the cash desk's wait for its fee that processes/building_permit now has, so the
ratios stay comparable from run to run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.catalog.packages import read_package
from engine.core.settings import Settings
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "bench" / "building_permit"
SECRET = "bench-secret-" + "b" * 32
CITIZEN = {"national_id": "29001011234567", "full_name": "سارة أحمد محمود", "phone": "+201001234567"}


@dataclass(frozen=True)
class Step:
    task: str
    lane: str
    data: dict[str, Any]


def package() -> dict[str, bytes]:
    """The building permit's files with its papers marked optional: the lifecycle benchmarks compare the engine
    with bare SpiffWorkflow, which has no papers; scanning them is measured on its own (bench/documents.py)."""
    files = read_package(SERVICE)
    files["service.toml"] = files["service.toml"].replace(b"required = true", b"required = false")
    return files


def approved_path() -> list[Step]:
    paths = json.loads((SERVICE / "paths.json").read_text(encoding="utf-8"))
    path = next(p for p in paths if p["name"] == "approved")
    return [Step(s["task"], s["lane"], s["data"]) for s in path["steps"]]


def prepare_empty(folder: Path, name: str) -> Settings:
    """Settings on a fresh, migrated database with nothing deployed."""
    url = f"sqlite:///{folder / name}"
    upgrade(url)
    return Settings(database_url=url, environment="test", secret_key=SECRET, timer_tick_seconds=0,
                    document_issue_seconds=0, password_time_cost=1, password_memory_kib=64, var_dir=folder)
