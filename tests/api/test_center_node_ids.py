"""A center node's ids are its center's id times 10^12 on (storage/nodes.py ``claim_id_block``): every face takes
them (the API's paths, the pages' addresses), where an INTEGER bound used to refuse them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from api.app import create_app
from harness.api import Api
from harness.pages import Pages
from harness.settings import TEST_PROCESSES, make_settings
from storage import nodes

CENTER_ID = 7


@pytest.fixture
def center_node(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Api, Pages]]:
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        nodes.claim_id_block(conn, CENTER_ID)
    engine.dispose()
    settings = make_settings(postgres_url, tmp_path, node_role="center", node_center="CAI01")
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield Api(client, settings), Pages(client, settings)


def test_a_case_at_a_center_node_is_numbered_in_its_block_and_served_by_every_face(
        center_node: tuple[Api, Pages]) -> None:
    api, pages = center_node
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    clerk = api.user("front_desk")
    opened = api.open_case("test_permit", clerk, data={"purpose": "a shop front"})
    assert opened.status_code == 201, opened.text
    case = opened.json()
    first = CENTER_ID * nodes.ID_BLOCK
    assert first < case["id"] < first + nodes.ID_BLOCK
    done = api.complete(case["tasks"][0]["id"], {"area": 120, "purpose": "family house"}, clerk)
    assert done.status_code == 200, done.text
    assert api.read_case(case["id"])["id"] == case["id"]
    api.assert_replays(case["id"])
    assert api.client.get(f"/api/cases/{case['id']}/documents", headers=clerk).status_code == 200
    pages.as_user("admin")
    assert pages.client.get(f"/cases/{case['id']}").status_code == 200
    assert pages.client.get(f"/cases/{case['id']}/history").status_code == 200
