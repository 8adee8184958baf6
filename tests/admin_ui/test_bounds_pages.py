"""A page's address with a number past the database's INTEGER is a 422, not a 500 (as on the API)."""

from __future__ import annotations

import pytest

from storage.bounds import DB_INT_MAX
from tests.support.pages import Pages


@pytest.mark.parametrize("path", ["/cases/{n}", "/cases/{n}/receipt", "/cases/{n}/history", "/documents/{n}",
                                  "/cases/1/diagram.bpmn?version_id={n}"])
def test_a_page_address_past_the_database_integer_is_a_422(pages: Pages, path: str) -> None:
    pages.as_user("admin")
    for n in (DB_INT_MAX + 1, 2**63, 10**30):
        r = pages.client.get(path.format(n=n))
        assert r.status_code == 422, (path, n, r.status_code)
