"""The modeler's editor of a document template: a plain form (no script) that previews the PDF a case would issue
with a test path's data, saves the template into the draft, and refuses a template a deploy would refuse, with
its reasons in the reader's language."""

from __future__ import annotations

import html
import re
from pathlib import Path

from harness.pages import Pages
from tests.outputs.conftest import pdf_text

EDITOR = "/services/building_permit/modeler/outputs/rejection_decision"
_TEXTAREA = re.compile(r'<textarea id="template" name="template"[^>]*>(.*?)</textarea>', re.S)


def _template(page: str) -> str:
    found = _TEXTAREA.search(page)
    assert found is not None
    return html.unescape(found.group(1))


def test_the_modeler_links_each_document_to_its_editor(pages: Pages) -> None:
    pages.as_user("analyst")
    page = pages.client.get("/services/building_permit/modeler").text
    assert f'href="{EDITOR}"' in page and 'href="/services/building_permit/modeler/outputs/building_permit"' in page
    editor = pages.client.get(EDITOR)
    assert editor.status_code == 200
    assert "{{ data.review_notes }}" in _template(editor.text)  # the draft's template, escaped in the text box
    assert '<option value="rejected">' in editor.text  # the test paths of paths.json
    assert "<script" not in editor.text.split("</header>")[1]  # works without any script
    assert pages.client.get("/services/building_permit/modeler/outputs/no_such_kind").status_code == 404


def test_preview_is_the_pdf_of_the_edited_template_without_saving_it(pages: Pages, tmp_path: Path) -> None:
    pages.as_user("analyst")
    edited = "<p>نص القرار المعدل: {{ data.review_notes }}</p>"
    r = pages.post(EDITOR, {"template": edited, "path": "rejected", "action": "preview", "revision": "0"},
                   token_from=EDITOR)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content, tmp_path)
    assert "نص القرار المعدل" in text and "PREVIEW" in text
    assert "النشاط الصناعي غير مسموح به" in text  # the reasons the rejected path's engineer wrote
    # nothing was saved: the editor still shows the draft's own template
    assert "نص القرار المعدل" not in _template(pages.client.get(EDITOR).text)


def test_a_template_a_deploy_would_refuse_is_shown_again_with_the_reason(pages: Pages) -> None:
    pages.as_user("analyst")
    broken = "<p>{{ data.plot_area_m2 / 0 }}</p>"
    for action in ("preview", "save"):
        r = pages.post(EDITOR, {"template": broken, "action": action, "revision": "0"}, token_from=EDITOR)
        assert r.status_code == 422, action
        assert r.headers["content-type"].startswith("text/html")
        assert 'id="template-problems"' in r.text and "ZeroDivisionError" in r.text
        assert "rejection.html" in r.text
        assert _template(r.text) == broken  # the analyst's text is kept to fix
    assert "plot_area_m2 / 0" not in _template(pages.client.get(EDITOR).text)
    # An unsafe attribute is refused too, in the reader's language (Arabic by default).
    r = pages.post(EDITOR, {"template": "{{ citizen.__class__ }}", "action": "preview"}, token_from=EDITOR)
    assert r.status_code == 422 and "__class__" in r.text and "غير آمن" in r.text  # the sandbox's own reason
    assert "تعذّر إنشاء القالب" in r.text and "صحّح القالب" in r.text  # the reason and its fix
    assert "the template cannot be rendered" not in r.text
    assert pages.post("/preferences", {"language": "en", "next": EDITOR}, token_from=EDITOR).status_code == 303
    r = pages.post(EDITOR, {"template": broken, "action": "save"}, token_from=EDITOR)
    assert r.status_code == 422 and "Problems found: 1" in r.text and "ZeroDivisionError" in r.text
    assert "the template cannot be rendered" in r.text and "تعذّر إنشاء القالب" not in r.text


def test_save_writes_the_template_into_the_draft_at_its_revision(pages: Pages) -> None:
    pages.as_user("analyst")
    edited = "<p>قرار معدل {{ data.review_notes }}</p>"
    r = pages.post(EDITOR, {"template": edited, "action": "save", "revision": "0"}, token_from=EDITOR)
    assert r.status_code == 303 and r.headers["location"] == EDITOR
    page = pages.client.get(EDITOR).text
    assert _template(page) == edited and "حُفظ القالب في المسودة." in page
    draft = pages.client.get("/services/building_permit/draft.json").json()
    assert draft["revision"] == 1
    # Someone saved since the page was opened (it still says revision 0): refused, the text kept.
    stale = pages.post(EDITOR, {"template": edited + "<p>2</p>", "action": "save", "revision": "0"},
                       token_from=EDITOR)
    assert stale.status_code == 409 and "<p>2</p>" in _template(stale.text)


def test_the_form_needs_its_csrf_token_and_an_analyst(pages: Pages) -> None:
    pages.as_user("analyst")
    forged = pages.client.post(EDITOR, data={"template": "<p>x</p>", "action": "save", "revision": "0",
                                             "csrf_token": "forged"})
    assert forged.status_code in (400, 403)
    assert "<p>x</p>" not in _template(pages.client.get(EDITOR).text)
    pages.as_user("front_desk")
    assert pages.client.get(EDITOR).status_code == 403
    assert pages.post(EDITOR, {"template": "<p>x</p>", "action": "save"}, token_from="/track").status_code == 403


def test_a_revision_that_is_no_number_is_a_conflict_not_a_server_error(pages: Pages) -> None:
    # "²" passes str.isdigit() but not int(); thousands of digits pass it too, past Python's longest integer text.
    pages.as_user("analyst")
    edited = "<p>قرار معدل {{ data.review_notes }}</p>"
    for revision in ("²", "9" * 5000):
        r = pages.post(EDITOR, {"template": edited, "action": "save", "revision": revision}, token_from=EDITOR)
        assert r.status_code == 409 and _template(r.text) == edited, revision
    assert pages.client.get("/services/building_permit/draft.json").json()["revision"] == 0
