"""The lists of cases newest first hold a center node's cases in their place by when they were opened, not above
every case of central's because their ids are in a higher block (storage/nodes.py ``ID_BLOCK``): the staff's list
page by page (no case skipped or shown twice, ties of the same moment by id), an auditor's search and a citizen's
own cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update
from sqlmodel import Session

from engine.citizen import requests
from harness.api import CITIZEN, Api
from storage.db import engine_for
from storage.models.base import table
from storage.models.cases import Case
from storage.nodes import ID_BLOCK

_CASES = table(Case)
T = datetime(2026, 5, 10, 9, 0, tzinfo=UTC)


def opened_at(api: Api, case_id: int, moment: datetime) -> None:
    with engine_for(api.settings.database_url).begin() as conn:
        conn.execute(update(_CASES).where(_CASES.c.id == case_id).values(created_at=moment))


def node_case(api: Api, like: int, case_id: int, moment: datetime) -> int:
    """A center node's case as replication brings it: an id of its block, opened at ``moment``."""
    with engine_for(api.settings.database_url).begin() as conn:
        row = dict(conn.execute(select(_CASES).where(_CASES.c.id == like)).mappings().one())
        row.update(id=case_id, created_at=moment, node="ASW01", tracking_number=f"0{case_id % 10**10:010d}")
        conn.execute(insert(_CASES).values(**row))
    return case_id


def test_lists_newest_first_put_a_center_nodes_cases_by_when_they_were_opened(api: Api) -> None:
    permit = api.deployed("test_permit")
    clerk = permit.user("front_desk")
    a, b, c = (permit.open_case("test_permit", clerk).json()["id"] for _ in range(3))
    for case_id, hours in ((a, -3), (b, -1), (c, 0)):
        opened_at(permit, case_id, T + timedelta(hours=hours))
    block = 7 * ID_BLOCK
    old = node_case(permit, a, block + 1, T - timedelta(hours=2))
    tie = node_case(permit, a, block + 2, T - timedelta(hours=1))  # opened at the same moment as b
    new = node_case(permit, a, block + 3, T + timedelta(hours=1))
    expected = [new, c, tie, b, old, a]

    supervisor = permit.user("supervisor")
    pages: list[int] = []
    for offset in range(0, 6, 2):
        r = permit.client.get("/api/cases", params={"limit": 2, "offset": offset}, headers=supervisor)
        assert r.status_code == 200, r.text
        assert r.json()["total"] == 6
        pages += [item["id"] for item in r.json()["items"]]
    assert pages == expected

    found = permit.client.get("/api/audit/cases", params={"limit": 50}, headers=permit.user("auditor"))
    assert found.status_code == 200, found.text
    assert [item["id"] for item in found.json()["items"]] == expected

    with Session(engine_for(permit.settings.database_url)) as session:
        own = requests.list_cases(session=session, settings=permit.settings, phone=CITIZEN["phone"])
        assert [s["id"] for s in own] == expected
