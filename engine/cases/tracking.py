"""Tracking numbers: random digits and a Verhoeff check digit, grouped to be read over the phone.

Random (from ``secrets``), so one number says nothing about the next; the Verhoeff digit catches every
single-digit mistake and every swap of two neighbouring digits, the errors people make reading numbers aloud.
"""

from __future__ import annotations

import secrets

from forms.digits import ascii_digits, only_ascii_digits

# What people put between the groups of digits: spaces and dashes (a phone's keyboard has several dashes).
_SEPARATORS = str.maketrans("", "", " \t\u00a0-\u2010\u2011\u2012\u2013\u2014\u2212")

_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def check_digit(digits: str) -> str:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[(i + 1) % 8][int(ch)]]
    return str(_INV[c])


def _digits(number: str) -> str:
    return ascii_digits(number).translate(_SEPARATORS)


def is_valid(number: str) -> bool:
    """The Verhoeff check of a number as typed (Arabic digits too); False for anything that is not digits."""
    digits = _digits(number)
    if not only_ascii_digits(digits) or len(digits) < 2:
        return False
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def new_tracking_number(length: int = 10) -> str:
    """``length`` random digits (no leading zero) plus the check digit, in groups of four: 4821-9135-567."""
    body = str(secrets.randbelow(9) + 1) + "".join(str(secrets.randbelow(10)) for _ in range(length - 1))
    full = body + check_digit(body)
    return "-".join(full[i:i + 4] for i in range(0, len(full), 4))


def normalise(number: str) -> str:
    """Accept what citizens type (spaces, no dashes, Arabic-Indic digits) and give back the stored form. Text
    that is not digits comes back without its separators, and :func:`is_valid` says no to it."""
    digits = _digits(number)
    if not only_ascii_digits(digits):
        return digits
    return "-".join(digits[i:i + 4] for i in range(0, len(digits), 4))
