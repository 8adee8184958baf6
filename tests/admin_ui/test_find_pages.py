"""Finding a service from a phone (``/find``, ``/find/{code}``): no sign-in, Arabic by default, English by the
switch, plain links and forms (no script on the page), the fee's decision table as a readable table."""

from __future__ import annotations

import re

from harness.pages import Pages


def test_search_and_the_service_page_in_arabic_then_english(pages: Pages) -> None:
    empty = pages.client.get("/find")
    assert empty.status_code == 200 and 'lang="ar"' in empty.text and "ابحث عن خدمة" in empty.text
    found = pages.client.get("/find", params={"q": "رخصه مبانى"})
    assert found.status_code == 200
    first = re.search(r'<a href="/find/(\w+)" class="find-result"><strong>([^<]+)', found.text)
    assert first is not None and first.groups() == ("building_permit", "ترخيص بناء")
    page = pages.client.get("/find/building_permit")
    assert page.status_code == 200
    text = page.text
    assert "<script" not in text  # works without JavaScript
    assert 'id="service-fee-table"' in text and "أقل من 150" in text and "1500" in text
    assert "<th scope=\"col\">نوع الاستخدام</th>" in text and "<td>سكني</td>" in text
    assert "مدة الإنجاز" in text and "30 يوم" in text
    assert "صورة بطاقة الرقم القومي" in text and "أسئلة شائعة" in text and "30 يومًا" in text
    english = pages.post("/preferences", {"language": "en", "next": "/find/building_permit"}, token_from="/find")
    assert english.status_code == 303
    page = pages.client.get("/find/building_permit")
    assert 'lang="en"' in page.text and "Papers to bring" in page.text and "under 150" in page.text
    assert "<td>Residential</td>" in page.text
    assert "Frequently asked questions" in page.text and "within 30 days" in page.text


def test_nothing_found_unknown_service_and_too_many_searches(pages: Pages) -> None:
    none = pages.client.get("/find", params={"q": "zzzz qqqq"})
    assert none.status_code == 200 and 'id="find-none"' in none.text
    assert pages.client.get("/find/no_such_service").status_code == 404
    too_long = pages.client.get("/find", params={"q": "ب" * 300})
    assert too_long.status_code == 422 and 'id="find-error"' in too_long.text
    for _ in range(pages.settings.service_search_max_per_address):
        pages.client.get("/find", params={"q": "ترخيص"})
    refused = pages.client.get("/find", params={"q": "ترخيص"})
    assert refused.status_code == 429 and "عمليات بحث كثيرة" in refused.text
