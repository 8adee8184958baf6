"""In headless Chromium with JavaScript turned off: an analyst opens a document's template from the modeler,
is refused a template that divides by zero (the reason on the page, the text kept), previews a corrected one
as the PDF a case would issue, and saves it into the draft.

Skipped, with the reason shown, when the machine has no Chromium and CI is not set; under CI=true a missing
Chromium is a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from engine.core.settings import Settings
from harness import journey
from harness.pages import PASSWORD, add_user
from harness.settings import ROOT
from tests.outputs.conftest import pdf_text
from tests.support.browser import need_chromium


@pytest.mark.slow
def test_an_analyst_edits_and_previews_a_document_template_without_javascript(sqlite_settings: Settings,
                                                                              tmp_path: Path) -> None:
    need_chromium()
    prepare = lambda s: add_user(s, "analyst", username="analyst", full_name="محللة العمليات")  # noqa: E731
    with journey.chromium() as browser, journey.center(sqlite_settings, ROOT, prepare) as url:
        walk = journey.Walk(browser, url, tmp_path / "template")
        context = browser.new_context(java_script_enabled=False, locale="ar-EG", base_url=url,
                                      viewport=journey.DESKTOP)  # type: ignore[arg-type]
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("اسم المستخدم").fill("analyst")
        page.get_by_label("كلمة المرور").fill(PASSWORD)
        page.locator("form[action=\"/login\"] button[type=submit]").click()
        page.goto("/services/building_permit/modeler")
        page.get_by_role("link", name="قرار برفض طلب ترخيص بناء").click()
        expect(page.locator("h1")).to_contain_text("قالب المستند")

        page.locator("#template").fill("<p>{{ data.plot_area_m2 / 0 }}</p>")
        page.get_by_role("button", name="حفظ في المسودة").click()
        expect(page.locator("#template-problems")).to_contain_text("تعذّر إنشاء القالب")
        expect(page.locator("#template-problems")).to_contain_text("ZeroDivisionError")
        expect(page.locator("#template")).to_have_value("<p>{{ data.plot_area_m2 / 0 }}</p>")
        walk.shot(page, "template-refused")

        page.locator("#template").fill("<p>قرار اللجنة: {{ data.review_notes }}</p>")
        page.locator("#path").select_option("rejected")
        with context.expect_event("response", lambda r: r.request.method == "POST") as answer, \
                context.expect_page():
            page.get_by_role("button", name="معاينة ملف PDF").click()
        assert answer.value.status == 200 and answer.value.header_value("content-type") == "application/pdf"
        # Chromium shows the PDF in its own viewer; the same post from this session gives its bytes to read.
        token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
        again = context.request.post(answer.value.url, form={
            "csrf_token": token, "template": "<p>قرار اللجنة: {{ data.review_notes }}</p>", "path": "rejected",
            "action": "preview", "revision": "0"})
        assert again.status == 200 and again.body().startswith(b"%PDF")
        text = pdf_text(again.body(), tmp_path)
        assert "قرار اللجنة" in text and "PREVIEW" in text and "النشاط الصناعي غير مسموح به" in text

        page.get_by_role("button", name="حفظ في المسودة").click()
        expect(page.locator("main")).to_contain_text("حُفظ القالب في المسودة.")
        expect(page.locator("#template")).to_have_value("<p>قرار اللجنة: {{ data.review_notes }}</p>")
        expect(page.locator("#draft-state")).to_contain_text("1")
