"""Digits as citizens and clerks type them: Arabic-Indic (٠-٩) and Eastern Arabic-Indic (۰-۹) are the ASCII
digits 0-9 wherever a number is expected (tracking numbers, phones, national IDs, numeric form fields).

Every face calls this module, so the rule is the same on the API, the pages, the kiosk and the tracking page.
Any other character that is not an ASCII digit (superscripts like ², fullwidth ０, Devanagari ०...) is not
a digit here: after :func:`ascii_digits` the caller checks with ``[0-9]`` (never ``\\d``, which in Python and
in pydantic's patterns also matches those) and refuses with a 422 or a 404.
"""

from __future__ import annotations

import re
from typing import Any

ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"
EASTERN_ARABIC_INDIC = "۰۱۲۳۴۵۶۷۸۹"
_TO_ASCII = str.maketrans(ARABIC_INDIC + EASTERN_ARABIC_INDIC, "0123456789" * 2)
# The Arabic decimal separator (٫) and thousands separator (٬), as a phone's Arabic keyboard types them.
_DECIMAL_SEPARATOR = "٫"
_THOUSANDS = ("٬", ",")
# A character class for patterns that accept what :func:`ascii_digits` turns into ASCII (OpenAPI documents).
DIGIT = "[0-9٠-٩۰-۹]"
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def ascii_digits(text: str) -> str:
    """``text`` with Arabic-Indic and Eastern Arabic-Indic digits written as ASCII; everything else unchanged."""
    return text.translate(_TO_ASCII)


def only_ascii_digits(text: str) -> bool:
    """True for a non-empty string of ASCII digits 0-9 and nothing else (``str.isdigit`` also says yes to ²)."""
    return bool(text) and text.isascii() and text.isdigit()


def parse_number(text: str, kind: str) -> Any:
    """A number typed in a page's field (``kind`` is the schema's ``integer`` or ``number``), or ``text`` itself
    when it is not one, so that the form's validation names the field ("must be of type integer")."""
    plain = ascii_digits(text.strip()).replace(_DECIMAL_SEPARATOR, ".")
    for mark in _THOUSANDS:
        plain = plain.replace(mark, "")
    if not _NUMBER.fullmatch(plain):
        return text
    value = float(plain)
    if value != value or value in (float("inf"), float("-inf")):
        return text
    if kind == "integer":
        return int(value) if value.is_integer() else text
    return value


def normalise_form_data(schema: dict[str, Any], data: Any) -> Any:
    """``data`` for a JSON Schema form with the digits people type made ASCII where the schema expects digits:

    - an ``integer``/``number`` property sent as a string of digits (a page, or an API client that sends what
      was typed) becomes the number;
    - a ``string`` property with a ``pattern`` gets its Arabic digits as ASCII (national IDs, receipt numbers,
      dates typed on an Arabic keyboard): the pattern then decides, with ``[0-9]``.

    Anything else is left as it is, so validation refuses it and names the field. Nested objects and arrays
    follow their ``properties`` and ``items``.
    """
    if not isinstance(schema, dict):
        return data
    kinds = schema.get("type")
    if isinstance(data, dict):
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return data
        return {key: normalise_form_data(properties[key], value) if key in properties else value
                for key, value in data.items()}
    if isinstance(data, list):
        items = schema.get("items")
        return [normalise_form_data(items, value) for value in data] if isinstance(items, dict) else data
    if isinstance(data, str):
        kind = next((k for k in ("integer", "number") if k == kinds or (isinstance(kinds, list) and k in kinds)),
                    None)
        if kind is not None:
            return parse_number(data, kind)
        if "pattern" in schema:
            return ascii_digits(data)
    return data
