"""A backup carries the issued documents' PDFs with the database: restored elsewhere, a permit is still served,
verified and its chain holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from engine.audit import verify
from engine.operations import backup
from harness.api import Api
from harness.settings import make_settings
from storage.db import engine_for
from tests.outputs.conftest import World


def test_a_restored_site_serves_and_verifies_its_documents(world: World, permit: dict[str, Any],
                                                           tmp_path: Path) -> None:
    source = world.api.settings
    number, pdf = permit["output"]["number"], world.pdf(permit["output"]["number"])
    folder = tmp_path / "backup"
    made = backup.take(settings=source, folder=folder)
    assert made.problems == [] and made.documents >= 1
    target = make_settings(f"sqlite:///{tmp_path / 'restored.db'}", tmp_path / "restored",
                           signing_key=None, public_url="https://shubbak.example")
    (tmp_path / "restored").mkdir()
    # The same installation key: copied as an operator copies SHUBBAK_SIGNING_KEY (here: the development key).
    (tmp_path / "restored" / "dev-signing-key").write_bytes((source.var_dir / "dev-signing-key").read_bytes())
    restored = backup.restore(settings=target, folder=folder)
    assert restored.documents == made.documents
    with TestClient(create_app(target)) as client:
        api = Api(client, target)
        assert api.client.get(f"/api/public/documents/{number}").json()["status"] == "valid"
        r = api.client.post(f"/api/public/documents/{number}/check", content=pdf,
                            headers={"Content-Type": "application/pdf"})
        assert r.json()["file_matches"] is True
        with Session(engine_for(target.database_url)) as session:
            assert verify.verify_all(session=session, settings=target).findings == []
