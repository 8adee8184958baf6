"""Numbers and dates the database cannot hold or the schema does not describe are a 422 naming them, never a 500.

Found by the fuzzer (tests/fuzz): a row id past the database's INTEGER reached SQLite ("Python int too large to
convert to SQLite INTEGER") or PostgreSQL ("integer out of range") and failed there; a number given for a date
was read as seconds since 1970; an unknown queue category filtered to nothing instead of being refused.
"""

from __future__ import annotations

import pytest

from harness.api import Api
from harness.settings import TEST_PROCESSES
from storage.bounds import DB_ID_MAX, DB_INT_MAX
from storage.nodes import ID_BLOCK

HUGE = [DB_INT_MAX + 1, 2**63, 10**30]


@pytest.mark.parametrize("path", ["/api/cases/{n}", "/api/cases/{n}/events", "/api/cases/{n}/replay",
                                  "/api/cases/{n}/documents", "/api/documents/{n}/content",
                                  "/api/cases/{n}/rating", "/api/cases/{n}/messages"])
def test_row_ids_past_the_database_bigint_are_a_422(api: Api, path: str) -> None:
    admin = api.user("admin")
    for n in (DB_ID_MAX + 1, 10**30):
        r = api.client.get(path.format(n=n), headers=admin)
        assert r.status_code == 422, (n, r.text)
        assert r.json()["detail"][0]["loc"][0] == "path"
    # A case's id is BIGINT: a center node's (its center's id times 10^12 on, storage/nodes.py) is asked, and the
    # largest too.
    for n in (DB_INT_MAX + 1, 7 * ID_BLOCK + 1, DB_ID_MAX):
        assert api.client.get(path.format(n=n), headers=admin).status_code == 404, n


def test_version_numbers_past_the_database_integer_are_a_422(api: Api) -> None:
    admin = api.user("admin")
    path = "/api/services/test_permit/versions/{n}/diff/1"
    for n in HUGE:
        r = api.client.get(path.format(n=n), headers=admin)
        assert r.status_code == 422, (n, r.text)
        assert r.json()["detail"][0]["loc"][0] == "path"
    assert api.client.get(path.format(n=DB_INT_MAX), headers=admin).status_code == 404  # the largest is asked


def test_page_offsets_and_filters_past_the_database_integer_are_a_422(api: Api) -> None:
    admin = api.user("admin")
    for url, params, name in [("/api/cases", {"offset": 2**63}, "offset"), ("/api/tasks", {"limit": 2**63}, "limit"),
                              ("/api/audit/reads", {"case_id": 2**63}, "case_id"),
                              ("/api/supervisor/overdue", {"offset": DB_INT_MAX + 1}, "offset")]:
        r = api.client.get(url, params=params, headers=admin)
        assert r.status_code == 422, (url, r.text)
        assert r.json()["detail"][0]["loc"] == ["query", name]


def test_numbers_in_bodies_past_the_database_integer_are_a_422(api: Api) -> None:
    admin = api.user("admin")
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    r = api.client.post("/api/services/test_permit/migrations", json={"to_version": 2**63}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "to_version"]
    r = api.client.put("/api/queue/categories/fuzzed", headers=admin, json={
        "letter": "Z", "name_ar": "س", "name_en": "s", "position": 2**63})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "position"]


@pytest.mark.parametrize("value", ["1.5e-121", "0", "-3", "20260101", "2026-1-1", "tomorrow"])
def test_a_date_is_written_yyyy_mm_dd(sqlite_api: Api, value: str) -> None:
    admin = sqlite_api.user("admin")
    r = sqlite_api.client.get("/api/reports/sla", params={"to": value}, headers=admin)
    assert r.status_code == 422, r.text  # pydantic alone read "1.5e-121" as the first of January 1970
    assert r.json()["detail"][0]["loc"] == ["query", "to"]
    assert "YYYY-MM-DD" in r.json()["detail"][0]["msg"]
    r = sqlite_api.client.put("/api/centers/NOWHERE/holidays", json={"holidays": [0]}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "holidays", 0]


def test_dates_in_iso_form_and_arabic_digits_are_read(sqlite_api: Api) -> None:
    admin = sqlite_api.user("admin")
    ascii_ = sqlite_api.client.get("/api/reports/sla", params={"from": "2026-01-01", "to": "2026-12-31"},
                                   headers=admin)
    arabic = sqlite_api.client.get("/api/reports/sla", params={"from": "٢٠٢٦-٠١-٠١", "to": "۲۰۲۶-۱۲-۳۱"},
                                   headers=admin)
    assert ascii_.status_code == arabic.status_code == 200
    assert ascii_.json() == arabic.json()


def test_an_unknown_queue_category_in_the_waiting_list_is_a_422_naming_it(sqlite_api: Api) -> None:
    clerk = sqlite_api.user("front_desk")
    ok = sqlite_api.client.get("/api/queue/tickets", params={"category": ["permits"]}, headers=clerk)
    assert ok.status_code == 200
    r = sqlite_api.client.get("/api/queue/tickets", params={"category": ["permits", "true"]}, headers=clerk)
    assert r.status_code == 422
    assert r.json()["detail"] == [{"field": "category.1", "msg": "no category 'true'",
                                   "msg_ar": "فئة خدمة غير معروفة: 'true'"}]
