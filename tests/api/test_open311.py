"""Open311 GeoReport v2, driven as a GeoReport client drives it: discovery, the service list, a service's
definition, a form-encoded POST with the application's api_key, then the request by its id and in the list. And
broken the ways clients break it: no key, a revoked key, an unknown service, an attribute the service does not
have, a required one missing, Arabic-Indic digits, a bad date, the same POST sent twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from api.app import create_app
from engine.catalog.packages import read_package
from harness.api import Api
from harness.settings import make_settings
from tests.services.paths import PROCESSES
from tests.support.concurrent import at_once

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


@pytest.fixture
def o311(database_url: str, tmp_path: Path) -> Iterator[tuple[Api, str]]:
    settings = make_settings(database_url, tmp_path, open311_requests_per_key=4)
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        analyst = api.user("analyst")
        for service in ("complaint", "inquiry_suggestion", "birth_certificate"):
            assert api.deploy(PROCESSES / service, analyst).status_code == 201
        r = client.post("/api/open311/keys", json={"name": "Madinati app"}, headers=api.user("admin"))
        assert r.status_code == 201, r.text
        yield api, r.json()["api_key"]


def _complaint(api_key: str, **extra: str) -> dict[str, str]:
    return {"api_key": api_key, "service_code": "complaint", "address_string": "شارع التحرير، الدقي، الجيزة",
            "first_name": "سارة", "last_name": "أحمد", "phone": "+201001234567", "email": "sara@example.org",
            "description": "كسر في ماسورة المياه أمام المنزل منذ ثلاثة أيام والمياه تغرق الشارع",
            "attribute[national_id]": "29001011234567", "attribute[category]": "water_supply",
            "attribute[subject]": "كسر ماسورة مياه", "attribute[preferred_contact]": "sms", **extra}


def _post(api: Api, fields: dict[str, str], fmt: str = "json") -> Any:
    return api.client.post(f"/open311/v2/requests.{fmt}", data=fields, headers=FORM)


def test_a_client_discovers_lists_defines_files_and_follows_a_complaint(o311: tuple[Api, str]) -> None:
    api, key = o311
    found = api.client.get("/open311/discovery.json").json()
    endpoint = found["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2") and "application/json" in endpoint["formats"]
    services = api.client.get("/open311/v2/services.json")
    assert services.status_code == 200 and services.headers["content-type"].startswith("application/json")
    listed = {s["service_code"]: s for s in services.json()}
    assert set(listed) == {"complaint", "inquiry_suggestion"}  # the birth certificate is not offered
    assert listed["complaint"]["metadata"] is True and listed["complaint"]["type"] == "realtime"
    assert set(listed["complaint"]) == {"service_code", "service_name", "description", "metadata", "type",
                                        "keywords", "group"}
    definition = api.client.get("/open311/v2/services/complaint.json").json()
    assert definition["service_code"] == "complaint"
    attributes = {a["code"]: a for a in definition["attributes"]}
    assert set(attributes) == {"national_id", "category", "subject", "preferred_contact", "contact_email"}
    assert attributes["category"]["datatype"] == "singlevaluelist" and attributes["category"]["required"] is True
    assert {"key": "water_supply", "name": "Water supply"} in attributes["category"]["values"]
    assert [a["order"] for a in definition["attributes"]] == list(range(1, 6))
    arabic = api.client.get("/open311/v2/services/complaint.json", headers={"Accept-Language": "ar"}).json()
    assert {"key": "water_supply", "name": "مياه الشرب"} in {a["code"]: a for a in arabic["attributes"]}[
        "category"]["values"]

    filed = _post(api, _complaint(key))
    assert filed.status_code == 200, filed.text
    [answer] = filed.json()
    number = answer["service_request_id"]
    assert set(answer) == {"service_request_id", "service_notice", "account_id"} and number in answer["service_notice"]

    [request] = api.client.get(f"/open311/v2/requests/{number}.json").json()
    assert request["service_request_id"] == number and request["status"] == "open"
    assert request["service_code"] == "complaint" and request["address"] == "شارع التحرير، الدقي، الجيزة"
    assert request["requested_datetime"].endswith("Z") and request["expected_datetime"].endswith("Z")
    listed_requests = api.client.get("/open311/v2/requests.json", params={"status": "open",
                                                                          "service_code": "complaint"}).json()
    assert [r["service_request_id"] for r in listed_requests] == [number]
    assert api.client.get("/open311/v2/requests.json", params={"status": "closed"}).json() == []
    by_id = api.client.get("/open311/v2/requests.json", params={"service_request_id": f"{number},1234-5678-901",
                                                                "status": "closed"}).json()
    assert [r["service_request_id"] for r in by_id] == [number]  # the ids override every other argument

    # The case is a real one: the citizen's, at the front desk's intake, with the form's fields filled.
    clerk = api.user("front_desk")
    cases = api.client.get("/api/cases", params={"tracking_number": number}, headers=clerk).json()
    case = api.client.get(f"/api/cases/{cases['items'][0]['id']}", headers=clerk).json()
    assert case["data"]["category"] == "water_supply" and case["data"]["location"].startswith("شارع التحرير")
    assert case["data"]["description"].startswith("كسر في ماسورة")

    # Closed at the center (here cancelled as a duplicate): the client sees it closed, in the closed list.
    cancelled = api.client.post(f"/api/cases/{case['id']}/cancel", json={"reason": "duplicate of a desk complaint"},
                                headers=api.user("supervisor"))
    assert cancelled.status_code == 200, cancelled.text
    [request] = api.client.get(f"/open311/v2/requests/{number}.json").json()
    assert request["status"] == "closed" and request["updated_datetime"].endswith("Z")
    closed = api.client.get("/open311/v2/requests.json", params={"status": "closed"}).json()
    assert [r["service_request_id"] for r in closed] == [number]
    assert api.client.get("/open311/v2/requests.json", params={"status": "open"}).json() == []


def test_xml_has_the_declaration_and_the_specification_root_elements(o311: tuple[Api, str]) -> None:
    api, key = o311
    r = api.client.get("/open311/v2/services.xml")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<services>')
    root = etree.fromstring(r.content)
    assert root.tag == "services" and [c.tag for c in root] == ["service", "service"]
    assert root.find("service/metadata").text == "true"
    definition = etree.fromstring(api.client.get("/open311/v2/services/complaint.xml").content)
    assert definition.tag == "service_definition"
    assert definition.find("attributes/attribute/code").text == "national_id"
    assert definition.find("attributes/attribute[code='category']/values/value/key") is not None
    filed = etree.fromstring(_post(api, _complaint(key), "xml").content)
    assert filed.tag == "service_requests" and filed.find("request/service_request_id").text
    refused = api.client.get("/open311/v2/services/no_such_service.xml")
    errors = etree.fromstring(refused.content)
    assert refused.status_code == 404 and errors.tag == "errors" and errors.find("error/code").text == "404"


def _errors(r: Any, status: int) -> list[str]:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, list) and all(set(e) == {"code", "description"} and e["code"] == status for e in body)
    return [e["description"] for e in body]


def test_missing_wrong_and_revoked_keys_are_403(o311: tuple[Api, str]) -> None:
    api, key = o311
    fields = _complaint(key)
    del fields["api_key"]
    assert "api_key was not provided" in _errors(_post(api, fields), 403)[0]
    assert "not valid" in _errors(_post(api, _complaint("not-a-key")), 403)[0]
    arabic = api.client.post("/open311/v2/requests.json", data=_complaint("not-a-key"),
                             headers={**FORM, "Accept-Language": "ar"})
    assert "غير صالح" in _errors(arabic, 403)[0]
    staff = api.client.post("/open311/v2/requests.json", data=fields, headers={**FORM, **api.user("admin")})
    _errors(staff, 403)  # a staff token is no application's key
    assert api.client.delete("/api/open311/keys/Madinati app", headers=api.user("admin")).status_code == 204
    _errors(_post(api, _complaint(key)), 403)


def test_unknown_service_unknown_or_missing_attributes_and_bad_values(o311: tuple[Api, str]) -> None:
    api, key = o311
    assert "was not found" in _errors(_post(api, _complaint(key, service_code="birth_certificate")), 404)[0]
    assert "service_code was not provided" in _errors(_post(api, _complaint(key, service_code="")), 400)[0]
    said = _errors(_post(api, _complaint(key, **{"attribute[colour]": "red"})), 400)
    assert said == ["attribute[colour] is not an attribute of this service"]
    fields = _complaint(key)
    del fields["attribute[category]"], fields["address_string"], fields["phone"]
    said = _errors(_post(api, fields), 400)
    assert "attribute[category] is required" in said and "phone is required" in said
    assert any("location must be given" in s for s in said)
    said = _errors(_post(api, _complaint(key, **{"attribute[category]": "flying_saucers"})), 400)
    assert said[0].startswith("attribute[category]:")
    said = _errors(_post(api, _complaint(key, description="قصير")), 400)
    assert said[0].startswith("description:")
    said = _errors(_post(api, _complaint(key, **{"attribute[national_id]": "123"})), 400)
    assert len(said) == 1
    not_form = api.client.post("/open311/v2/requests.json", json=_complaint(key))
    assert "x-www-form-urlencoded" in _errors(not_form, 400)[0]
    assert api.client.get("/open311/v2/services.csv").status_code == 404


def test_a_number_attribute_that_is_not_a_number_files_nothing(o311: tuple[Api, str]) -> None:
    """NaN and the infinities are no numbers a form takes (forms/digits.py), through Open311 as on the pages: a
    400 naming the attribute, never a case holding one (a 500 on PostgreSQL, a case no page could show)."""
    api, key = o311
    files = read_package(PROCESSES / "complaint")
    form = json.loads(files["register_complaint.json"])
    form["properties"]["floors"] = {"type": "number", "title": "Floors", "minimum": 0, "maximum": 100}
    files["register_complaint.json"] = json.dumps(form).encode()
    r = api.client.post("/api/processes", files=[("files", (n, b)) for n, b in files.items()],
                        headers=api.user("analyst"))
    assert r.status_code == 201, r.text
    for value in ("nan", "NaN", "-nan", "inf", "1e999", "Infinity"):
        said = _errors(_post(api, _complaint(key, **{"attribute[floors]": value})), 400)
        assert said[0].startswith("attribute[floors]:"), (value, said)
    assert api.client.get("/open311/v2/requests.json").json() == []
    filed = _post(api, _complaint(key, **{"attribute[floors]": "٢٫٥"}))
    assert filed.status_code == 200, filed.text


def test_an_email_longer_than_an_address_can_be_is_a_400(o311: tuple[Api, str]) -> None:
    api, key = o311
    said = _errors(_post(api, _complaint(key, email="sara@" + "b" * 400 + ".org")), 400)
    assert said == ["the e-mail address is not valid"]
    assert api.client.get("/open311/v2/requests.json").json() == []


def test_arabic_digits_lat_long_and_the_inquiry(o311: tuple[Api, str]) -> None:
    api, key = o311
    fields = _complaint(key, **{"attribute[national_id]": "٢٩٠٠١٠١١٢٣٤٥٦٧", "phone": "+٢٠١٠٠١٢٣٤٥٦٧",
                                "lat": "٣٠٫٠٤", "long": "31.23"})
    del fields["address_string"]
    [answer] = _post(api, fields).json()
    [request] = api.client.get(f"/open311/v2/requests/{answer['service_request_id']}.json").json()
    assert request["lat"] == 30.04 and request["long"] == 31.23 and request["address"] == "30.04, 31.23"
    arabic_id = answer["service_request_id"].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert api.client.get(f"/open311/v2/requests/{arabic_id}.json").status_code == 200
    inquiry = {"api_key": key, "service_code": "inquiry_suggestion", "address_id": "center-1",
               "first_name": "Omar", "last_name": "Hassan", "phone": "+201001234567",
               "description": "What papers does a shop signage licence need, and how long does it take?",
               "attribute[national_id]": "29001011234567", "attribute[kind]": "inquiry",
               "attribute[topic]": "documents", "attribute[subject]": "Signage licence papers",
               "attribute[preferred_contact]": "sms"}
    r = _post(api, inquiry)
    assert r.status_code == 200, r.text
    assert "answered_at_counter" not in {a["code"] for a in api.client.get(
        "/open311/v2/services/inquiry_suggestion.json").json()["attributes"]}


def test_bad_dates_too_long_a_span_and_an_unknown_status_are_400(o311: tuple[Api, str]) -> None:
    api, _key = o311
    for params in ({"start_date": "yesterday"}, {"end_date": "2026-12-01"}, {"start_date": "2026-13-01T00:00:00Z"}):
        assert "w3 date" in _errors(api.client.get("/open311/v2/requests.json", params=params), 400)[0]
    span = {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-12-01T00:00:00+02:00"}
    assert "90 days" in _errors(api.client.get("/open311/v2/requests.json", params=span), 400)[0]
    _errors(api.client.get("/open311/v2/requests.json", params={"status": "pending"}), 400)
    ok = api.client.get("/open311/v2/requests.json", params={"start_date": "٢٠٢٦-١١-٢٠T00:00:00Z"})
    assert ok.status_code == 200
    assert "was not found" in _errors(api.client.get("/open311/v2/requests/1234-5678-901.json"), 404)[0]


def test_the_same_post_twice_files_one_request_and_the_key_is_throttled(o311: tuple[Api, str]) -> None:
    api, key = o311
    first = _post(api, _complaint(key)).json()[0]["service_request_id"]
    again = _post(api, _complaint(key)).json()[0]["service_request_id"]
    assert again == first
    assert len(api.client.get("/open311/v2/requests.json").json()) == 1
    for i in range(3):
        assert _post(api, _complaint(key, **{"attribute[subject]": f"كسر ماسورة رقم {i}"})).status_code == 200
    refused = _post(api, _complaint(key, **{"attribute[subject]": "كسر ماسورة أخرى"}))
    assert "too many" in _errors(refused, 429)[0] and int(refused.headers["Retry-After"]) >= 1


def test_only_admins_issue_keys_and_names_are_checked(o311: tuple[Api, str]) -> None:
    api, _key = o311
    assert api.client.post("/api/open311/keys", json={"name": "x"}, headers=api.user("front_desk")).status_code == 403
    admin = api.user("admin", username="admin2")
    assert api.client.post("/api/open311/keys", json={"name": "Madinati app"}, headers=admin).status_code == 409
    assert api.client.post("/api/open311/keys", json={"name": "  "}, headers=admin).status_code == 422
    assert api.client.delete("/api/open311/keys/nobody", headers=admin).status_code == 404


def test_a_key_whose_name_has_a_slash_is_revoked_through_the_api(o311: tuple[Api, str]) -> None:
    api, _key = o311
    admin = api.user("admin", username="admin3")
    issued = api.client.post("/api/open311/keys", json={"name": "Madinati/iOS"}, headers=admin)
    assert issued.status_code == 201, issued.text
    assert api.client.delete("/api/open311/keys/Madinati%2FiOS", headers=admin).status_code == 204
    _errors(_post(api, _complaint(issued.json()["api_key"])), 403)
    assert api.client.delete("/api/open311/keys/" + "x" * 101, headers=admin).status_code == 422


def test_the_command_line_issues_and_revokes_a_key(o311: tuple[Api, str], monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    api, _key = o311
    monkeypatch.setattr("cli.main.get_settings", lambda: api.settings)
    assert main(["open311", "add-key", "Kiosk app"]) == 0
    key = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    assert _post(api, _complaint(key)).status_code == 200
    assert main(["open311", "add-key", "Kiosk app"]) == 1  # the name has a key already
    assert main(["open311", "revoke-key", "Kiosk app"]) == 0
    _errors(_post(api, _complaint(key, **{"attribute[subject]": "بعد الإلغاء"})), 403)



def test_a_request_taken_at_the_desk_is_not_listed_and_far_dates_are_refused(o311: tuple[Api, str]) -> None:
    """The public lists show only what applications filed (a desk complaint's tracking number is the citizen's);
    a date at the calendar's edge is a 400, not an overflow."""
    from harness.api import CITIZEN
    from tests.services.paths import find_path

    api, _key = o311
    path = find_path("complaint", "municipal_resolved")
    r = api.client.post("/api/cases", headers=api.user("front_desk"), json={
        "service_code": "complaint", "citizen": CITIZEN, "data": path.case_data})
    assert r.status_code == 201, r.text
    number = r.json()["tracking_number"]
    assert api.client.get(f"/open311/v2/requests/{number}.json").status_code == 404
    listed = api.client.get("/open311/v2/requests.json", params={"service_request_id": number})
    assert listed.status_code == 200 and listed.json() == []
    assert number not in api.client.get("/open311/v2/requests.json").text
    for params in ({"start_date": "9999-12-31T00:00:00Z"}, {"end_date": "0001-01-01T00:00:00Z"}):
        r = api.client.get("/open311/v2/requests.json", params=params)
        assert r.status_code == 400, (params, r.status_code, r.text)


