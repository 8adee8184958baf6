"""A citizen applies online for a service marked ``online`` (engine/citizen/apply.py), tried from the side of
someone breaking it: a service not online, another citizen's application, a staff token, papers after
registration or to a counter case, a wrong file, an unknown center, Arabic digits, the desk's verification."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from engine.citizen import signin
from engine.people import centers
from engine.reports.projector import catch_up
from engine.reports.rebuild import rebuild
from harness.api import CITIZEN, Api
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.cases import Case
from tests.services.paths import service_paths
from tests.support.citizen_apply import applying
from tests.support.documents import JPEG, PDF

OTHER_PHONE = "+201112223334"
ME = {"full_name": CITIZEN["full_name"], "national_id": CITIZEN["national_id"]}


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(database_url, tmp_path, max_document_bytes=4096)
    with applying(settings) as api:
        yield api


def _me(api: Api, phone: str = CITIZEN["phone"]) -> dict[str, str]:
    return {"Authorization": f"Bearer {signin.issue_token(phone, api.settings)}"}


def _intake_data(service: str) -> dict[str, Any]:
    path = service_paths(service)[0]
    return dict(path.steps[0].data)


def _apply(api: Api, service: str, headers: dict[str, str], **changes: Any) -> Any:
    body = {"service_code": service, "center": "CITY-A", "citizen": ME, "data": _intake_data(service), **changes}
    return api.client.post("/api/citizen/applications", json=body, headers=headers)


def _paper(api: Api, case_id: int, headers: dict[str, str], content: bytes = PDF, name: str = "id.pdf",
           mime: str = "application/pdf") -> Any:
    return api.client.post(f"/api/citizen/cases/{case_id}/papers", data={"kind": "national_id_copy"},
                           files={"file": (name, content, mime)}, headers=headers)


def _case(api: Api, case_id: int) -> Case:
    with Session(engine_for(api.settings.database_url)) as session:
        found = session.get(Case, case_id)
        assert found is not None
        return found


def test_the_form_comes_from_the_services_own_schema_with_its_papers_and_fee(world: Api) -> None:
    api = world
    r = api.client.get("/api/citizen/services/birth_certificate", headers=_me(api))
    assert r.status_code == 200, r.text
    form = r.json()
    assert form["verify_originals"] is True and form["fee"] == {"currency": "EGP", "amount": 25.0,
                                                               "decided_by_table": False}
    assert "person_full_name" in form["form"]["properties"]
    assert [p["kind"] for p in form["papers"] if p["required"]] == ["national_id_copy"]


def test_a_service_not_online_is_refused_in_both_languages(world: Api) -> None:
    api = world
    r = api.client.get("/api/citizen/services/building_permit", headers=_me(api))
    assert r.status_code == 403 and r.json()["message_id"] == "citizen.service_not_online"
    assert r.json()["message_ar"] != r.json()["message"]
    applied = _apply(api, "building_permit", _me(api), data={})
    assert applied.status_code == 403 and applied.json()["message_id"] == "citizen.service_not_online"
    assert api.client.get("/api/citizen/services/no_such", headers=_me(api)).status_code == 404


def test_an_inquiry_is_applied_for_given_its_paper_and_registered_by_the_citizen(world: Api) -> None:
    api = world
    me = _me(api)
    r = _apply(api, "inquiry_suggestion", me)
    assert r.status_code == 201, r.text
    applied = r.json()
    case_id = applied["case"]["id"]
    assert applied["verify_originals"] is False and applied["fee"] == {"amount": 0.0, "currency": "EGP"}
    row = _case(api, case_id)
    assert (row.channel, row.phone, row.created_by) == ("citizen_portal", CITIZEN["phone"], "citizen")
    events = api.client.get(f"/api/cases/{case_id}/events", headers=api.user("auditor")).json()
    assert events[0]["kind"] == "case_opened" and events[0]["data"]["channel"] == "citizen_portal"
    # Registering without the paper the service requires is refused, as at the desk.
    early = api.client.post(f"/api/citizen/cases/{case_id}/submit", headers=me)
    assert early.status_code == 422 and [d["kind"] for d in early.json()["detail"]] == ["national_id_copy"]
    assert _paper(api, case_id, me, JPEG, "id.jpg", "image/jpeg").status_code == 201
    done = api.client.post(f"/api/citizen/cases/{case_id}/submit", headers=me)
    assert done.status_code == 200, done.text
    staff = api.client.get(f"/api/cases/{case_id}", headers=api.user("auditor")).json()
    assert [t["lane"] for t in staff["tasks"]] != ["front_desk"]  # on to the department
    # After registration the application takes no more papers and is not registered twice.
    assert _paper(api, case_id, me).json()["message_id"] == "citizen.application_registered"
    assert api.client.post(f"/api/citizen/cases/{case_id}/submit", headers=me).status_code == 409


def test_a_certificate_waits_for_the_desk_to_check_the_originals_first(world: Api) -> None:
    api = world
    me = _me(api)
    r = _apply(api, "birth_certificate", me)
    assert r.status_code == 201, r.text
    # The fee the diagram works out for this data (25 a copy), shown before anything is paid.
    assert r.json()["verify_originals"] is True
    assert r.json()["fee"]["amount"] == 25.0 * _intake_data("birth_certificate")["copies_count"] > 25.0
    case_id = r.json()["case"]["id"]
    assert _paper(api, case_id, me).status_code == 201
    refused = api.client.post(f"/api/citizen/cases/{case_id}/submit", headers=me)
    assert refused.status_code == 409 and refused.json()["message_id"] == "citizen.desk_verifies_first"
    staff = api.client.get(f"/api/cases/{case_id}", headers=api.user("auditor")).json()
    assert [(t["name"], t["lane"]) for t in staff["tasks"]] == [("register_request", "front_desk")]
    assert staff["channel"] == "citizen_portal"  # the clerk sees how it came in
    center_id = _case(api, case_id).center_id
    assert center_id is not None
    # The clerk of the center chosen sees it first in the inbox and registers it at the visit; another
    # center's clerk does not see it.
    clerk = api.user("front_desk", center_id=center_id)
    inbox = api.client.get("/api/tasks", headers=clerk).json()
    assert staff["tasks"][0]["id"] in [t["id"] for t in inbox]
    with Session(engine_for(api.settings.database_url)) as session:
        other = centers.by_code(session, "CITY-B").id
    elsewhere = api.client.get("/api/tasks", headers=api.user("front_desk", center_id=other)).json()
    assert staff["tasks"][0]["id"] not in [t["id"] for t in elsewhere]
    r = api.complete(staff["tasks"][0]["id"], _intake_data("birth_certificate"), clerk)
    assert r.status_code == 200, r.text


def test_another_citizen_and_a_staff_token_get_nothing(world: Api) -> None:
    api = world
    case_id = _apply(api, "inquiry_suggestion", _me(api)).json()["case"]["id"]
    theirs = _me(api, OTHER_PHONE)
    assert _paper(api, case_id, theirs).status_code == 404
    assert api.client.post(f"/api/citizen/cases/{case_id}/submit", headers=theirs).status_code == 404
    staff = api.user("front_desk")
    assert _apply(api, "inquiry_suggestion", staff).status_code == 401
    assert _paper(api, case_id, staff).status_code == 401
    assert api.client.get("/api/citizen/services/inquiry_suggestion", headers=staff).status_code == 401
    # A citizen token opens no staff route to open a case.
    assert api.open_case("inquiry_suggestion", _me(api)).status_code == 401


def test_a_counter_case_takes_no_papers_from_the_phone(world: Api) -> None:
    api = world
    case = api.open_case("inquiry_suggestion", api.user("front_desk")).json()
    r = _paper(api, case["id"], _me(api))
    assert r.status_code == 403 and r.json()["message_id"] == "citizen.not_an_online_application"
    assert _case(api, case["id"]).channel == "counter"


@pytest.mark.parametrize(("content", "status"), [(b"<html></html>", 422), (PDF + b"%" + b"x" * 5000, 413)])
def test_a_wrong_or_large_paper_is_refused(world: Api, content: bytes, status: int) -> None:
    api = world
    case_id = _apply(api, "inquiry_suggestion", _me(api)).json()["case"]["id"]
    assert _paper(api, case_id, _me(api), content).status_code == status


def test_the_form_center_and_details_are_checked(world: Api) -> None:
    api = world
    me = _me(api)
    bad_center = _apply(api, "inquiry_suggestion", me, center="NOWHERE")
    assert bad_center.status_code == 422 and bad_center.json()["message_id"] == "citizen.center_unknown"
    bad_form = _apply(api, "inquiry_suggestion", me, data={**_intake_data("inquiry_suggestion"), "kind": "x"})
    assert bad_form.status_code == 422 and bad_form.json()["message_id"] == "form.has_errors"
    foreign = _apply(api, "inquiry_suggestion", me, data={**_intake_data("inquiry_suggestion"), "fee": 0})
    assert foreign.status_code == 422
    arabic = {**ME, "national_id": CITIZEN["national_id"].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))}
    ok = _apply(api, "inquiry_suggestion", me, citizen=arabic)
    assert ok.status_code == 201, ok.text
    assert _case(api, ok.json()["case"]["id"]).national_id == CITIZEN["national_id"]
    with Session(engine_for(api.settings.database_url)) as session:
        assert len(session.exec(select(Case).where(Case.channel == "citizen_portal")).all()) == 1  # refused: none


def test_channel_is_a_report_dimension_kept_the_same_by_a_rebuild(world: Api) -> None:
    api = world
    assert _apply(api, "inquiry_suggestion", _me(api)).status_code == 201
    assert _apply(api, "birth_certificate", _me(api)).status_code == 201
    assert api.open_case("inquiry_suggestion", api.user("front_desk")).status_code == 201
    supervisor = api.user("supervisor")
    catch_up(api.settings)  # the aggregates are built from the events after commit

    def by_channel() -> dict[str, tuple[int, dict[str, int]]]:
        r = api.client.get("/api/reports/channels", headers=supervisor)
        assert r.status_code == 200, r.text
        return {row["channel"]: (row["opened"], row["services"]) for row in r.json()}

    counted = by_channel()
    assert counted == {"counter": (1, {"inquiry_suggestion": 1}),
                       "citizen_portal": (2, {"birth_certificate": 1, "inquiry_suggestion": 1})}
    one_service = api.client.get("/api/reports/channels", params={"service_code": "birth_certificate"},
                                 headers=supervisor).json()
    assert [(r["channel"], r["opened"], r["share"]) for r in one_service] == [
        ("counter", 0, 0.0), ("citizen_portal", 1, 1.0)]
    # A citizen's token reads no report.
    assert api.client.get("/api/reports/channels", headers=_me(api)).status_code == 401
    with engine_for(api.settings.database_url).begin() as conn:
        rebuild(conn)
    assert by_channel() == counted


def test_a_retried_application_opens_one_case(world: Api) -> None:
    api = world
    keyed = {**_me(api), "Idempotency-Key": "apply-1"}
    first = _apply(api, "inquiry_suggestion", keyed)
    assert first.status_code == 201, first.text
    again = _apply(api, "inquiry_suggestion", keyed)
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    with Session(engine_for(api.settings.database_url)) as session:
        assert len(session.exec(select(Case)).all()) == 1
    # The same key from another phone is that phone's own: it opens that citizen's case.
    theirs = _apply(api, "inquiry_suggestion", {**_me(api, OTHER_PHONE), "Idempotency-Key": "apply-1"})
    assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers
    assert theirs.json()["case"]["id"] != first.json()["case"]["id"]


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("GET", "/api/citizen/services/%00", {}),
    ("GET", "/api/citizen/services/" + "x" * 300, {}),
    ("POST", "/api/citizen/applications", {"json": {"service_code": "inquiry_suggestion", "center": "CITY-A",
                                                    "citizen": ME, "data": {"subject": {"$gt": 1}}}}),
    ("POST", "/api/citizen/applications", {"json": {"service_code": "inquiry_suggestion", "center": "\u0000",
                                                    "citizen": {"full_name": "", "national_id": "abc"}, "data": {}}}),
    ("POST", "/api/citizen/applications", {"json": {"service_code": "inquiry_suggestion", "center": "CITY-A",
                                                    "citizen": ME, "data": {"citizen": {"phone": "+1"}}}}),
    ("POST", "/api/citizen/applications", {"content": b"not json", "headers": {"Content-Type": "application/json"}}),
    ("POST", "/api/citizen/cases/99999999999/papers", {"content": b"x", "headers": {"Content-Type": "text/plain"}}),
    ("POST", "/api/citizen/cases/1/papers", {"content": b"--b\r\nbroken", "headers": {
        "Content-Type": "multipart/form-data; boundary=b"}}),
    ("POST", "/api/citizen/cases/1/submit", {}),
    ("POST", "/api/citizen/tasks/" + "%FF" * 40 + "/answer", {"data": {"kind": "x"}}),
    ("POST", "/api/citizen/tasks/x/answer", {"content": b"{}", "headers": {"Content-Type": "application/json"}}),
])
def test_broken_input_is_refused_never_a_server_error(world: Api, method: str, path: str,
                                                      kwargs: dict[str, Any]) -> None:
    api = world
    _apply(api, "inquiry_suggestion", _me(api))  # case 1 exists and is the citizen's
    headers = {**_me(api), **kwargs.pop("headers", {})}
    r = api.client.request(method, path, headers=headers, **kwargs)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)


def test_a_session_narrowed_to_a_national_id_applies_and_adds_papers_only_under_it(world: Api) -> None:
    """A shared family phone: the relative's online application (same phone, another ID) takes no paper and no
    submit from a session narrowed to one's own ID, and one cannot apply under the relative's ID from it."""
    api = world
    phone_only = _me(api)
    relative = {"full_name": "أحمد محمود علي", "national_id": "29505051234561"}
    theirs = _apply(api, "inquiry_suggestion", phone_only, citizen=relative)
    assert theirs.status_code == 201, theirs.text
    their_id = theirs.json()["case"]["id"]
    narrowed = api.client.put("/api/citizen/national-id", json={"national_id": ME["national_id"]}, headers=phone_only)
    assert narrowed.status_code == 200, narrowed.text
    mine = {"Authorization": f"Bearer {narrowed.json()['access_token']}"}
    assert _paper(api, their_id, mine).status_code == 404
    assert api.client.post(f"/api/citizen/cases/{their_id}/submit", headers=mine).status_code == 404
    refused = _apply(api, "inquiry_suggestion", mine, citizen=relative)
    assert refused.status_code == 422 and "msg_ar" in refused.text, refused.text
    ok = _apply(api, "inquiry_suggestion", mine)
    assert ok.status_code == 201, ok.text
    assert _paper(api, ok.json()["case"]["id"], mine).status_code == 201
    assert _paper(api, their_id, phone_only).status_code == 201  # the phone-only token still reaches it
