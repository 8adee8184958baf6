"""The NUL character (U+0000) is refused at the door with a 422 naming where it is (PostgreSQL stores none)."""

from __future__ import annotations

from harness.api import CITIZEN, Api
from harness.pages import csrf_of
from harness.settings import TEST_PROCESSES


def test_a_nul_in_a_query_parameter_is_a_422_naming_it(api: Api) -> None:
    admin = api.user("admin")
    for url, name in [("/api/cases", "service_code"), ("/api/processes", "service_code"),
                      ("/api/queue/categories", "center"), ("/api/reports/sla", "center")]:
        r = api.client.get(url, params={name: "a\x00b"}, headers=admin)
        assert r.status_code == 422, (url, r.text)  # was a 500 on PostgreSQL
        assert r.json()["detail"] == [{"loc": ["query", name], "msg": "text may not contain the NUL character (U+0000)",
                                       "type": "value_error.nul",
                                       "msg_ar": "لا يجوز أن يحتوي النص على المحرف NUL (U+0000)"}]
        assert r.json()["message_id"] == "request.nul"


def test_a_nul_in_a_path_is_a_422(api: Api) -> None:
    r = api.client.get("/api/queue/tickets/P-%001")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path"]


def test_a_nul_in_a_json_body_is_a_422_naming_the_field_and_nothing_is_written(api: Api) -> None:
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    clerk, admin = api.user("front_desk"), api.user("admin")
    r = api.open_case("test_permit", clerk, data={"notes": ["ok", "x\x00"]},
                      citizen={**CITIZEN, "full_name": "سارة\x00"})
    assert r.status_code == 422, r.text
    assert [d["loc"] for d in r.json()["detail"]] == [["body", "citizen", "full_name"], ["body", "data", "notes", 1]]
    assert api.client.get("/api/cases", headers=admin).json()["total"] == 0
    r = api.client.post("/api/queue/tickets", json={"category": "permits\x00"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "category"]


def test_a_nul_in_a_page_form_is_a_422(sqlite_api: Api) -> None:
    r = sqlite_api.client.post("/login", data={"username": "admin\x00", "password": "x"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "username"]


def test_text_that_only_mentions_nul_passes_through(sqlite_api: Api) -> None:
    api = sqlite_api
    api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst"))
    r = api.open_case("test_permit", api.user("front_desk"),
                      citizen={**CITIZEN, "full_name": "سارة %00 \\u0000"})
    assert r.status_code == 201, r.text
    assert api.client.get("/api/cases", params={"service_code": "%00"}, headers=api.user("admin")).status_code == 200


def test_a_nul_in_a_multipart_page_form_is_a_422(api: Api) -> None:
    # A page takes its form as multipart as well as urlencoded (those with a file are multipart): the door's
    # check reads no multipart body, so the pages refuse a NUL in a text field themselves (it was a 500 on
    # PostgreSQL, for anyone: the kiosk needs no sign-in).
    token = csrf_of(api.client.get("/queue/kiosk").text)
    for path, field in (("/queue/kiosk", "category"), ("/queue/kiosk/booking", "booking")):
        r = api.client.post(path, data={"csrf_token": token, "center": "C1", field: "permits\x00"},
                            files={"nothing": ("", b"", "application/octet-stream")}, follow_redirects=False)
        assert r.status_code == 422, (path, r.text[:300])
        assert "NUL" in r.text
