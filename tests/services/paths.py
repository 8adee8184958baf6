"""The documented paths of the real services (``processes/<service>/paths.json``), as test parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from engine.catalog.packages import find_packages
from harness.settings import ROOT

PROCESSES = ROOT / "processes"
# Every service folder in processes/ (as `shubbak processes deploy` finds them): a new service is walked as
# soon as its folder exists.
SERVICES = tuple(folder.name for folder in find_packages(PROCESSES))


@dataclass(frozen=True)
class Step:
    task: str
    lane: str
    data: dict[str, Any]


@dataclass(frozen=True)
class ServicePath:
    service: str
    name: str
    start_data: dict[str, Any]
    steps: tuple[Step, ...]
    end_event: str
    expected_data: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def case_data(self) -> dict[str, Any]:
        """What the front desk sends as the case's data: the citizen travels apart (and is checked), and the
        case's ``settings`` are the engine's to copy in (forms/ownership.py refuses them from the front desk)."""
        return {k: v for k, v in self.start_data.items() if k not in ("citizen", "settings")}


def service_paths(service: str) -> list[ServicePath]:
    raw = json.loads((PROCESSES / service / "paths.json").read_text(encoding="utf-8"))
    return [ServicePath(service=service, name=p["name"], start_data=p["start_data"],
                        steps=tuple(Step(s["task"], s["lane"], s["data"]) for s in p["steps"]),
                        end_event=p["end_event"], expected_data=p.get("expected_data", {}))
            for p in raw]


def all_paths() -> list[ServicePath]:
    return [path for service in SERVICES for path in service_paths(service)]


def lanes_of(service: str) -> set[str]:
    """Every lane some documented path of ``service`` passes through."""
    return {step.lane for path in service_paths(service) for step in path.steps}


def ready_task(case: dict[str, Any], step: Step) -> dict[str, Any]:
    """The waiting task a step completes. After a parallel split several tasks wait at once (in different
    lanes); a path lists them in the order it completes them."""
    found = [t for t in case["tasks"] if t["name"] == step.task]
    assert len(found) == 1, f"{step.task} is not waiting; waiting: {[t['name'] for t in case['tasks']]}"
    return found[0]


def find_path(service: str, name: str) -> ServicePath:
    return next(p for p in service_paths(service) if p.name == name)


PATHS = [pytest.param(path, id=path.id) for path in all_paths()]
