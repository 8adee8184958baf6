"""Scanned papers through the API: upload, list, download, versions and every refusal, on both stores.

Every test here runs twice: documents in a folder, and in MinIO (moto's S3 server on loopback). After each
refusal nothing may remain: no object in the store, no row, no event.
"""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from api.app import create_app
from engine.cases.documents import store_for
from harness.api import Api
from harness.server import serving
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.cases import Document
from tests.support.documents import JPEG, PDF, PNG, TIFF, multipart_uploads, stored_keys

CONTRACT = {"id", "kind", "filename", "content_type", "size", "sha256"}
BOUNDARY = "----shubbak-test-boundary"


@pytest.fixture
def case(doc_api: Api) -> dict[str, Any]:
    assert doc_api.deploy(TEST_PROCESSES / "papers", doc_api.user("analyst")).status_code == 201
    r = doc_api.open_case("papers", doc_api.user("front_desk"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def upload(api: Api, case_id: int, headers: dict[str, str], *, kind: str = "national_id_copy",
           filename: str = "id.pdf", content: bytes = PDF, content_type: str = "application/pdf") -> httpx.Response:
    return api.client.post(f"/api/cases/{case_id}/documents", data={"kind": kind},
                           files={"file": (filename, content, content_type)}, headers=headers)


def raw_form(*parts: tuple[str, str | None, bytes], end: bool = True) -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return body + (f"--{BOUNDARY}--\r\n".encode() if end else b"")


def post_raw(api: Api, case_id: int, body: bytes, headers: dict[str, str],
             content_type: str = f"multipart/form-data; boundary={BOUNDARY}") -> httpx.Response:
    return api.client.post(f"/api/cases/{case_id}/documents", content=body,
                           headers={**headers, "Content-Type": content_type})


def events(api: Api, case_id: int) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/cases/{case_id}/events", headers=api.user("auditor"))
    assert r.status_code == 200
    return list(r.json())


def assert_nothing_kept(api: Api, case_id: int) -> None:
    assert stored_keys(api.settings) == []
    assert multipart_uploads(api.settings) == []
    assert api.client.get(f"/api/cases/{case_id}/documents", headers=api.user("auditor")).json() == []
    assert "document_uploaded" not in [e["kind"] for e in events(api, case_id)]


@pytest.mark.parametrize("filename, content, content_type", [
    ("بطاقة الرقم القومي.pdf", PDF, "application/pdf"),
    ("photo.jpg", JPEG, "image/jpeg"),
    ("plan.png", PNG, "image/png"),
    ("survey.tiff", TIFF, "image/tiff"),
])
def test_upload_then_download_the_same_bytes(doc_api: Api, case: dict[str, Any], filename: str, content: bytes,
                                             content_type: str) -> None:
    clerk = doc_api.user("front_desk")
    r = upload(doc_api, case["id"], clerk, filename=filename, content=content, content_type=content_type)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert set(doc) >= CONTRACT
    assert (doc["kind"], doc["filename"], doc["content_type"], doc["size"], doc["version"]) == (
        "national_id_copy", filename, content_type, len(content), 1)
    r = doc_api.client.get(f"/api/documents/{doc['id']}/content", headers=doc_api.user("reviewer"))
    assert r.status_code == 200
    assert r.content == content
    assert r.headers["content-type"] == content_type
    assert r.headers["x-content-sha256"] == doc["sha256"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert httpx.Headers(r.headers).get("content-disposition", "").endswith(
        "UTF-8''" + httpx.URL("/" + filename).raw_path.decode()[1:])
    import hashlib

    assert hashlib.sha256(content).hexdigest() == doc["sha256"]


def test_the_type_is_the_contents_even_when_the_client_says_nothing(doc_api: Api, case: dict[str, Any]) -> None:
    r = upload(doc_api, case["id"], doc_api.user("front_desk"), filename="scan", content=PNG,
               content_type="application/octet-stream")
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "image/png"


def test_kind_may_come_after_the_file(doc_api: Api, case: dict[str, Any]) -> None:
    body = raw_form(("file", "id.pdf", PDF), ("kind", None, b"national_id_copy"))
    r = post_raw(doc_api, case["id"], body, doc_api.user("front_desk"))
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "national_id_copy"


def test_a_new_scan_of_a_kind_is_a_new_version_and_the_old_one_stays(doc_api: Api, case: dict[str, Any]) -> None:
    clerk = doc_api.user("front_desk")
    first = upload(doc_api, case["id"], clerk, filename="id-blurred.pdf").json()
    second = upload(doc_api, case["id"], clerk, filename="id.png", content=PNG, content_type="image/png").json()
    other = upload(doc_api, case["id"], clerk, kind="site_plan", filename="plan.pdf").json()
    assert (first["version"], second["version"], other["version"]) == (1, 2, 1)
    listed = doc_api.client.get(f"/api/cases/{case['id']}/documents", headers=clerk).json()
    assert [(d["kind"], d["version"], d["filename"]) for d in listed] == [
        ("national_id_copy", 1, "id-blurred.pdf"), ("national_id_copy", 2, "id.png"), ("site_plan", 1, "plan.pdf")]
    assert doc_api.client.get(f"/api/documents/{first['id']}/content", headers=clerk).content == PDF
    assert doc_api.client.get(f"/api/documents/{second['id']}/content", headers=clerk).content == PNG
    uploaded = [e for e in events(doc_api, case["id"]) if e["kind"] == "document_uploaded"]
    assert [(e["data"]["document_id"], e["data"]["version"], e["data"]["sha256"]) for e in uploaded] == [
        (d["id"], d["version"], d["sha256"]) for d in (first, second, other)]
    assert {e["actor"] for e in uploaded} == {listed[0]["uploaded_by"]}


def test_file_names_are_sanitised(doc_api: Api, case: dict[str, Any]) -> None:
    body = raw_form(("kind", None, b"national_id_copy"), ("file", "../../etc/عقد\x07 الملكية.pdf", PDF))
    r = post_raw(doc_api, case["id"], body, doc_api.user("front_desk"))
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == "عقد الملكية.pdf"


def test_verify_true_serves_a_file_that_matches(doc_api: Api, case: dict[str, Any]) -> None:
    doc = upload(doc_api, case["id"], doc_api.user("front_desk")).json()
    r = doc_api.client.get(f"/api/documents/{doc['id']}/content", params={"verify": "true"},
                           headers=doc_api.user("reviewer"))
    assert r.status_code == 200
    assert r.content == PDF


def _tamper(api: Api, document_id: int, content: bytes | None) -> None:
    """Change (or remove) the stored file behind the database's back, as a disk fault or an intruder would."""
    with Session(engine_for(api.settings.database_url)) as session:
        key = session.exec(select(Document.storage_key).where(Document.id == document_id)).one()
    store = store_for(api.settings)
    store.delete(key)
    if content is not None:
        store.put(key, io.BytesIO(content), content_type="application/pdf")


def test_verify_true_reports_a_changed_file_and_sends_none_of_it(doc_api: Api, case: dict[str, Any]) -> None:
    doc = upload(doc_api, case["id"], doc_api.user("front_desk")).json()
    _tamper(doc_api, doc["id"], PDF.replace(b"Catalog", b"Katalog"))  # same size, other bytes
    r = doc_api.client.get(f"/api/documents/{doc['id']}/content", params={"verify": "true"},
                           headers=doc_api.user("reviewer"))
    assert r.status_code == 500
    assert "does not match its recorded SHA-256" in r.json()["detail"]


def test_a_missing_stored_file_is_reported(doc_api: Api, case: dict[str, Any]) -> None:
    doc = upload(doc_api, case["id"], doc_api.user("front_desk")).json()
    _tamper(doc_api, doc["id"], None)
    r = doc_api.client.get(f"/api/documents/{doc['id']}/content", headers=doc_api.user("reviewer"))
    assert r.status_code == 500
    assert "is missing" in r.json()["detail"]


def test_without_verify_a_changed_file_is_cut_off_not_served(doc_api: Api, case: dict[str, Any]) -> None:
    doc = upload(doc_api, case["id"], doc_api.user("front_desk")).json()
    _tamper(doc_api, doc["id"], PDF.replace(b"Catalog", b"Katalog"))
    with serving(create_app(doc_api.settings)) as base, pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{base}/api/documents/{doc['id']}/content", headers=doc_api.user("reviewer"), timeout=10)


# ---- who may do what -----------------------------------------------------------------------------------------

def test_reading_needs_a_lane_of_the_case_or_a_reading_role(doc_api: Api, case: dict[str, Any]) -> None:
    doc = upload(doc_api, case["id"], doc_api.user("front_desk")).json()
    for roles, status in [(("reviewer",), 200), (("auditor",), 200), (("supervisor",), 200),
                          (("front_desk",), 200), (("engineering",), 403), (("admin",), 403), ((), 403)]:
        headers = doc_api.user(*roles)
        listed = doc_api.client.get(f"/api/cases/{case['id']}/documents", headers=headers)
        content = doc_api.client.get(f"/api/documents/{doc['id']}/content", headers=headers)
        assert (roles, listed.status_code, content.status_code) == (roles, status, status)


def test_uploading_needs_a_lane_of_the_case(doc_api: Api, case: dict[str, Any]) -> None:
    for roles in [("auditor",), ("supervisor",), ("admin",), ("engineering",)]:
        r = upload(doc_api, case["id"], doc_api.user(*roles))
        assert (roles, r.status_code) == (roles, 403)
    assert upload(doc_api, case["id"], doc_api.user("reviewer")).status_code == 201


def test_signing_in_is_required(doc_api: Api, case: dict[str, Any]) -> None:
    doc = upload(doc_api, case["id"], doc_api.user("front_desk")).json()
    assert upload(doc_api, case["id"], {}).status_code == 401
    assert doc_api.client.get(f"/api/cases/{case['id']}/documents").status_code == 401
    assert doc_api.client.get(f"/api/documents/{doc['id']}/content").status_code == 401


def test_unknown_case_and_document_are_404(doc_api: Api, case: dict[str, Any]) -> None:
    clerk = doc_api.user("front_desk")
    assert upload(doc_api, 9999, clerk).status_code == 404
    assert doc_api.client.get("/api/cases/9999/documents", headers=clerk).status_code == 404
    assert doc_api.client.get("/api/documents/9999/content", headers=clerk).status_code == 404


def test_no_papers_are_added_to_a_closed_case(doc_api: Api, case: dict[str, Any]) -> None:
    r = doc_api.client.post(f"/api/cases/{case['id']}/cancel", json={"reason": "citizen withdrew"},
                            headers=doc_api.user("supervisor"))
    assert r.status_code == 200
    r = upload(doc_api, case["id"], doc_api.user("front_desk"))
    assert r.status_code == 409
    assert "cancelled" in r.json()["detail"]
    assert_nothing_kept(doc_api, case["id"])


# ---- refusals of the file itself: a clear 4xx, and nothing kept ----------------------------------------------

@pytest.mark.parametrize("filename, content, content_type, words", [
    ("empty.pdf", b"", "application/pdf", "the file has no content"),
    ("archive.pdf", b"PK\x03\x04" + bytes(100), "application/pdf", "a ZIP archive"),
    ("page.pdf", b"<html><script>alert(1)</script></html>", "application/pdf", "text (HTML, XML or JSON)"),
    ("setup.exe", b"MZ\x90\x00" + bytes(100), "application/octet-stream", "a program"),
    ("anim.gif", b"GIF89a" + bytes(100), "image/gif", "a GIF file; accepted: PDF, JPEG, PNG, TIFF"),
    ("plan.pdf", PNG, "image/png", "named as PDF (.pdf), but its content is PNG"),
    ("plan.png", PNG, "application/pdf", "sent as application/pdf, but its content is PNG"),
])
def test_files_that_are_not_accepted_are_422(doc_api: Api, case: dict[str, Any], filename: str, content: bytes,
                                             content_type: str, words: str) -> None:
    r = upload(doc_api, case["id"], doc_api.user("front_desk"), filename=filename, content=content,
               content_type=content_type)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"][0]["msg"]
    assert_nothing_kept(doc_api, case["id"])


def test_the_accepted_types_are_a_setting(doc_api: Api, case: dict[str, Any]) -> None:
    doc_api.client.app.state.settings = doc_api.settings.model_copy(update={"document_types": ["application/pdf"]})
    r = upload(doc_api, case["id"], doc_api.user("front_desk"), filename="plan.png", content=PNG,
               content_type="image/png")
    assert r.status_code == 422
    assert "accepted: PDF" in r.json()["detail"][0]["msg"]
    assert upload(doc_api, case["id"], doc_api.user("front_desk")).status_code == 201


@pytest.mark.parametrize("body, words", [
    (raw_form(("kind", None, b"national_id_copy")), "file"),
    (raw_form(("file", "id.pdf", PDF)), "kind"),
    (raw_form(("kind", None, b"deed_of_sale"), ("file", "id.pdf", PDF)), "one of: national_id_copy, site_plan"),
    (raw_form(("file", "id.pdf", PDF), ("kind", None, b"deed_of_sale")), "one of: national_id_copy, site_plan"),
    (raw_form(("kind", None, b"national_id_copy"), ("file", "a.pdf", PDF), ("file", "b.pdf", PDF)), "one 'file'"),
    (raw_form(("kind", None, b"national_id_copy"), ("note", None, b"hello"), ("file", "a.pdf", PDF)), "one 'kind'"),
    (raw_form(("kind", None, b"x" * 500), ("file", "a.pdf", PDF)), "at most 200 bytes"),
    (raw_form(("kind", None, b"national_id_copy"), ("file", "id.pdf", PDF + bytes(5000)), end=False), "cut off"),
    (raw_form(("kind", None, b"national_id_copy"), ("file", "id.pdf", PDF))[:-60], "cut off"),
    (b"this is not a form", "not well formed"),
    (b"", "cut off"),
])
def test_forms_that_are_wrong_or_cut_off_are_422(doc_api: Api, case: dict[str, Any], body: bytes,
                                                  words: str) -> None:
    r = post_raw(doc_api, case["id"], body, doc_api.user("front_desk"))
    assert r.status_code == 422, r.text
    assert words in str(r.json())
    assert_nothing_kept(doc_api, case["id"])


def test_a_body_that_is_not_multipart_is_422(doc_api: Api, case: dict[str, Any]) -> None:
    r = post_raw(doc_api, case["id"], b'{"kind": "national_id_copy"}', doc_api.user("front_desk"),
                 content_type="application/json")
    assert r.status_code == 422
    assert "multipart/form-data" in r.json()["message"]


def test_a_file_over_the_limit_is_413_while_streaming(doc_api: Api, case: dict[str, Any]) -> None:
    # The whole form fits the request limit (the file limit plus the form's framing), the file does not.
    doc_api.client.app.state.settings = doc_api.settings.model_copy(update={"max_document_bytes": 4096})
    r = upload(doc_api, case["id"], doc_api.user("front_desk"), content=PDF + bytes(5000))
    assert r.status_code == 413
    assert "over the limit of 4096 bytes" in r.json()["detail"]
    assert_nothing_kept(doc_api, case["id"])


def test_a_request_declaring_more_than_the_limit_is_413_before_reading(doc_api: Api, case: dict[str, Any]) -> None:
    limit = doc_api.settings.max_document_bytes + doc_api.settings.max_document_form_bytes
    r = doc_api.client.post(f"/api/cases/{case['id']}/documents", content=b"x" * 10,
                            headers={**doc_api.user("front_desk"), "Content-Length": str(limit + 1),
                                     "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert r.status_code == 413
    assert_nothing_kept(doc_api, case["id"])


def test_a_file_exactly_at_the_limit_is_accepted(doc_api: Api, case: dict[str, Any]) -> None:
    doc_api.client.app.state.settings = doc_api.settings.model_copy(update={"max_document_bytes": 4096})
    r = upload(doc_api, case["id"], doc_api.user("front_desk"), content=PDF + bytes(4096 - len(PDF)))
    assert r.status_code == 201, r.text
    assert r.json()["size"] == 4096


def test_a_retried_upload_gets_its_first_answer_though_the_client_draws_a_new_boundary(
        doc_api: Api, case: dict[str, Any]) -> None:
    """Clients draw a new multipart boundary for every send: the same upload with the same Idempotency-Key is the
    same request (one document, the first answer again); another file under that key is refused, writing nothing."""
    headers = {**doc_api.user("front_desk"), "Idempotency-Key": "scan-1"}
    first = upload(doc_api, case["id"], headers)
    again = upload(doc_api, case["id"], headers)
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    other = upload(doc_api, case["id"], headers, content=PDF + b"%another scan")
    assert other.status_code == 422 and other.json()["message_id"] == "idempotency.key_reused"
    renamed = upload(doc_api, case["id"], headers, filename="other-name.pdf")
    assert renamed.status_code == 422
    with Session(engine_for(doc_api.settings.database_url)) as session:
        assert len(session.exec(select(Document).where(Document.case_id == case["id"])).all()) == 1
