"""The rating screen: the citizen's link without sign-in, and the counter's tablet for a signed-in clerk."""

from __future__ import annotations

from typing import Any

from engine.core.tracking import rating_path, rating_token
from harness.api import Api
from harness.pages import Pages
from tests.support.permits import permit_case


def _completed(pages: Pages, clerk: dict[str, str] | None = None, *, finish: bool = True) -> dict[str, Any]:
    api = Api(pages.client, pages.settings)
    return permit_case(api, clerk or api.user("front_desk"), finish=finish)


def _rating(pages: Pages, case_id: int) -> Any:
    api = Api(pages.client, pages.settings)
    return pages.client.get(f"/api/cases/{case_id}/rating", headers=api.user("supervisor"))


def test_the_link_shows_three_faces_in_arabic_and_takes_one_rating(pages: Pages) -> None:
    case = _completed(pages)
    link = rating_path(case["tracking_number"], pages.settings)
    page = pages.client.get(link)
    assert page.status_code == 200
    assert 'dir="rtl"' in page.text and "قيّم خدمتنا" in page.text
    assert [kind for kind in ("happy", "neutral", "unhappy") if f'value="{kind}"' in page.text] == [
        "happy", "neutral", "unhappy"]
    assert "ترخيص تجريبي" in page.text and case["tracking_number"] in page.text
    r = pages.post(f"/rate/{case['tracking_number']}", {
        "t": rating_token(case["tracking_number"], pages.settings), "score": "neutral",
        "reason_code": "waiting_time", "reason": "الانتظار طويل"}, token_from=link)
    assert r.status_code == 200 and 'id="rate-done"' in r.text and "شكرًا لك" in r.text
    stored = _rating(pages, case["id"]).json()
    assert (stored["score"], stored["reason_code"], stored["reason"], stored["channel"]) == (
        "neutral", "waiting_time", "الانتظار طويل", "link")
    again = pages.client.get(link)
    assert again.status_code == 409 and "تم تقييم هذا الطلب من قبل" in again.text
    assert 'id="rate-form"' not in again.text


def test_a_wrong_link_and_an_unknown_number_get_the_same_page(pages: Pages) -> None:
    case = _completed(pages)
    wrong = pages.client.get(f"/rate/{case['tracking_number']}", params={"t": "not-the-token"})
    unknown = pages.client.get("/rate/1234-5678-901", params={"t": rating_token("1234-5678-901", pages.settings)})
    assert wrong.status_code == unknown.status_code == 404
    for page in (wrong, unknown):  # nothing says the number exists: no service, no form
        assert 'id="rate-form"' not in page.text and 'id="rate-case"' not in page.text
        assert "لا يوجد طلب يطابق رابط التقييم هذا" in page.text


def test_an_open_case_is_not_rated_and_a_face_is_required(pages: Pages) -> None:
    open_case = _completed(pages, finish=False)
    r = pages.client.get(rating_path(open_case["tracking_number"], pages.settings))
    assert r.status_code == 409 and "لا يُقيَّم إلا الطلب المكتمل" in r.text
    case = _completed(pages)
    link = rating_path(case["tracking_number"], pages.settings)
    r = pages.post(f"/rate/{case['tracking_number']}", {
        "t": rating_token(case["tracking_number"], pages.settings), "reason": "بلا وجه"}, token_from=link)
    assert r.status_code == 422 and "اختر أحد الوجوه الثلاثة" in r.text and "بلا وجه" in r.text
    assert _rating(pages, case["id"]).status_code == 404


def test_the_counter_tablet_rates_a_case_the_clerk_may_read(pages: Pages) -> None:
    api = Api(pages.client, pages.settings)
    case = _completed(pages, api.user("front_desk", username="clerk_hala"))
    pages.as_user("front_desk")
    assert f'href="/desk/rate/{case["id"]}"' in pages.client.get(f"/cases/{case['id']}").text
    kiosk = pages.client.get(f"/desk/rate/{case['id']}")
    assert kiosk.status_code == 200 and "kiosk" in kiosk.text and 'value="happy"' in kiosk.text
    r = pages.post(f"/desk/rate/{case['id']}", {"score": "happy"}, token_from=f"/desk/rate/{case['id']}")
    assert r.status_code == 200 and 'id="rate-done"' in r.text
    stored = _rating(pages, case["id"]).json()
    assert (stored["score"], stored["channel"], stored["clerk"]) == ("happy", "desk", "clerk_hala")
    assert pages.client.get(f"/desk/rate/{case['id']}").status_code == 409
    pages.as_user("licensing")
    assert pages.client.get(f"/desk/rate/{case['id']}").status_code == 403
    pages.sign_out()
    assert pages.client.get(f"/desk/rate/{case['id']}").status_code == 303  # to the sign-in page
