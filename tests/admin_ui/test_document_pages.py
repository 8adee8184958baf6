"""Scans on the pages: attached at the window, refused when they are no scan, required before intake is
done, attached later on the task, opened in the viewer, waived by a supervisor."""

from __future__ import annotations

import re

import httpx
from sqlmodel import Session

from engine.cases.lifecycle import cancel_case
from harness.pages import DEPLOYER, Pages
from harness.scans import pdf
from storage.db import engine_for
from tests.admin_ui.test_desk_pages import CITIZEN_FORM, PERMIT

REQUIRED = ["national_id_copy", "ownership_deed", "site_survey", "architectural_drawings", "structural_drawings",
            "soil_investigation_report", "engineer_supervision_commitment"]


def _scans(kinds: list[str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(f"scan.{kind}", (f"{kind}.pdf", pdf(kind), "application/pdf")) for kind in kinds]


def _register(pages: Pages, kinds: list[str]) -> httpx.Response:
    return pages.client.post("/desk/building_permit", data={"csrf_token": pages.token("/desk"), **CITIZEN_FORM,
                                                             **PERMIT, "action": "register"}, files=_scans(kinds))


def test_scans_at_the_window_are_received_on_the_receipt(pages: Pages) -> None:
    pages.as_user("front_desk")
    r = _register(pages, REQUIRED)
    assert r.status_code == 303 and r.headers["location"].endswith("/receipt")
    receipt = pages.client.get(r.headers["location"]).text
    papers = re.search(r'<ul class="checklist" id="papers">(.*?)</ul>', receipt, re.S)
    assert papers is not None
    assert papers.group(1).count("<strong>مستلم</strong>") == 7
    assert "وثيقة تأمين المسئولية المدنية (عند الاقتضاء) — غير مستلم" in papers.group(1)


def test_a_file_that_is_no_scan_is_refused_next_to_its_field(pages: Pages) -> None:
    pages.as_user("front_desk")
    files = [*_scans(REQUIRED[1:]), ("scan.national_id_copy", ("id.pdf", b"MZ\x90\x00 a program", "application/pdf"))]
    r = pages.client.post("/desk/building_permit", data={"csrf_token": pages.token("/desk"), **CITIZEN_FORM,
                                                          **PERMIT, "action": "register"}, files=files)
    assert r.status_code == 422
    assert ('<p class="error" id="scan-national_id_copy-error">تُقبل الصور الممسوحة بصيغ PDF أو JPEG أو PNG أو '
            "TIFF فقط.</p>") in r.text
    assert 'href="/cases/' not in pages.client.get("/cases").text  # nothing was opened


def test_missing_papers_keep_the_intake_open_until_they_are_scanned(pages: Pages) -> None:
    pages.as_user("front_desk")
    r = _register(pages, REQUIRED[:5])
    assert r.status_code == 303 and r.headers["location"].startswith("/tasks/")
    task_page = pages.client.get(r.headers["location"]).text
    assert "لكن تسجيله لم يكتمل" in task_page
    assert "تقرير جسات واختبار التربة: غير مرفق" in task_page  # the engine's words, in Arabic
    assert 'action="/cases/' in task_page and 'name="scan.soil_investigation_report"' in task_page
    case_id = re.search(r'action="/cases/(\d+)/documents"', task_page)
    assert case_id is not None
    attached = pages.client.post(f"/cases/{case_id.group(1)}/documents", files=_scans(REQUIRED[5:]), data={
        "csrf_token": pages.token(r.headers["location"]), "next": r.headers["location"]})
    assert attached.status_code == 303 and attached.headers["location"] == r.headers["location"]
    again = pages.client.get(r.headers["location"]).text
    assert "تم إرفاق الملفات: 2" in again and again.count("<strong>مستلم</strong>") == 7
    done = pages.post(r.headers["location"], {k: v for k, v in PERMIT.items()}, token_from=r.headers["location"])
    assert done.status_code == 303 and done.headers["location"] == "/inbox"
    assert "تم: «تسجيل الطلب» للطلب" in pages.client.get("/inbox").text


def test_a_supervisor_waives_a_missing_paper_on_the_case_page(pages: Pages) -> None:
    pages.as_user("front_desk")
    r = _register(pages, REQUIRED[1:])
    case_id = re.search(r'action="/cases/(\d+)/documents"', pages.client.get(r.headers["location"]).text)
    assert case_id is not None
    pages.as_user("supervisor")
    page = pages.client.get(f"/cases/{case_id.group(1)}").text
    assert 'action="/cases/' + case_id.group(1) + '/waivers"' in page and 'value="national_id_copy"' in page
    empty = pages.post(f"/cases/{case_id.group(1)}/waivers", {"kind": "national_id_copy", "reason": " "},
                       token_from="/cases")
    assert empty.status_code == 422
    waived = pages.post(f"/cases/{case_id.group(1)}/waivers", {"kind": "national_id_copy",
                                                                "reason": "البطاقة مع المواطن للتجديد"},
                        token_from="/cases")
    assert waived.status_code == 303
    page = pages.client.get(f"/cases/{case_id.group(1)}").text
    assert "تم الإعفاء من المستند" in page and "أعفى منه المشرف" in page
    assert "البطاقة مع المواطن للتجديد" in page  # the reason, in the timeline
    assert "/waivers" not in page  # nothing left to waive


def test_the_viewer_serves_scans_to_the_cases_lanes_only(pages: Pages) -> None:
    pages.as_user("front_desk")
    r = _register(pages, REQUIRED)
    number = re.search(r'id="tracking-number" dir="ltr">([\d-]+)<', pages.client.get(r.headers["location"]).text)
    assert number is not None
    pages.as_user("engineering")
    inbox = pages.client.get("/inbox").text
    task = re.search(r'href="(/tasks/[\w-]+)" class="num">' + number.group(1), inbox)
    assert task is not None
    page = pages.client.get(task.group(1)).text
    first = re.search(r'<iframe name="doc-viewer" src="(/documents/\d+)"', page)
    assert first is not None
    scan = pages.client.get(first.group(1))
    assert scan.status_code == 200 and scan.headers["content-type"] == "application/pdf"
    assert scan.headers["content-disposition"].startswith("inline;") and scan.content == pdf("national_id_copy")
    pages.as_user("civil_registry")
    assert pages.client.get(first.group(1)).status_code == 403
    pages.sign_out()
    assert pages.client.get(first.group(1)).status_code == 303  # to the sign-in page


def test_a_scan_refused_on_a_case_page_is_said_in_the_readers_language(pages: Pages) -> None:
    # A scan sent to a case that ended meanwhile: the flash says why in Arabic, not in the engine's English.
    pages.as_user("front_desk")
    r = _register(pages, REQUIRED[:5])
    task = r.headers["location"]
    found = re.search(r'action="/cases/(\d+)/documents"', pages.client.get(task).text)
    assert found is not None
    case_id = int(found.group(1))
    with Session(engine_for(pages.settings.database_url)) as session:
        cancel_case(session=session, case_id=case_id, reason="طلب مكرر", actor=DEPLOYER, settings=pages.settings)
    attached = pages.client.post(f"/cases/{case_id}/documents", files=_scans(REQUIRED[5:6]), data={
        "csrf_token": pages.token("/cases"), "next": f"/cases/{case_id}"})
    assert attached.status_code == 303
    said = " ".join(re.findall(r'<p class="flash error"[^>]*>(.*?)</p>', pages.client.get(f"/cases/{case_id}").text,
                               re.S))
    assert "لا يمكن إضافة مستندات إليه" in said and "cannot" not in said, said
