"""Digits of every script: Arabic-Indic and Eastern Arabic-Indic are ASCII digits; nothing else is a digit."""

from __future__ import annotations

import json

import pytest

from engine.core import tracking
from engine.core.errors import Invalid, NotFound
from engine.people.identity import check_citizen
from engine.queue.tickets import normalise as ticket_number
from forms.digits import ascii_digits, normalise_form_data, only_ascii_digits, parse_number
from harness.settings import ROOT, make_settings

ARABIC = "٠١٢٣٤٥٦٧٨٩"
EASTERN = "۰۱۲۳۴۵۶۷۸۹"
# Characters Python's str.isdigit (and \d) says yes to that are not digits here.
NOT_DIGITS = ["²²²²", "०१२३", "０１２３", "𝟙𝟚𝟛𝟜", "①②③④"]


def test_both_arabic_scripts_are_ascii_digits() -> None:
    assert ascii_digits(ARABIC) == ascii_digits(EASTERN) == "0123456789"
    assert ascii_digits("رقم ١٢-۳٤ abc") == "رقم 12-34 abc"  # only the digits change


@pytest.mark.parametrize("text", NOT_DIGITS)
def test_other_unicode_digits_are_not_digits(text: str) -> None:
    assert text.isdigit() or text[0] == "①"  # what Python alone would accept
    assert not only_ascii_digits(ascii_digits(text))


def test_numbers_typed_in_any_arabic_script() -> None:
    assert parse_number("١٢٠", "integer") == parse_number("۱۲۰", "integer") == parse_number("120", "integer") == 120
    assert parse_number("١٢٫٥", "number") == 12.5  # the Arabic decimal separator
    assert parse_number("١٬٢٠٠", "number") == 1200.0  # and thousands separator
    assert parse_number("12.5", "integer") == "12.5"  # not a whole number: left for the form to refuse
    for bad in ["²", "१२", "１２", "nan", "inf", "1e999", "", "-"]:
        assert parse_number(bad, "number") == bad, bad


def test_form_data_digits_where_the_schema_expects_digits() -> None:
    schema = json.loads((ROOT / "processes/building_permit/forms/register_request.json").read_text())
    fields = schema["properties"]
    numeric = next(name for name, node in fields.items() if node.get("type") in ("integer", "number"))
    patterned = next(name for name, node in fields.items() if node.get("type") == "string" and "pattern" in node)
    free = next(name for name, node in fields.items() if node.get("type") == "string" and "pattern" not in node
                and "enum" not in node)
    data = {numeric: "١٢٠", patterned: "١٢٣٤", free: "شارع ٩", "unknown": "٧"}
    out = normalise_form_data(schema, data)
    assert out[numeric] == 120 or out[numeric] == 120.0
    assert out[patterned] == "1234"
    assert out[free] == "شارع ٩"  # free text is the citizen's words, kept as typed
    assert out["unknown"] == "٧"  # not the form's: left for the form to refuse
    nested = {"type": "object", "properties": {"rows": {"type": "array", "items": {
        "type": "object", "properties": {"count": {"type": "integer"}}}}}}
    assert normalise_form_data(nested, {"rows": [{"count": "۳"}, {"count": 4}]}) == {"rows": [{"count": 3},
                                                                                           {"count": 4}]}


def test_tracking_numbers_in_arabic_digits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    number = tracking.new_tracking_number()
    arabic = number.translate(str.maketrans("0123456789", ARABIC))
    eastern = number.replace("-", " ").translate(str.maketrans("0123456789", EASTERN))
    assert tracking.is_valid(arabic) and tracking.is_valid(eastern)
    assert tracking.normalise(arabic) == tracking.normalise(eastern) == number
    for text in NOT_DIGITS:
        assert not tracking.is_valid(text)  # int("²") used to raise inside: a 500
    assert not tracking.is_valid(number + "²")


def test_queue_ticket_numbers_in_arabic_digits() -> None:
    assert ticket_number("P-١٤") == ticket_number("p۱۴") == ticket_number("P-14")
    for text in ["P-²", "P-१४", "P-１４", "P-1٤x"]:
        with pytest.raises(NotFound):
            ticket_number(text)


def test_national_ids_and_phones_in_arabic_digits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings("sqlite://", tmp_path)
    person = check_citizen({"national_id": "٢٩٠٠١٠١١٢٣٤٥٦٧", "full_name": "سارة", "phone": "+۲۰۱۰۰۱۲۳۴۵۶۷"},
                           settings)
    assert person.national_id == "29001011234567" and person.phone == "+201001234567"
    with pytest.raises(Invalid) as refused:
        check_citizen({"national_id": "२९००१०११२३४५६७", "full_name": "سارة", "phone": "+２０１００１２３４５６７"},
                      settings)
    assert {d["field"] for d in refused.value.details} == {"citizen.national_id", "citizen.phone"}
    # A pattern from the environment written with \d still means ASCII digits.
    loose = make_settings("sqlite://", tmp_path, national_id_pattern=r"^\d{14}$")
    with pytest.raises(Invalid):
        check_citizen({"national_id": "२९००१०११२३४५६७", "full_name": "سارة", "phone": "+201001234567"}, loose)
