"""Digits typed in Arabic on the API: the same answer as ASCII; any other not-ASCII digit a 4xx, never a 500."""

from __future__ import annotations

import pytest

from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
EASTERN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@pytest.fixture
def case(api: Api) -> dict[str, object]:
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    return dict(api.open_case("test_permit", api.user("front_desk")).json())


def test_tracking_in_arabic_digits_is_the_same_as_ascii(api: Api, case: dict[str, object]) -> None:
    number = str(case["tracking_number"])
    ascii_answer = api.client.get(f"/api/public/track/{number}", params={"phone_last4": "4567"})
    assert ascii_answer.status_code == 200
    for script in (ARABIC, EASTERN):
        r = api.client.get(f"/api/public/track/{number.translate(script)}",
                           params={"phone_last4": "4567".translate(script)})
        assert r.status_code == 200, r.text  # was a 500: hmac.compare_digest refused the non-ASCII digits
        assert r.json() == ascii_answer.json()


@pytest.mark.parametrize("last4", ["²²²²", "४५६७", "４５６７", "𝟒𝟓𝟔𝟕"])
def test_other_digits_in_the_phone_are_a_422_naming_the_field(sqlite_api: Api, last4: str) -> None:
    api = sqlite_api
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    number = api.open_case("test_permit", api.user("front_desk")).json()["tracking_number"]
    r = api.client.get(f"/api/public/track/{number}", params={"phone_last4": last4})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "phone_last4"]


@pytest.mark.parametrize("number", ["²²²²-²²²²-²²²", "४८२१-९१३५-५६७", "４８２１９１３５５６７", "1234²"])
def test_other_digits_in_the_tracking_number_are_a_404(sqlite_api: Api, number: str) -> None:
    r = sqlite_api.client.get(f"/api/public/track/{number}", params={"phone_last4": "4567"})
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == "no request matches this tracking number and phone"


def test_reopening_reads_arabic_digits_and_refuses_others(sqlite_api: Api) -> None:
    api = sqlite_api
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    number = api.open_case("test_permit", api.user("front_desk")).json()["tracking_number"]
    bad = api.client.post(f"/api/public/track/{number}/reopen", json={"phone_last4": "²²²²", "reason": "x"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "phone_last4"]
    # Arabic digits pass the door: the answer is about the case (not a complaint), not about the digits.
    arabic = api.client.post(f"/api/public/track/{number.translate(ARABIC)}/reopen",
                             json={"phone_last4": "٤٥٦٧", "reason": "not resolved"})
    ascii_ = api.client.post(f"/api/public/track/{number}/reopen", json={"phone_last4": "4567",
                                                                          "reason": "not resolved"})
    assert arabic.status_code == ascii_.status_code != 500
    assert arabic.json() == ascii_.json()


def test_citizens_identity_in_arabic_digits_is_stored_in_ascii_and_found_by_either(api: Api) -> None:
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    citizen = {**CITIZEN, "national_id": CITIZEN["national_id"].translate(ARABIC),
               "phone": CITIZEN["phone"].translate(EASTERN)}
    r = api.open_case("test_permit", api.user("front_desk"), citizen=citizen)
    assert r.status_code == 201, r.text
    admin = api.user("admin")
    case = api.client.get(f"/api/cases/{r.json()['id']}", headers=admin).json()
    assert case["citizen"]["national_id"] == CITIZEN["national_id"]
    assert case["citizen"]["phone"] == CITIZEN["phone"]
    for typed in (CITIZEN["national_id"], CITIZEN["national_id"].translate(ARABIC),
                  CITIZEN["national_id"].translate(EASTERN)):
        found = api.client.get("/api/cases", params={"national_id": typed}, headers=admin).json()
        assert [c["id"] for c in found["items"]] == [r.json()["id"]]


def test_other_digits_in_the_citizens_identity_are_a_422_naming_each_field(sqlite_api: Api) -> None:
    api = sqlite_api
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    citizen = {**CITIZEN, "national_id": "२९००१०११२३४५६७", "phone": "+²⁰¹⁰⁰¹²³⁴⁵⁶⁷"}
    r = api.open_case("test_permit", api.user("front_desk"), citizen=citizen)
    assert r.status_code == 422, r.text
    assert {d["field"] for d in r.json()["detail"]} == {"citizen.national_id", "citizen.phone"}


def _register_task(api: Api, case: dict[str, object], headers: dict[str, str]) -> str:
    tasks = api.client.get(f"/api/cases/{case['id']}", headers=headers).json()["tasks"]
    return str(next(t["id"] for t in tasks if t["state"] == "ready"))


def test_a_numeric_field_sent_in_arabic_digits_is_the_number(api: Api, case: dict[str, object]) -> None:
    clerk = api.user("front_desk")
    task_id = _register_task(api, case, api.user("admin"))
    r = api.complete(task_id, {"area": "١٢٠", "purpose": "بيت العائلة"}, clerk)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["area"] == 120


@pytest.mark.parametrize("area", ["²", "१२०", "１２０", "12O"])
def test_a_numeric_field_with_other_characters_is_a_422_naming_it(sqlite_api: Api, area: str) -> None:
    api = sqlite_api
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    case = api.open_case("test_permit", api.user("front_desk")).json()
    task_id = _register_task(api, case, api.user("admin"))
    r = api.complete(task_id, {"area": area, "purpose": "بيت العائلة"}, api.user("front_desk"))
    assert r.status_code == 422, r.text
    assert [d["field"] for d in r.json()["detail"]] == ["area"]


def test_queue_ticket_numbers_in_arabic_digits(api: Api) -> None:
    issued = api.client.post("/api/queue/tickets", json={"category": "permits"})
    assert issued.status_code == 201, issued.text
    number = issued.json()["number"]  # P-001
    for typed in (number.translate(ARABIC), number.translate(EASTERN).replace("-", "")):
        r = api.client.get(f"/api/queue/tickets/{typed}")
        assert r.status_code == 200 and r.json()["number"] == number
    for typed in ("P-²", "P-००१", "P-００１"):
        r = api.client.get(f"/api/queue/tickets/{typed}")
        assert r.status_code == 404 and "no ticket" in r.json()["detail"]
