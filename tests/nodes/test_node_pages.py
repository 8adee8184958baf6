"""The pages say where to go: a case another node owns is shown as replicated, without its steps' buttons, and a
refused step names the owner; a center node's pages of what central does say it is done there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from engine.people import centers
from harness.api import Api
from harness.pages import Pages
from harness.settings import make_settings
from storage.db import engine_for
from tests.nodes.test_case_elsewhere import hand_to
from tests.nodes.test_center_day import at_central


@pytest.fixture
def central(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[Api, Pages]]:
    settings = make_settings(sqlite_url, tmp_path, node_role="central")
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield Api(client, settings), Pages(client, settings)


def test_a_case_another_node_owns_is_shown_with_where_it_is_worked_on(central: tuple[Api, Pages]) -> None:
    api, pages = central
    api.deployed("test_permit")
    with Session(engine_for(api.settings.database_url)) as session:
        centers.create_center(session=session, code="ASW01", name_ar="مركز أسوان", name_en="Aswan center",
                              level="governorate")
    case = api.past_first_step("test_permit", {"area": 120, "purpose": "family house"}, api.user("front_desk"))
    task_id = case["tasks"][0]["id"]
    pages.as_user("reviewer")
    page = pages.client.get(f"/cases/{case['id']}").text
    assert 'id="case-elsewhere"' not in page and f'href="/tasks/{task_id}"' in page
    hand_to(api, case["id"], "ASW01")
    page = pages.client.get(f"/cases/{case['id']}").text
    assert 'id="case-elsewhere"' in page and "مركز أسوان (ASW01)" in page
    assert f'href="/tasks/{task_id}"' not in page
    r = pages.post(f"/tasks/{task_id}/claim", {}, token_from=f"/cases/{case['id']}")
    assert r.status_code == 409 and "ASW01" in r.text


def test_a_center_nodes_services_and_users_pages_say_it_is_done_at_central(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path, node_role="center", node_center="ASW01")
    try:
        with TestClient(create_app(settings), follow_redirects=False) as client:
            pages = Pages(client, settings)
            with at_central(sqlite_url):
                name = pages.user("admin", "analyst")
            assert pages.sign_in(name).status_code == 303
            for path in ("/services", "/admin/users", "/account/password"):
                page = client.get(path)
                assert page.status_code == 200 and 'id="central-only"' in page.text, path
    finally:
        make_settings(sqlite_url, tmp_path)
