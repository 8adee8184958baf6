"""Case file export: one signed archive, checked without the database; a changed byte anywhere fails it."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from cli.main import main
from engine.audit import export, ledger, signing
from engine.core.settings import get_settings
from harness.api import Api
from storage.db import engine_for
from tests.support.audit import People, deploy, login, returned_and_resubmitted, sql
from tests.support.documents import PDF


def _scan(api: Api, case_id: int, who: dict[str, str], content: bytes = PDF) -> dict[str, object]:
    r = api.client.post(f"/api/cases/{case_id}/documents", data={"kind": "site_plan"},
                        files={"file": ("مخطط الموقع.pdf", content, "application/pdf")}, headers=who)
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
def exported(api: Api) -> tuple[Api, dict[str, object], bytes]:
    deploy(api)
    people = People(api)
    opened = api.open_case("audit_case", people.clerk).json()
    _scan(api, opened["id"], people.clerk)
    _scan(api, opened["id"], people.clerk, PDF + b"% a better scan\n")
    case = returned_and_resubmitted(api, people, opened=opened)
    with Session(engine_for(api.settings.database_url)) as session:
        ledger.seal(session=session, settings=api.settings)
    r = api.client.get(f"/api/cases/{case['id']}/export", headers=people.auditor)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == f'attachment; filename="case-{case["tracking_number"]}.zip"'
    return api, case, r.content


def _published(api: Api) -> str:
    r = api.client.get("/api/audit/public-key")
    assert r.status_code == 200
    assert r.json()["algorithm"] == "Ed25519"
    return str(r.json()["public_key"])


def test_export_holds_what_an_auditor_needs(exported: tuple[Api, dict[str, object], bytes]) -> None:
    api, case, data = exported
    checked = export.check(data, expected_key=_published(api))
    assert checked.problems == []
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names == ["manifest.json", "case.json", "state.json", "events.json", "process/v1/audit_case.bpmn",
                     "process/v1/correct.json", "process/v1/register.json", "process/v1/review.json",
                     "process/v1/service.toml", "documents/site_plan/v1-1-مخطط_الموقع.pdf",
                     "documents/site_plan/v2-2-مخطط_الموقع.pdf", "ledger.json"]
    manifest = checked.manifest
    assert manifest is not None
    assert manifest["case"] == {"id": case["id"], "tracking_number": case["tracking_number"],
                                "service_code": "audit_case"}
    assert manifest["exported_by"] == "auditor_mona"
    assert set(manifest["members"]) == set(names) - {"manifest.json"}
    scans = manifest["documents"]
    assert (scans["included"], scans["unreadable"]) == (True, [])
    assert [(f["kind"], f["version"], f["filename"], f["uploaded_by"]) for f in scans["files"]] == [
        ("site_plan", 1, "مخطط الموقع.pdf", "clerk_hoda"), ("site_plan", 2, "مخطط الموقع.pdf", "clerk_hoda")]
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.read(scans["files"][0]["member"]) == PDF
    events = json.loads(archive.read("events.json"))
    assert [e["kind"] for e in events] == ["case_opened", "document_uploaded", "document_uploaded",
                                           *["task_completed"] * 5, "case_completed"]
    assert json.loads(archive.read("case.json"))["audit_head"] == events[-1]["hash"]
    assert json.loads(archive.read("ledger.json"))["leaf"]["audit_seq"] == 9


def test_a_changed_byte_anywhere_fails_the_check(exported: tuple[Api, dict[str, object], bytes]) -> None:
    api, _case, data = exported
    key = _published(api)
    stride = max(1, len(data) // 400)  # every byte position passes too (about 6 s): a sample keeps the suite quick
    positions = sorted({*range(0, len(data), stride), *range(len(data) - 300, len(data))})
    for position in positions:
        changed = bytearray(data)
        changed[position] ^= 0x01
        assert not export.check(bytes(changed), expected_key=key).ok, f"byte {position} of {len(data)}"
    assert not export.check(data + b"\0", expected_key=key).ok
    assert not export.check(data[:-1], expected_key=key).ok
    assert not export.check(data[1:], expected_key=key).ok


def test_a_file_signed_with_another_key_fails_against_the_published_one(
        exported: tuple[Api, dict[str, object], bytes]) -> None:
    """Anyone can sign: rebuild the archive with a changed case and a key of one's own. Only the comparison with
    the installation's published key tells the forgery apart."""
    api, _case, data = exported
    archive = zipfile.ZipFile(io.BytesIO(data))
    files = {name: archive.read(name) for name in archive.namelist()}
    case = json.loads(files["case.json"])
    case["citizen_name"] = "someone else"
    files["case.json"] = json.dumps(case).encode()
    manifest = json.loads(files["manifest.json"])
    forger = signing.private_key(signing.new_seed())
    manifest["public_key"] = signing.public_hex(forger)
    manifest["members"]["case.json"] = {"sha256": hashlib.sha256(files["case.json"]).hexdigest(),
                                        "bytes": len(files["case.json"])}
    files["manifest.json"] = json.dumps(manifest).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, content in files.items():
            out.writestr(name, content)
        out.comment = b"\0" * export._COMMENT_BYTES
    body = buffer.getvalue()[:-export._COMMENT_BYTES]
    signature = signing.sign(forger, body)
    forged = body + b"shubbak-signature:v1:" + signing.public_hex(forger).encode() + b":" + signature.encode()
    without_key = export.check(forged)
    assert without_key.key_checked is False
    assert "ledger.json: the seal was signed with another key than the file" in without_key.problems
    with_key = export.check(forged, expected_key=_published(api))
    assert any("not with the installation's published key" in p for p in with_key.problems)


