"""The citizen applies online on a page (admin_ui/routes/citizen.py): the intake form drawn from the service's
JSON Schema, the papers from the phone's camera, the fee; a service not online is refused in words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from admin_ui.pages import CITIZEN_COOKIE
from engine.citizen import signin
from harness.api import CITIZEN, Api
from harness.pages import Pages, csrf_of
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.cases import Case, Document
from tests.services.paths import service_paths
from tests.support.citizen_apply import applying
from tests.support.documents import JPEG

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.fixture
def api(sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(sqlite_url, tmp_path)
    with applying(settings) as api:
        api.client.cookies.set(CITIZEN_COOKIE, signin.issue_token(CITIZEN["phone"], settings), path="/citizen")
        yield api


def _form(service: str) -> dict[str, Any]:
    data = service_paths(service)[0].steps[0].data
    return {f"data.{k}": ("true" if v is True else "" if v is False else str(v)) for k, v in data.items()}


def _cases(api: Api) -> list[Case]:
    with Session(engine_for(api.settings.database_url)) as session:
        return list(session.exec(select(Case)).all())


def test_my_requests_lists_the_services_to_apply_for_online(api: Api) -> None:
    page = api.client.get("/citizen/cases")
    assert page.status_code == 200 and 'id="citizen-online"' in page.text
    assert 'href="/citizen/apply/inquiry_suggestion"' in page.text and "مستخرج شهادة ميلاد" in page.text
    assert "/citizen/apply/building_permit" not in page.text


def test_the_page_draws_the_services_form_and_the_camera_and_the_inquiry_is_registered(api: Api) -> None:
    page = api.client.get("/citizen/apply/inquiry_suggestion")
    assert page.status_code == 200, page.text
    assert 'name="data.subject"' in page.text and 'name="data.details"' in page.text  # from the JSON Schema
    assert 'name="scan.national_id_copy" type="file" accept="image/*,application/pdf" capture' in page.text
    assert "بدون رسوم" in page.text
    r = api.client.post("/citizen/apply/inquiry_suggestion", data={
        "csrf_token": csrf_of(page.text), "full_name": CITIZEN["full_name"],
        "national_id": CITIZEN["national_id"].translate(ARABIC), "center": "CITY-A", **_form("inquiry_suggestion")},
        files={"scan.national_id_copy": ("id.jpg", JPEG, "image/jpeg")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    (case,) = _cases(api)
    assert r.headers["location"] == f"/citizen/cases/{case.id}?applied=1"
    assert (case.channel, case.national_id, case.phone) == ("citizen_portal", CITIZEN["national_id"], CITIZEN["phone"])
    assert "تم استلام طلبك" in api.client.get(r.headers["location"]).text
    with Session(engine_for(api.settings.database_url)) as session:
        assert [d.uploaded_by for d in session.exec(select(Document)).all()] == ["citizen"]
    staff = api.client.get(f"/api/cases/{case.id}", headers=api.user("auditor")).json()
    assert "register_request" not in [t["name"] for t in staff["tasks"]]  # registered by the citizen


def test_a_certificate_page_says_to_bring_the_originals_and_waits_for_the_desk(api: Api) -> None:
    page = api.client.get("/citizen/apply/birth_certificate")
    assert page.status_code == 200 and 'id="citizen-originals"' in page.text
    r = api.client.post("/citizen/apply/birth_certificate", data={
        "csrf_token": csrf_of(page.text), "full_name": CITIZEN["full_name"], "national_id": CITIZEN["national_id"],
        "center": "CITY-A", **_form("birth_certificate")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    (case,) = _cases(api)
    staff = api.client.get(f"/api/cases/{case.id}", headers=api.user("auditor")).json()
    assert [(t["name"], t["lane"]) for t in staff["tasks"]] == [("register_request", "front_desk")]


def test_refusals_are_said_and_open_nothing(api: Api) -> None:
    not_online = api.client.get("/citizen/apply/building_permit")
    assert not_online.status_code == 403 and "لا يمكن التقديم على هذه الخدمة عبر الإنترنت" in not_online.text
    token = csrf_of(api.client.get("/citizen/apply/inquiry_suggestion").text)
    wrong_file = api.client.post("/citizen/apply/inquiry_suggestion", data={
        "csrf_token": token, "full_name": CITIZEN["full_name"], "national_id": CITIZEN["national_id"],
        "center": "CITY-A", **_form("inquiry_suggestion")},
        files={"scan.national_id_copy": ("id.jpg", b"<html></html>", "image/jpeg")})
    assert wrong_file.status_code == 422 and 'id="citizen-error"' in wrong_file.text
    bad_form = api.client.post("/citizen/apply/inquiry_suggestion", data={
        "csrf_token": token, "full_name": CITIZEN["full_name"], "national_id": CITIZEN["national_id"],
        "center": "CITY-A", "data.kind": "inquiry"})
    assert bad_form.status_code == 422 and 'id="citizen-apply-form"' in bad_form.text
    no_csrf = api.client.post("/citizen/apply/inquiry_suggestion", data={"center": "CITY-A"})
    assert no_csrf.status_code == 403
    assert _cases(api) == []
    api.client.cookies.clear()
    assert api.client.get("/citizen/apply/inquiry_suggestion", follow_redirects=False).headers["location"] == \
        "/citizen"


def test_the_clerk_finds_the_online_answers_filled_in_on_the_intake(api: Api) -> None:
    page = api.client.get("/citizen/apply/birth_certificate")
    r = api.client.post("/citizen/apply/birth_certificate", data={
        "csrf_token": csrf_of(page.text), "full_name": CITIZEN["full_name"], "national_id": CITIZEN["national_id"],
        "center": "CITY-A", **_form("birth_certificate")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    (case,) = _cases(api)
    task = api.client.get(f"/api/cases/{case.id}", headers=api.user("auditor")).json()["tasks"][0]
    pages = Pages(api.client, api.settings)
    assert pages.sign_in(pages.user("front_desk")).status_code in (200, 303)
    shown = api.client.get(f"/tasks/{task['id']}")
    assert shown.status_code == 200, shown.text
    name = service_paths("birth_certificate")[0].steps[0].data["person_full_name"]
    assert f'value="{name}"' in shown.text


def test_a_paper_over_the_limit_leaves_the_application_open_and_says_a_paper_is_missing(api: Api) -> None:
    api.settings.max_document_bytes = 2048
    token = csrf_of(api.client.get("/citizen/apply/inquiry_suggestion").text)
    big = JPEG + b"\x00" * 4096
    r = api.client.post("/citizen/apply/inquiry_suggestion", data={
        "csrf_token": token, "full_name": CITIZEN["full_name"], "national_id": CITIZEN["national_id"],
        "center": "CITY-A", **_form("inquiry_suggestion")},
        files={"scan.national_id_copy": ("id.jpg", big, "image/jpeg")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    (case,) = _cases(api)
    assert r.headers["location"] == f"/citizen/cases/{case.id}?applied=papers"
    assert "ينقصه مستند مطلوب" in api.client.get(r.headers["location"]).text
    with Session(engine_for(api.settings.database_url)) as session:
        assert session.exec(select(Document)).all() == []
