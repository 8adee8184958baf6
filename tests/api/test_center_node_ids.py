"""A center node's ids are its center's id times 10^12 on (storage/nodes.py ``claim_id_block``): every face takes
them (the API's paths, the pages' addresses), where an INTEGER bound used to refuse them. Its tracking numbers
carry its center (engine/core/tracking.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlmodel import Session, select

from api.app import create_app
from engine.core import tracking
from engine.core.settings import Settings
from engine.people import centers
from harness.api import Api
from harness.pages import Pages
from harness.settings import TEST_PROCESSES, make_settings
from storage import nodes
from storage.db import engine_for
from storage.models.cases import Case
from tests.support.nodes import CenterApi, at_central

CENTER_ID = 7


@pytest.fixture
def center_node(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Api, Pages]]:
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SELECT setval('center_id_seq', {CENTER_ID - 1})")  # as central numbered it
    with Session(engine) as session:
        center = centers.create_center(session=session, code="CAI01", name_ar="القاهرة", name_en="Cairo",
                                       level="governorate")
    assert center.id == CENTER_ID
    with engine.begin() as conn:
        nodes.claim_id_block(conn, CENTER_ID)
    engine.dispose()
    settings = make_settings(postgres_url, tmp_path, node_role="center", node_center="CAI01")
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield CenterApi(client, settings), Pages(client, settings)


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
    assert case["tracking_number"].startswith("017") and tracking.center_of(case["tracking_number"]) == CENTER_ID
    done = api.complete(case["tasks"][0]["id"], {"area": 120, "purpose": "family house"}, clerk)
    assert done.status_code == 200, done.text
    assert api.read_case(case["id"])["id"] == case["id"]
    api.assert_replays(case["id"])
    assert api.client.get(f"/api/cases/{case['id']}/documents", headers=clerk).status_code == 200
    with at_central(pages.settings.database_url):  # the user comes from central; signing in is the node's
        admin = pages.user("admin")
    pages.sign_in(admin)
    assert pages.client.get(f"/cases/{case['id']}").status_code == 200
    assert pages.client.get(f"/cases/{case['id']}/history").status_code == 200


@pytest.fixture
def node_settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, node_role="center", node_center="CAI01")


def test_a_center_nodes_tracking_numbers_carry_its_center(node_settings: Settings) -> None:
    with at_central(node_settings.database_url), Session(engine_for(node_settings.database_url)) as session:
        # Other centers first: the node's center is not the first row, its id is what the numbers carry.
        for code in ("GOV", "ALX01"):
            centers.create_center(session=session, code=code, name_ar=code, name_en=code, level="governorate")
        center_id = centers.create_center(session=session, code="CAI01", name_ar="القاهرة", name_en="Cairo",
                                          level="governorate").id
    assert center_id == 3
    with TestClient(create_app(node_settings)) as client:
        api = CenterApi(client, node_settings).deployed("test_permit")
        clerk = api.user("front_desk")
        numbers = {api.open_case("test_permit", clerk).json()["tracking_number"] for _ in range(5)}
        assert len(numbers) == 5
        for number in numbers:
            assert number.replace("-", "").startswith("013") and tracking.center_of(number) == center_id
            # The citizen types it back in Arabic digits, without dashes: the same case.
            typed = number.replace("-", "").translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
            r = api.client.get(f"/api/public/track/{typed}", params={"phone_last4": "4567"})
            assert r.status_code == 200 and r.json()["tracking_number"] == number, r.text


def test_a_center_node_whose_center_has_not_arrived_opens_no_case(node_settings: Settings) -> None:
    with TestClient(create_app(node_settings)) as client:
        api = CenterApi(client, node_settings).deployed("test_permit")
        r = api.open_case("test_permit", api.user("front_desk"))
        assert r.status_code == 409 and "CAI01" in r.json()["detail"], r.text
        with Session(engine_for(node_settings.database_url)) as session:
            assert session.exec(select(Case)).first() is None


def test_a_single_installation_numbers_cases_as_before(sqlite_api: Api) -> None:
    api = sqlite_api.deployed("test_permit")
    number = api.open_case("test_permit", api.user("front_desk")).json()["tracking_number"]
    assert [len(g) for g in number.split("-")] == [4, 4, 3] and number[0] != "0"
    assert tracking.center_of(number) is None
