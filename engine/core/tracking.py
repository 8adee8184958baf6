"""Tracking numbers, and what proves a citizen's claim to one: the phone's last digits, the rating link.

A number is random digits and a Verhoeff check digit, grouped to be read over the phone.

Random (from ``secrets``), so one number says nothing about the next; the Verhoeff digit catches every
single-digit mistake and every swap of two neighbouring digits, the errors people make reading numbers aloud.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import quote

from sqlmodel import Session, select

from engine.core import throttle
from engine.core.errors import NotFound
from engine.core.settings import Settings
from forms.digits import ascii_digits, only_ascii_digits
from storage.models.cases import Case

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


# The citizen's proofs: the last digits of the phone (tracking page, complaints) and the rating link.

_NOT_FOUND = "tracking.no_match"


class TooManyAttempts(throttle.Throttled):
    """Too many wrong guesses for one tracking number, or from one address, in the window."""


def guess_rules(settings: Settings) -> tuple[throttle.Rule, throttle.Rule]:
    """(per tracking number, per client address): wrong phone digits, wrong rating links."""
    window = settings.public_track_window_seconds
    return (throttle.Rule.fixed("track-number", limit=settings.public_track_max_failures, window_seconds=window),
            throttle.Rule.fixed("track-address", limit=settings.public_track_max_failures_per_address,
                                window_seconds=window))


def check_guesses(settings: Settings, number: str, client: str | None) -> list[tuple[throttle.Rule, str]]:
    """TooManyAttempts while this number or this address must wait; the pairs to count a wrong guess against."""
    by_number, by_address = guess_rules(settings)
    pairs = [(by_number, number)] + ([(by_address, client)] if client else [])
    throttle.check(settings, "tracking.too_many_attempts", *pairs,
                   error=TooManyAttempts)
    return pairs


def verified_case(*, session: Session, tracking_number: str, phone_last4: str, settings: Settings,
                  client: str | None = None) -> Case:
    """The case of a tracking number whose phone ends in ``phone_last4``; NotFound otherwise, counted per number
    and per client address (TooManyAttempts past the limit)."""
    number = normalise(tracking_number)
    last4 = ascii_digits(phone_last4.strip())
    pairs = check_guesses(settings, number, client)
    case = session.exec(select(Case).where(Case.tracking_number == number)).first() if is_valid(
        number) else None
    # Same answer for an unknown number and wrong digits: the endpoint must not confirm that a number exists.
    if case is None or len(last4) != 4 or not only_ascii_digits(last4) or not hmac.compare_digest(
            case.phone[-4:].encode(), last4.encode()):
        throttle.fail(settings, *pairs)
        raise NotFound(_NOT_FOUND)
    return case


def _key(settings: Settings) -> bytes:
    # A key of its own, derived from the secret: a rating token says nothing about sessions or API tokens.
    return hmac.new(settings.signing_secret.encode(), b"shubbak rating link", hashlib.sha256).digest()


def rating_token(tracking_number: str, settings: Settings) -> str:
    """The token of the rating link of one case (128 bits, URL-safe, no padding)."""
    number = normalise(tracking_number)
    digest = hmac.new(_key(settings), number.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def token_matches(tracking_number: str, token: str, settings: Settings) -> bool:
    return hmac.compare_digest(rating_token(tracking_number, settings).encode(), token.encode())


def rating_path(tracking_number: str, settings: Settings) -> str:
    """The page where the citizen rates the case: ``/rate/<tracking>?t=<token>`` (prefix the public URL)."""
    number = normalise(tracking_number)
    return f"/rate/{quote(number)}?t={rating_token(number, settings)}"
