"""A building permit case walked through the API at a center, with its document issued."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from engine.outputs import issue
from harness.api import Api
from harness.pages import center_tree
from harness.settings import make_settings
from storage.db import engine_for
from tests.conftest import missing
from tests.services.papers import provide_papers
from tests.services.paths import PROCESSES, find_path, ready_task, take

BIDI = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def need_poppler() -> None:
    if shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None:
        missing("poppler-utils (pdftotext, pdftoppm) is not installed")


def pdf_text(pdf: bytes, tmp: Path) -> str:
    """The text ``pdftotext`` reads from the PDF, in logical order, without bidi control marks."""
    need_poppler()
    path = tmp / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return " ".join(out.stdout.decode("utf-8").translate(BIDI).split())


@dataclass
class World:
    api: Api
    centers: dict[str, int]
    clerk: dict[str, str]
    engineer: dict[str, str]

    def walk(self, path_name: str, until: str) -> dict[str, Any]:
        """Open a building permit at CITY-A and complete its path's steps up to the task ``until``."""
        path = find_path("building_permit", path_name)
        r = self.api.open_case("building_permit", self.clerk, data=path.case_data)
        assert r.status_code == 201, r.text
        case: dict[str, Any] = r.json()
        provide_papers(self.api, "building_permit", case["id"])
        for step in path.steps:
            if step.task == until:
                break
            if not step.is_task:  # the bill paid at the counter, or days passing
                case = take(self.api, case, step)
                continue
            who = self.clerk if step.lane == "front_desk" else self.engineer
            r = self.api.complete(ready_task(case, step)["id"], step.data, who)
            assert r.status_code == 200, r.text
            case = r.json()
        return case

    def issue_all(self) -> int:
        with Session(engine_for(self.api.settings.database_url)) as session:
            return issue.issue_pending(session, self.api.settings)

    def outputs(self, case_id: int, who: dict[str, str] | None = None) -> list[dict[str, Any]]:
        r = self.api.client.get(f"/api/cases/{case_id}/outputs", headers=who or self.clerk)
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()
        return found

    def pdf(self, number: str) -> bytes:
        r = self.api.client.get(f"/api/outputs/{number}/pdf", headers=self.clerk)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/pdf"
        return r.content


@pytest.fixture
def world(sqlite_url: str, tmp_path: Path) -> Iterator[World]:
    yield from make_world(sqlite_url, tmp_path)


def make_world(url: str, tmp_path: Path) -> Iterator[World]:
    settings = make_settings(url, tmp_path, document_verify_max_misses_per_address=3,
                             public_url="https://shubbak.example")
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        with Session(engine_for(settings.database_url)) as session:
            ids = center_tree(session)
        assert api.deploy(PROCESSES / "building_permit", api.user("analyst")).status_code == 201
        yield World(api=api, centers=ids, clerk=api.user("front_desk", center_id=ids["CITY-A"]),
                    engineer=api.user("engineering", username="eng_mostafa", center_id=ids["CITY-A"]))


@pytest.fixture
def permit(world: World) -> dict[str, Any]:
    """A case at its hand-over, its permit issued: ``{"case": ..., "output": ...}``."""
    case = world.walk("approved", until="hand_over")
    owed = world.outputs(case["id"])
    assert [(o["kind"], o["status"]) for o in owed] == [("building_permit", "pending")]
    assert world.issue_all() == 1
    [output] = world.outputs(case["id"])
    return {"case": case, "output": output}
