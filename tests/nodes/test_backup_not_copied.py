"""`shubbak backup` at central tells a center node's documents not copied here yet apart from damage: they are
counted by center as not copied yet (a note, exit 0), not as problems; one that has arrived is backed up like any
other; a missing object of central's own case is still a problem (exit 1)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from cli.backup import cmd_backup
from engine.cases.documents import store_for
from engine.core.settings import Settings
from engine.operations import backup
from harness.api import Api
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for
from storage.models.cases import Document
from tests.nodes.test_case_elsewhere import hand_to
from tests.support.documents import PDF


def _scanned(api: Api, clerk: dict[str, str]) -> dict[str, Any]:
    case = api.open_case("papers", clerk).json()
    r = api.client.post(f"/api/cases/{case['id']}/documents", data={"kind": "national_id_copy"},
                        files={"file": ("id.pdf", PDF, "application/pdf")}, headers=clerk)
    assert r.status_code == 201, r.text
    return {"case": case["id"], "key": _key(api, case["id"])}


def _key(api: Api, case_id: int) -> str:
    with Session(engine_for(api.settings.database_url)) as session:
        return session.exec(select(Document.storage_key).where(Document.case_id == case_id)).one()


@pytest.fixture
def central(sqlite_url: str, tmp_path: Path) -> tuple[Settings, dict[str, dict[str, Any]]]:
    """Central with three scanned cases: its own, and two of a center node's, one of whose objects has arrived."""
    settings = make_settings(sqlite_url, tmp_path, node_role="central")
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        assert api.deploy(TEST_PROCESSES / "papers", api.user("analyst")).status_code == 201
        clerk = api.user("front_desk")
        own, arrived, on_its_way = (_scanned(api, clerk) for _ in range(3))
        for case in (arrived, on_its_way):
            hand_to(api, case["case"], "ASW01")  # the center node's cases, as replicated
        store_for(settings).delete(on_its_way["key"])  # its object not copied here yet
    return settings, {"own": own, "arrived": arrived, "on_its_way": on_its_way}


def test_a_center_nodes_documents_not_copied_yet_are_noted_not_counted_as_problems(
        central: tuple[Settings, dict[str, dict[str, Any]]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    settings, cases = central
    made = backup.take(settings=settings, folder=tmp_path / "b")
    assert (made.documents, made.problems, made.not_copied_yet) == (2, [], {"ASW01": 1})
    manifest = json.loads((tmp_path / "b" / backup.MANIFEST).read_text())
    assert manifest["problems"] == [] and manifest["not_copied_yet"] == {"ASW01": 1}
    listed = [json.loads(line)["key"] for line in (tmp_path / "b" / backup.DOCUMENT_LIST).read_text().splitlines()]
    assert listed == [cases["own"]["key"], cases["arrived"]["key"]]

    code = cmd_backup(settings, argparse.Namespace(dir=str(tmp_path / "c"), dated=False))
    err = capsys.readouterr().err
    assert code == 0, err
    assert "[backup.not_copied_yet]" in err and "ASW01" in err and "PROBLEM" not in err

    # Central's own case's missing object is still damage.
    store_for(settings).delete(cases["own"]["key"])
    code = cmd_backup(settings, argparse.Namespace(dir=str(tmp_path / "d"), dated=False))
    err = capsys.readouterr().err
    assert code == 1 and "PROBLEM [backup.document_unreadable]" in err and "[backup.not_copied_yet]" in err
