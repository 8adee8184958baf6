"""Citizens track their request with the tracking number and the last four digits of their phone."""

from __future__ import annotations

import pytest

from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES


@pytest.fixture
def case(api: Api) -> dict[str, object]:
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    return dict(api.open_case("test_permit", api.user("front_desk")).json())


def test_track_shows_status_and_step_without_personal_data(api: Api, case: dict[str, object]) -> None:
    r = api.client.get(f"/api/public/track/{case['tracking_number']}", params={"phone_last4": "4567"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"tracking_number", "service", "status", "current_step", "current_step_ar", "updated_at",
                         "reopen_until", "documents"}
    assert body["reopen_until"] is None  # only a resolved complaint has a time to reopen
    assert body["documents"] == []  # issued documents' verification links only (tests/outputs/test_verify.py)
    assert body["status"] == "open" and body["current_step"] == "Register request"
    assert body["current_step_ar"] == "تسجيل الطلب"
    assert body["service"] == {"code": "test_permit", "name": {"ar": "ترخيص تجريبي", "en": "Test permit"}}
    text = r.text
    for secret in (CITIZEN["national_id"], CITIZEN["full_name"], CITIZEN["phone"]):
        assert secret not in text


def test_tracking_number_typed_without_dashes_works(api: Api, case: dict[str, object]) -> None:
    digits = str(case["tracking_number"]).replace("-", "")
    r = api.client.get(f"/api/public/track/{digits}", params={"phone_last4": "4567"})
    assert r.status_code == 200


def test_wrong_digits_and_unknown_numbers_look_the_same(api: Api, case: dict[str, object]) -> None:
    wrong = api.client.get(f"/api/public/track/{case['tracking_number']}", params={"phone_last4": "0000"})
    unknown = api.client.get("/api/public/track/1234-5678-901", params={"phone_last4": "4567"})
    garbage = api.client.get("/api/public/track/zzz", params={"phone_last4": "4567"})
    assert wrong.status_code == unknown.status_code == garbage.status_code == 404
    assert wrong.json() == unknown.json() == garbage.json()
    assert api.client.get(f"/api/public/track/{case['tracking_number']}",
                          params={"phone_last4": "45"}).status_code == 422


def test_guessing_the_phone_digits_is_stopped(api: Api, case: dict[str, object]) -> None:
    limit = api.settings.public_track_max_failures
    for guess in range(limit):
        r = api.client.get(f"/api/public/track/{case['tracking_number']}", params={"phone_last4": f"{guess:04d}"})
        assert r.status_code == 404
    r = api.client.get(f"/api/public/track/{case['tracking_number']}", params={"phone_last4": "4567"})
    assert r.status_code == 429


def test_healthz(api: Api) -> None:
    r = api.client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "alive"}


def test_openapi_lists_the_contract(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ("/api/auth/token", "/api/users", "/api/me", "/api/processes", "/api/services", "/api/cases",
                 "/api/cases/{case_id}", "/api/cases/{case_id}/events", "/api/tasks", "/api/tasks/{task_id}/claim",
                 "/api/tasks/{task_id}/unclaim", "/api/tasks/{task_id}/complete",
                 "/api/public/track/{tracking_number}", "/healthz"):
        assert path in paths, path
