"""Finding a service over the API (``GET /api/services/search``) and its public description
(``GET /api/public/services/{code}``): the real services deployed, searched in Arabic with its variants and in
English; refused for an empty or overlong query, throttled per address, and a retired service is no longer found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from harness.api import Api
from harness.settings import make_settings
from tests.services.paths import PROCESSES

DEPLOYED = ("birth_certificate", "building_permit", "complaint", "national_id_renewal")


@pytest.fixture
def found_api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(database_url, tmp_path, service_search_max_per_address=6)
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        analyst = api.user("analyst")
        for service in DEPLOYED:
            assert api.deploy(PROCESSES / service, analyst).status_code == 201
        yield api


def _first(api: Api, q: str) -> str | None:
    r = api.client.get("/api/services/search", params={"q": q})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    return results[0]["service_code"] if results else None


def test_search_in_arabic_with_its_variants_and_in_english(found_api: Api) -> None:
    assert _first(found_api, "شهاده ميلاد") == "birth_certificate"
    assert _first(found_api, "رخصة مبانى") == "building_permit"
    assert _first(found_api, "البطاقه الشخصيه") == "national_id_renewal"
    assert _first(found_api, "complant") == "complaint"
    assert _first(found_api, "zzzz qqqq") is None
    r = found_api.client.get("/api/services/search", params={"q": "شكوى"})
    first = r.json()["results"][0]
    assert first["name"] == {"ar": "شكوى مواطن", "en": "Citizen complaint"}
    assert first["sla_days"] == 15 and first["agency"]["ar"]


def test_an_empty_or_overlong_query_is_refused_in_both_languages(found_api: Api) -> None:
    for q in ("   ", "ب" * 101):
        r = found_api.client.get("/api/services/search", params={"q": q})
        assert r.status_code == 422, r.text
        assert r.json()["message_id"] == "search.query_length"
        assert "100" in r.json()["message_ar"]
    assert found_api.client.get("/api/services/search").status_code == 422  # no q at all


def test_one_address_may_search_only_so_often(found_api: Api) -> None:
    for _ in range(6):
        assert found_api.client.get("/api/services/search", params={"q": "ميلاد"}).status_code == 200
    r = found_api.client.get("/api/services/search", params={"q": "ميلاد"})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["message_id"] == "search.too_many" and r.json()["message_ar"]


def test_the_public_description_shows_papers_fee_table_time_where_and_questions(found_api: Api) -> None:
    r = found_api.client.get("/api/public/services/building_permit")
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["sla_days"] == 30
    assert any(d["required"] and d["name"]["ar"] for d in page["documents"])
    table = page["fee"]["table"]
    # The columns and the listed values are named as the service's form names them, in both languages.
    assert table["inputs"] == [{"en": "Plot area (m²)", "ar": "مساحة قطعة الأرض (م²)"},
                               {"en": "Building use", "ar": "نوع الاستخدام"}]
    assert table["outputs"][0] == {"en": "Fee (EGP)", "ar": "الرسوم (جنيه)"}
    first = table["rows"][0]
    assert first["when"] == [{"en": "under 150", "ar": "أقل من 150"}, {"en": "Residential", "ar": "سكني"}]
    assert first["then"] == [{"en": "1500", "ar": "1500"}, {"en": "under 150", "ar": "أقل من 150"}]
    assert page["where"]["ar"] and page["faq"] and page["faq"][0]["q"]["en"]
    fixed = found_api.client.get("/api/public/services/birth_certificate").json()
    assert fixed["fee"]["amount"] == 25.0 and fixed["fee"]["table"] is None
    missing = found_api.client.get("/api/public/services/no_such_service")
    assert missing.status_code == 404 and missing.json()["message_ar"]


def test_a_retired_service_is_no_longer_found(found_api: Api) -> None:
    assert _first(found_api, "ترخيص بناء") == "building_permit"
    admin = found_api.user("admin")
    assert found_api.client.post("/api/services/building_permit/retire", headers=admin).status_code == 200
    assert _first(found_api, "ترخيص بناء") != "building_permit"
    assert found_api.client.get("/api/public/services/building_permit").status_code == 404
