"""A test_permit case taken from the counter to the end, for tests of what follows a completed case."""

from __future__ import annotations

from typing import Any

from harness.api import Api


def permit_case(api: Api, clerk: dict[str, str], *, finish: bool = True) -> dict[str, Any]:
    """Opens a test_permit case as `clerk`; with `finish`, registers it and has the reviewer reject it, so
    that it ends completed. Returns the case as the API last answered it."""
    case = api.open_case("test_permit", clerk).json()
    if not finish:
        return dict(case)
    r = api.complete(case["tasks"][0]["id"], {"area": 120, "purpose": "family house"}, clerk)
    r = api.complete(r.json()["tasks"][0]["id"], {"decision": "reject"}, api.user("reviewer"))
    assert r.json()["status"] == "completed"
    return dict(r.json())
