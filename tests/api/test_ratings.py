"""Citizens rate a completed case once, from the link sent when it completed; staff read the rating."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from engine.core.tracking import rating_path, rating_token
from harness.api import Api
from harness.settings import TEST_PROCESSES
from tests.support.permits import permit_case


@pytest.fixture
def permit(api: Api) -> Api:
    assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
    return api


_case = permit_case


def _rate(api: Api, case: dict[str, Any], token: str | None = None, **body: Any) -> Any:
    number = case["tracking_number"]
    return api.client.post("/api/public/ratings", json={
        "tracking_number": number, "token": token if token is not None else rating_token(number, api.settings),
        "score": "happy", **body})


def test_the_link_rates_the_case_once_and_staff_read_it(permit: Api) -> None:
    clerk = permit.user("front_desk", username="clerk_mona")
    case = _case(permit, clerk)
    path = rating_path(case["tracking_number"], permit.settings)
    assert path.startswith(f"/rate/{case['tracking_number']}?t=")
    r = _rate(permit, case, score="unhappy", reason_code="waiting_time", reason="  انتظرت ساعتين  ")
    assert r.status_code == 201, r.text
    assert r.json()["score"] == "unhappy" and r.json()["reason"] == "انتظرت ساعتين"

    staff = permit.client.get(f"/api/cases/{case['id']}/rating", headers=permit.user("supervisor"))
    assert staff.status_code == 200, staff.text
    body = staff.json()
    assert body["clerk"] == "clerk_mona" and body["service_code"] == "test_permit"
    assert body["channel"] == "link" and body["reason_code"] == "waiting_time" and body["center_id"] is None

    again = _rate(permit, case, score="happy")
    assert again.status_code == 409
    assert "already been rated" in again.json()["detail"]
    assert permit.client.get(f"/api/cases/{case['id']}/rating",
                             headers=permit.user("supervisor")).json()["score"] == "unhappy"


def test_someone_elses_case_is_a_wrong_token_and_looks_unknown(permit: Api) -> None:
    clerk = permit.user("front_desk")
    mine, theirs = _case(permit, clerk), _case(permit, clerk)
    # My link's token does not rate their case: 404, the same answer as a number that does not exist.
    stolen = _rate(permit, theirs, token=rating_token(mine["tracking_number"], permit.settings))
    unknown = permit.client.post("/api/public/ratings", json={
        "tracking_number": "1234-5678-901", "token": rating_token("1234-5678-901", permit.settings),
        "score": "happy"})
    assert stolen.status_code == unknown.status_code == 404
    assert stolen.json() == unknown.json()
    assert permit.client.get(f"/api/cases/{theirs['id']}/rating",
                             headers=permit.user("supervisor")).status_code == 404


def test_an_open_case_cannot_be_rated(permit: Api) -> None:
    case = _case(permit, permit.user("front_desk"), finish=False)
    r = _rate(permit, case)
    assert r.status_code == 409
    assert r.json()["detail"] == "only a completed request can be rated; this one is open"


def test_bad_scores_reasons_and_long_text_are_422_per_field(permit: Api) -> None:
    case = _case(permit, permit.user("front_desk"))
    r = _rate(permit, case, score="ecstatic", reason_code="bribe",
              reason="x" * (permit.settings.rating_reason_max_chars + 1))
    assert r.status_code == 422
    assert sorted(d["field"] for d in r.json()["detail"]) == ["reason", "reason_code", "score"]
    assert _rate(permit, case, score="neutral").status_code == 201  # nothing was stored by the refusal


def test_guessing_tokens_is_stopped(permit: Api) -> None:
    case = _case(permit, permit.user("front_desk"))
    for guess in range(permit.settings.public_track_max_failures):
        assert _rate(permit, case, token=f"guess{guess}").status_code == 404
    r = _rate(permit, case)
    assert r.status_code == 429


def test_two_ratings_at_the_same_moment_store_one(permit: Api) -> None:
    case = _case(permit, permit.user("front_desk"))
    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(lambda score: _rate(permit, case, score=score).status_code,
                                ["happy", "neutral", "unhappy", "happy"]))
    assert codes == [201, 409, 409, 409]


def test_staff_read_only_cases_of_their_lanes(permit: Api) -> None:
    case = _case(permit, permit.user("front_desk"))
    assert _rate(permit, case).status_code == 201
    assert permit.client.get(f"/api/cases/{case['id']}/rating",
                             headers=permit.user("licensing")).status_code == 403
    assert permit.client.get(f"/api/cases/{case['id']}/rating").status_code == 401
