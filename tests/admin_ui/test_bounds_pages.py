"""A page's address with a number past what the database holds (INTEGER, or BIGINT for the ids of the tables a
center node writes) is a 422, not a 500 (as on the API)."""

from __future__ import annotations

import pytest

from harness.pages import Pages
from storage.bounds import DB_ID_MAX, DB_INT_MAX
from storage.nodes import ID_BLOCK


@pytest.mark.parametrize("path", ["/cases/{n}", "/cases/{n}/receipt", "/cases/{n}/history", "/documents/{n}"])
def test_a_page_address_past_the_database_bigint_is_a_422(pages: Pages, path: str) -> None:
    pages.as_user("admin")
    for n in (DB_ID_MAX + 1, 10**30):
        r = pages.client.get(path.format(n=n))
        assert r.status_code == 422, (path, n, r.status_code)
    # A center node's case (its ids start at its center's id times 10^12) is asked: not here, a 404.
    for n in (DB_INT_MAX + 1, 7 * ID_BLOCK + 1):
        assert pages.client.get(path.format(n=n)).status_code == 404, (path, n)


def test_a_huge_query_number_on_a_case_that_does_not_exist_is_its_404(pages: Pages) -> None:
    # The access policy looks at the case a path names before the route reads its query (engine/people/policy.py):
    # no case 1 here, so the answer is that case's 404, never a 500 on the huge version number.
    pages.as_user("admin")
    for n in (DB_INT_MAX + 1, 2**63, 10**30):
        r = pages.client.get(f"/cases/1/diagram.bpmn?version_id={n}")
        assert r.status_code == 404, (n, r.status_code)


@pytest.mark.parametrize("path", ["/counter?closed={n}", "/counter?paid={n}", "/services/test_permit?a=1&b={n}",
                                  "/services/test_permit?a={n}&b=1", "/services/test_permit/migrations?to={n}"])
def test_a_query_number_past_the_database_integer_is_a_422(pages: Pages, path: str) -> None:
    pages.as_user("cashier", "analyst")
    # The counter's drawer and payment are ids of a center's tables (BIGINT): the versions are INTEGER.
    for n in ((2**63, 10**30) if path.startswith("/counter") else (DB_INT_MAX + 1, 2**63, 10**30)):
        r = pages.client.get(path.format(n=n))
        assert r.status_code == 422, (path, n, r.status_code)


def test_a_version_past_the_database_integer_on_the_analysts_pages_is_a_4xx(pages: Pages) -> None:
    # The versions' diff, retiring, the migration's dry run and the migration itself.
    pages.as_user("analyst")
    for n in (DB_INT_MAX + 1, 10**30):
        assert pages.client.get("/services/building_permit", params={"a": n, "b": 1}).status_code == 422
        assert pages.client.get("/services/building_permit", params={"a": 1, "b": n}).status_code == 422
        assert pages.client.get("/services/building_permit/migrations", params={"to": n}).status_code == 422
        r = pages.post(f"/services/building_permit/versions/{n}/retire", {}, token_from="/services")
        assert r.status_code == 422, n
        r = pages.post("/services/building_permit/migrations", {"to": str(n)}, token_from="/services")
        assert r.status_code == 404, n


def test_the_cash_desk_sent_back_a_row_past_the_database_integer_is_a_422(pages: Pages) -> None:
    # The counter page shows the drawer just closed and the payment just taken by their ids in its address.
    pages.as_user("cashier")
    assert pages.client.get("/counter").status_code == 200
    for n in (DB_ID_MAX + 1, 10**30):
        for name in ("closed", "paid"):
            assert pages.client.get("/counter", params={name: n}).status_code == 422, (name, n)
    for name in ("closed", "paid"):  # a center node's drawer or payment: nothing to show here
        assert pages.client.get("/counter", params={name: 7 * ID_BLOCK + 1}).status_code == 200, name


@pytest.mark.parametrize("action", ["retry", "skip", "cancel"])
def test_an_incident_past_the_database_bigint_is_a_422(pages: Pages, action: str) -> None:
    pages.as_user("admin")
    for n in (DB_ID_MAX + 1, 10**30):
        r = pages.post(f"/supervisor/incidents/{n}/{action}", {"to": "review", "reason": "a reason long enough"},
                       token_from="/supervisor/incidents")
        assert r.status_code == 422, (action, n)
