"""The front desk: catalog search, the intake form from JSON Schema, messages next to fields, fee, receipt."""

from __future__ import annotations

import re
from typing import Any

import httpx

from admin_ui.i18n import ltr
from harness.api import CITIZEN
from harness.pages import Pages

PERMIT = {"data.plot_area_m2": "240", "data.building_use": "residential", "data.floors_count": "4",
          "data.plot_address": "12 شارع التحرير، الدقي، الجيزة", "data.ownership_deed_number": "1532/2019",
          "data.engineer_syndicate_number": "104578"}
CITIZEN_FORM = {f"citizen.{k}": v for k, v in CITIZEN.items()}


def errors_of(html: str) -> dict[str, str]:
    """Each field's message, by the id of the input it describes."""
    return dict(re.findall(r'<p class="error" id="(f-[\w-]+)-error">([^<]*)</p>', html))


def register(pages: Pages, service: str, data: dict[str, str], action: str = "register") -> httpx.Response:
    return pages.post(f"/desk/{service}", {**CITIZEN_FORM, **data, "action": action}, token_from="/desk")


def test_catalog_search_by_arabic_or_english_name(pages: Pages) -> None:
    pages.as_user("front_desk")
    both = pages.client.get("/desk").text
    assert "ترخيص بناء" in both and "ترخيص تجريبي" in both
    arabic = pages.client.get("/desk", params={"q": "بناء"}).text
    assert 'href="/desk/building_permit' in arabic and 'href="/desk/test_permit' not in arabic
    english = pages.client.get("/desk", params={"q": "building PERMIT"}).text
    assert 'href="/desk/building_permit' in english and 'href="/desk/test_permit' not in english
    loose = pages.client.get("/desk", params={"q": "ترخيص بناء"}).text  # hamza and taa marbuta are folded
    assert 'href="/desk/building_permit' in loose
    none = pages.client.get("/desk", params={"q": "جواز سفر"}).text
    assert "لا توجد خدمة تطابق" in none


def test_intake_form_is_generated_from_the_json_schema_with_both_labels(pages: Pages) -> None:
    pages.as_user("front_desk")
    page = pages.client.get("/desk/building_permit").text
    assert '<label for="f-data-plot_area_m2">مساحة قطعة الأرض (م²)' in page
    assert '<span class="alt" lang="en">Plot area (m²)</span>' in page
    assert re.search(r'<input id="f-data-plot_area_m2" name="data.plot_area_m2" type="text"', page)
    assert '<legend>نوع الاستخدام' in page and 'value="residential"' in page and "> سكني</label>" in page
    assert '<label for="f-citizen-national_id">الرقم القومي' in page
    assert "صورة سند الملكية المسجل" in page  # the service's checklist of papers
    assert "احسب الرسوم" in page


def test_server_side_messages_appear_next_to_each_field(pages: Pages) -> None:
    pages.as_user("front_desk")
    bad = {**PERMIT, "data.plot_area_m2": "5", "data.floors_count": "3.5", "data.ownership_deed_number": "abc/defg",
           "data.plot_address": ""}
    r = pages.post("/desk/building_permit", {**CITIZEN_FORM, "citizen.phone": "0100", **bad, "action": "register"},
                   token_from="/desk")
    assert r.status_code == 422
    errors = errors_of(r.text)
    assert errors["f-data-plot_area_m2"] == "يجب ألا تقل القيمة عن 20"
    assert errors["f-data-floors_count"] == "أدخل عددًا صحيحًا"
    assert errors["f-data-ownership_deed_number"] == "الصيغة غير صحيحة، مثال: \u20661532/2019\u2069"
    assert errors["f-data-plot_address"] == "هذا الحقل مطلوب"
    assert errors["f-citizen-phone"].startswith("رقم الهاتف يجب أن يكون بالصيغة الدولية")
    assert "f-data-building_use" not in errors
    assert 'aria-describedby="f-data-plot_area_m2-hint f-data-plot_area_m2-error"' in r.text
    assert 'value="5"' in r.text and 'value="3.5"' in r.text  # what was typed stays
    assert "مساحة قطعة الأرض" in r.text  # the page shows the form again, not a JSON error
    assert pages.client.get("/cases").text.count('class="num"') == 0  # nothing was registered


