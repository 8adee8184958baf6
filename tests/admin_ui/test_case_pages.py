"""The case page: status, citizen, data, the timeline in plain words, and the diagram with its marks."""

from __future__ import annotations

import re

from harness.pages import Pages
from tests.admin_ui.test_desk_pages import PERMIT, register
from tests.admin_ui.test_inbox_pages import _open_review


def _case_id(pages: Pages, number: str) -> str:
    found = re.search(r'href="/cases/(\d+)" class="num">' + number, pages.client.get("/cases", params={
        "q": number}).text)
    assert found is not None
    return found.group(1)


def test_case_page_tells_the_story_in_plain_words(pages: Pages) -> None:
    number = _open_review(pages)
    pages.as_user("reviewer", full_name="هالة المراجِعة")
    task_id = re.search(r'href="/tasks/([\w-]+)"', pages.client.get("/inbox").text)
    assert task_id is not None
    pages.post(f"/tasks/{task_id.group(1)}/claim", {}, token_from="/inbox")
    pages.post(f"/tasks/{task_id.group(1)}", {"data.decision": "approve", "data.notes": "مطابق للاشتراطات"},
               token_from="/inbox")
    page = pages.client.get(f"/cases/{_case_id(pages, number)}").text
    assert '<span class="status open" id="case-status">جارٍ العمل عليه</span>' in page
    assert "المرحلة الحالية: التسليم" in page
    timeline = re.search(r'<ol class="timeline" id="timeline">(.*?)</ol>', page, re.S)
    assert timeline is not None
    story = re.findall(r"<span>([^<]+)</span>", timeline.group(1))
    assert story[0].endswith("سجّل الطلب")
    assert story[1:] == [story[1].split(" أنجز")[0] + " أنجز «تسجيل الطلب»", "هالة المراجِعة استلم «مراجعة الطلب»",
                         "هالة المراجِعة أنجز «مراجعة الطلب»"]
    assert "مطابق للاشتراطات" in timeline.group(1) and "موافقة" not in story


def test_a_diagram_without_layout_shows_the_timeline_alone(pages: Pages) -> None:
    number = _open_review(pages)
    page = pages.client.get(f"/cases/{_case_id(pages, number)}").text
    assert 'id="timeline"' in page and 'id="diagram"' not in page and "bpmn-viewer" not in page
    assert pages.client.get(f"/cases/{_case_id(pages, number)}/diagram.bpmn").status_code == 404


def test_a_diagram_with_layout_is_served_with_its_marks(pages: Pages) -> None:
    pages.as_user("front_desk")
    r = register(pages, "building_permit", PERMIT)
    assert r.status_code == 303
    case_id = re.search(r'href="/cases/(\d+)"', pages.client.get("/cases").text)
    assert case_id is not None
    page = pages.client.get(f"/cases/{case_id.group(1)}").text
    assert '<script src="/static/vendor/bpmn-js/bpmn-viewer.production.min.js"></script>' in page
    marks = re.search(r'data-done="([^"]*)" data-current="([^"]*)"', page)
    assert marks is not None and "register_request" in (marks.group(1) + " " + marks.group(2))
    xml = pages.client.get(f"/cases/{case_id.group(1)}/diagram.bpmn")
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    assert b'<bpmn:process id="building_permit"' in xml.content and b"BPMNShape" in xml.content


def test_the_case_page_is_for_the_lanes_of_its_service(pages: Pages) -> None:
    number = _open_review(pages)
    case_id = _case_id(pages, number)
    pages.as_user("engineering")
    r = pages.client.get(f"/cases/{case_id}")
    assert r.status_code == 403 and "لا تملك صلاحية فتح هذه الصفحة" in r.text
    assert pages.client.get(f"/cases/{case_id}/diagram.bpmn").status_code == 403
    pages.as_user("auditor")
    assert pages.client.get(f"/cases/{case_id}").status_code == 200
    assert pages.client.get("/cases/999999").status_code == 404


def test_case_search_by_tracking_number_or_national_id(pages: Pages) -> None:
    number = _open_review(pages)
    digits = number.replace("-", "")
    assert number in pages.client.get("/cases", params={"q": digits}).text
    assert number in pages.client.get("/cases", params={"q": "29001011234567"}).text
    assert "لا توجد طلبات مطابقة" in pages.client.get("/cases", params={"q": "29105051234563"}).text