def test_a_changed_scan_in_the_store_is_named(exported: tuple[Api, dict[str, object], bytes]) -> None:
    """A scan changed in the document store after it was recorded: the case file does not hold, and says which."""
    api, case, _data = exported
    [stored] = [p for p in (api.settings.var_dir / "documents").rglob("*") if p.is_file() and p.read_bytes() == PDF]
    stored.write_bytes(PDF.replace(b"Catalog", b"Catalox"))
    data = api.client.get(f"/api/cases/{case['id']}/export", headers=login(api, "auditor_mona")).content
    problems = export.check(data, expected_key=_published(api)).problems
    assert len(problems) == 2
    assert problems[0].startswith("scan site_plan v1 could not be read back when exported: the stored file of "
                                  "document 1 does not match its recorded SHA-256")
    assert problems[1] == "the scan recorded by event 2 is not in the case file"


def test_an_admin_exports_without_the_scans(exported: tuple[Api, dict[str, object], bytes]) -> None:
    """Admins administer; they do not read citizens' papers (engine/cases/documents.py), so their case files say so."""
    api, case, _data = exported
    data = api.client.get(f"/api/cases/{case['id']}/export", headers=login(api, "admin_sami")).content
    checked = export.check(data, expected_key=_published(api))
    assert checked.problems == []
    assert checked.manifest is not None
    assert checked.manifest["documents"] == {"included": False, "reason": "admin_sami may not read this case's scans"}


def test_a_tampered_database_exports_a_file_that_says_so(api: Api) -> None:
    """The export signs what the database holds; the file's own checks still find data that is not the events'."""
    deploy(api)
    people = People(api)
    case = returned_and_resubmitted(api, people)
    sql(api, "UPDATE case_file SET data = :d WHERE id = :c", d='{"fee": 1.0}', c=case["id"])
    data = api.client.get(f"/api/cases/{case['id']}/export", headers=people.auditor).content
    assert export.check(data, expected_key=_published(api)).problems == [
        "case.json's data is not the data event 7 recorded"]
    assert json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))["documents"] == {
        "included": True, "files": [], "unreadable": []}
    assert "ledger.json" not in zipfile.ZipFile(io.BytesIO(data)).namelist()  # never sealed


@pytest.fixture
def no_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings pointing at a database that does not answer: a command that opened it would fail."""
    monkeypatch.setenv("SHUBBAK_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/nowhere")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_verify_export_needs_no_database(exported: tuple[Api, dict[str, object], bytes], tmp_path: Path,
                                            no_database: None, capsys: pytest.CaptureFixture[str]) -> None:
    api, case, data = exported
    key = _published(api)
    good = tmp_path / "case.zip"
    good.write_bytes(data)
    assert main(["audit", "verify-export", str(good), "--public-key", key]) == 0
    assert f"the case file holds: case {case['tracking_number']}, signed by key {key}" in capsys.readouterr().out
    assert main(["audit", "verify-export", str(good)]) == 0
    assert "the key was not compared with the installation's published key" in capsys.readouterr().out
    bad = tmp_path / "changed.zip"
    changed = bytearray(data)
    changed[len(data) // 2] ^= 0x20
    bad.write_bytes(bytes(changed))
    assert main(["audit", "verify-export", str(bad), "--public-key", key]) == 1
    out = capsys.readouterr().out
    assert "FAILED the signature does not match the file: it was changed after it was exported" in out
    assert out.rstrip().endswith("the case file does not hold")