def test_the_same_post_at_the_same_moment_opens_one_case(o311: tuple[Api, str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Two identical POSTs (a client's retry racing its first try) both pass the look-up for an earlier one
    before either writes: one case is opened, and both answers carry its number."""
    import threading

    from sqlmodel import func, select

    from engine.citizen import open311 as engine_open311
    from storage.db import session_for
    from storage.models.cases import Case

    api, key = o311
    both_looked = threading.Barrier(2, timeout=10)
    checked = engine_open311._intake_schema

    def after_the_look_up(process: Any) -> Any:
        both_looked.wait()  # each POST has looked for an earlier one and found none
        return checked(process)

    monkeypatch.setattr(engine_open311, "_intake_schema", after_the_look_up)
    answers = at_once(lambda: _post(api, _complaint(key)), timeout=30)
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    numbers = {r.json()[0]["service_request_id"] for r in answers}
    assert len(numbers) == 1
    with session_for(api.settings.database_url) as session:
        assert session.exec(select(func.count()).select_from(Case)).one() == 1


def test_the_public_reads_are_throttled_per_address(database_url: str, tmp_path: Path) -> None:
    """Every public GET counts against the caller's address, in the specification's refusal shape (JSON or
    XML, with Retry-After); another address still reads, and the POST's own limit is per key."""
    settings = make_settings(database_url, tmp_path, open311_reads_per_address=3)
    with TestClient(create_app(settings)) as client:
        paths = ["/open311/discovery.json", "/open311/v2/services.json", "/open311/v2/requests.xml"]
        assert [client.get(p).status_code for p in paths] == [200, 200, 200]
        for path in ("/open311/v2/services/complaint.json", "/open311/v2/requests/123.xml"):
            refused = client.get(path)
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert "too many reads" in refused.text and refused.text.startswith("<?xml")
        assert client.get("/open311/v2/services.json", headers={"Accept-Language": "ar"}).json()[0][
            "description"] == "طلبات قراءة كثيرة من هذا العنوان؛ حاول بعد قليل"
    with TestClient(create_app(settings), client=("198.51.100.7", 50000)) as other:
        assert other.get("/open311/v2/services.json").status_code == 200
    # One IPv6 subscriber walking through the addresses of its /64 is still one address to the limit.
    answers = []
    for host in ("2001:db8:5:6::1", "2001:db8:5:6::2", "2001:db8:5:6:a:b:c:d", "2001:db8:5:6::ffff"):
        with TestClient(create_app(settings), client=(host, 50000)) as walker:
            answers.append(walker.get("/open311/v2/services.json").status_code)
    assert answers == [200, 200, 200, 429]
    with TestClient(create_app(settings), client=("2001:db8:5:7::1", 50000)) as neighbour:
        assert neighbour.get("/open311/v2/services.json").status_code == 200
