"""The citizen's tracking page: no sign-in, the status and the step, nothing personal."""

from __future__ import annotations

from harness.api import CITIZEN
from harness.pages import Pages
from tests.admin_ui.test_inbox_pages import _open_review


def test_tracking_shows_status_and_step_without_personal_data(pages: Pages) -> None:
    number = _open_review(pages)
    pages.sign_out()
    form = pages.client.get("/track", params={"number": number})
    assert form.status_code == 200 and f'value="{number}"' in form.text  # the receipt's QR code opens this
    r = pages.post("/track", {"number": number.replace("-", ""), "phone_last4": "4567"}, token_from="/track")
    assert r.status_code == 200
    assert "طلبك قيد التنفيذ" in r.text and '<dd id="track-step">مراجعة الطلب</dd>' in r.text
    assert "ترخيص تجريبي" in r.text
    for secret in (CITIZEN["national_id"], CITIZEN["full_name"], CITIZEN["phone"], "بيت العائلة"):
        assert secret not in r.text
    english = pages.post("/preferences", {"language": "en", "next": "/track"}, token_from="/track")
    assert english.status_code == 303
    r = pages.post("/track", {"number": number, "phone_last4": "4567"}, token_from="/track")
    assert "Your request is being worked on" in r.text and '<dd id="track-step">Review request</dd>' in r.text


def test_wrong_digits_and_unknown_numbers_get_the_same_answer(pages: Pages) -> None:
    number = _open_review(pages)
    pages.sign_out()
    wrong = pages.post("/track", {"number": number, "phone_last4": "0000"}, token_from="/track")
    unknown = pages.post("/track", {"number": "1234-5678-901", "phone_last4": "4567"}, token_from="/track")
    assert wrong.status_code == unknown.status_code == 404
    assert "لا يوجد طلب بهذا الرقم وهذا الهاتف" in wrong.text and "لا يوجد طلب بهذا الرقم وهذا الهاتف" in unknown.text
    assert 'id="track-status"' not in wrong.text and 'id="track-status"' not in unknown.text


def test_too_many_guesses_are_refused(pages: Pages) -> None:
    number = _open_review(pages)
    pages.sign_out()
    for _ in range(pages.settings.public_track_max_failures):
        pages.post("/track", {"number": number, "phone_last4": "0000"}, token_from="/track")
    r = pages.post("/track", {"number": number, "phone_last4": "4567"}, token_from="/track")
    assert r.status_code == 429 and "محاولات كثيرة لهذا الرقم" in r.text
