"""Issue, read, revoke and supersede on SQLite and on PostgreSQL: the row locks and the chain hold on both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from engine.audit import verify
from storage.db import engine_for
from tests.outputs.conftest import World, make_world


@pytest.fixture
def any_world(database_url: str, tmp_path: Path) -> Iterator[World]:
    yield from make_world(database_url, tmp_path)


def test_a_document_issued_revoked_and_the_trail_verified(any_world: World) -> None:
    world, api = any_world, any_world.api
    case = world.walk("approved", until="hand_over")
    assert world.issue_all() == 1
    [permit] = world.outputs(case["id"])
    supervisor = api.user("supervisor", center_id=world.centers["CITY-A"])
    r = api.client.post(f"/api/outputs/{permit['number']}/correct", json={"reason": "تصحيح البيانات"},
                        headers=supervisor)
    assert r.status_code == 201, r.text
    assert world.issue_all() == 1
    new = r.json()["number"]
    r = api.client.post(f"/api/outputs/{new}/revoke", json={"reason": "إلغاء بناء على حكم قضائي"}, headers=supervisor)
    assert r.status_code == 200, r.text
    statuses = {o["number"]: o["status"] for o in world.outputs(case["id"])}
    assert statuses == {permit["number"]: "superseded", new: "revoked"}
    with Session(engine_for(api.settings.database_url)) as session:
        report = verify.verify_all(session=session, settings=api.settings)
    assert report.findings == []
