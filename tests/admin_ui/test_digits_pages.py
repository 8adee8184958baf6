"""Digits typed in Arabic on the pages: the front desk's form and the citizen's tracking page."""

from __future__ import annotations

import re

from harness.api import CITIZEN, Api
from harness.pages import Pages
from tests.admin_ui.test_desk_pages import CITIZEN_FORM, PERMIT, errors_of, register
from tests.admin_ui.test_inbox_pages import _open_review

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
EASTERN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def test_the_desk_registers_a_request_typed_in_arabic_digits(pages: Pages) -> None:
    pages.as_user("front_desk")
    citizen = {**CITIZEN_FORM, "citizen.national_id": CITIZEN["national_id"].translate(EASTERN),
               "citizen.phone": CITIZEN["phone"].translate(ARABIC)}
    r = pages.post("/desk/test_permit", {**citizen, "data.area": "١٢٠", "data.purpose": "بيت العائلة",
                                         "action": "register"}, token_from="/desk")
    assert r.status_code == 303, errors_of(r.text) or r.text[:500]
    case_id = re.fullmatch(r"/cases/(\d+)/receipt", r.headers["location"])
    assert case_id is not None, r.headers["location"]
    api = Api(pages.client, pages.settings)
    case = pages.client.get(f"/api/cases/{case_id.group(1)}", headers=api.user("admin")).json()
    assert case["citizen"]["national_id"] == CITIZEN["national_id"] and case["citizen"]["phone"] == CITIZEN["phone"]
    assert case["data"]["area"] == 120


def test_patterned_fields_typed_in_arabic_digits_pass_their_pattern(pages: Pages) -> None:
    pages.as_user("front_desk")
    typed = {key: value.translate(ARABIC) for key, value in PERMIT.items()}
    r = register(pages, "building_permit", typed, action="preview")
    assert r.status_code == 200 and errors_of(r.text) == {}
    ascii_preview = register(pages, "building_permit", PERMIT, action="preview")
    fee = re.search(r'id="fee-amount">([^<]*)<', ascii_preview.text)
    assert fee is not None and fee.group(0) in r.text  # the same fee, worked out from the same numbers


def test_the_desk_names_the_field_with_other_digits(pages: Pages) -> None:
    pages.as_user("front_desk")
    r = register(pages, "building_permit", {**PERMIT, "data.floors_count": "४", "data.plot_area_m2": "²⁴⁰",
                                            "data.engineer_syndicate_number": "１０４５７８"})
    assert r.status_code == 422
    errors = errors_of(r.text)
    assert {"f-data-floors_count", "f-data-plot_area_m2", "f-data-engineer_syndicate_number"} <= set(errors)


def test_tracking_page_in_arabic_digits_is_the_same_as_ascii(pages: Pages) -> None:
    number = _open_review(pages)
    pages.sign_out()
    ascii_page = pages.post("/track", {"number": number, "phone_last4": "4567"}, token_from="/track")
    assert ascii_page.status_code == 200 and 'id="track-status"' in ascii_page.text
    for script in (ARABIC, EASTERN):
        r = pages.post("/track", {"number": number.translate(script), "phone_last4": "4567".translate(script)},
                       token_from="/track")
        assert r.status_code == 200, r.text[:300]
        assert 'id="track-status"' in r.text and number in r.text


def test_tracking_page_with_other_digits_is_not_found(pages: Pages) -> None:
    number = _open_review(pages)
    pages.sign_out()
    for typed_number, last4 in ((number, "²²²²"), (number, "४५६७"), ("²²²²-²²²²-²²²", "4567")):
        r = pages.post("/track", {"number": typed_number, "phone_last4": last4}, token_from="/track")
        assert r.status_code == 404, r.text[:300]
        assert "لا يوجد طلب بهذا الرقم وهذا الهاتف" in r.text