def test_messages_in_english_for_an_english_reader(pages: Pages) -> None:
    pages.as_user("front_desk")
    pages.post("/preferences", {"language": "en"}, token_from="/desk")
    r = register(pages, "building_permit", {**PERMIT, "data.plot_area_m2": ""})
    assert errors_of(r.text)["f-data-plot_area_m2"] == "This field is required"
    assert '<label for="f-data-plot_area_m2">Plot area (m²)' in r.text


def test_arabic_digits_are_read_as_numbers(pages: Pages) -> None:
    pages.as_user("front_desk")
    r = register(pages, "building_permit", {**PERMIT, "data.plot_area_m2": "٢٤٠"}, action="preview")
    assert r.status_code == 200 and errors_of(r.text) == {}


def test_fee_is_worked_out_before_registering(pages: Pages) -> None:
    pages.as_user("front_desk")
    r = register(pages, "building_permit", PERMIT, action="preview")
    assert r.status_code == 200
    assert re.search(r'id="fee-amount">[^<]*3,000\.00', r.text)
    assert pages.client.get("/cases").text.count('href="/cases/') == 0  # a preview stores nothing


def test_fixed_fee_is_shown_at_once(pages: Pages) -> None:
    pages.as_user("front_desk")
    page = pages.client.get("/desk/test_permit").text
    assert re.search(r'id="fee-amount">[^<]*10\.00', page)


def _registered(pages: Pages) -> tuple[httpx.Response, str]:
    r = register(pages, "test_permit", {"data.area": "120", "data.purpose": "بيت العائلة"})
    assert r.status_code == 303, r.text
    assert re.fullmatch(r"/cases/\d+/receipt", r.headers["location"])
    return pages.client.get(r.headers["location"]), r.headers["location"]


def test_registering_prints_a_receipt_with_number_fee_date_and_qr(pages: Pages) -> None:
    pages.as_user("front_desk")
    receipt, _url = _registered(pages)
    assert receipt.status_code == 200
    number = re.search(r'id="tracking-number" dir="ltr">([\d-]+)<', receipt.text)
    assert number is not None
    assert "تم تسجيل الطلب: " + ltr(number.group(1)) in receipt.text
    assert re.search(r'id="service-name">ترخيص تجريبي<', receipt.text)
    assert re.search(r'id="fee">[^<]*300\.00', receipt.text)  # the diagram works it out from the area
    assert re.search(r'id="expected">\d+ \w+ \d{4} \(\d+ [^)]+ \d{4} هـ\)', receipt.text)  # both calendars
    assert "<svg" in receipt.text and f"/track?number={number.group(1)}" in receipt.text
    assert "طباعة الإيصال" in receipt.text


def test_earlier_cases_prefill_the_citizen(pages: Pages) -> None:
    pages.as_user("front_desk")
    _registered(pages)
    desk = pages.client.get("/desk", params={"national_id": CITIZEN["national_id"]}).text
    assert "طلبات سابقة للمواطن " + CITIZEN["full_name"] in desk
    assert f'href="/desk/test_permit?national_id={CITIZEN["national_id"]}"' in desk
    form = pages.client.get("/desk/test_permit", params={"national_id": CITIZEN["national_id"]}).text
    assert f'value="{CITIZEN["full_name"]}"' in form and f'value="{CITIZEN["phone"]}"' in form
    new = pages.client.get("/desk", params={"national_id": "29105051234563"}).text
    assert "مواطن جديد" in new


def test_the_clerk_cannot_open_a_service_of_another_department(pages: Pages, **_: Any) -> None:
    pages.as_user("reviewer")
    assert pages.client.get("/desk/test_permit").status_code == 403
    r = pages.post("/desk/test_permit", {**CITIZEN_FORM, "data.area": "1", "data.purpose": "xyz"}, token_from="/inbox")
    assert r.status_code == 403
