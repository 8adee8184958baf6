"""Tracking numbers, and what proves a citizen's claim to one: the phone's last digits, the rating link.

A number is random digits and a Verhoeff check digit, grouped to be read over the phone.

Random (from ``secrets``), so one number says nothing about the next; the Verhoeff digit catches every
single-digit mistake and every swap of two neighbouring digits, the errors people make reading numbers aloud.

A single installation and central draw ``tracking_digits`` digits, the first never 0 (and never was): 4821-9135-567.

A center node (docs/center-nodes.md) opens cases while it cannot reach central, so it cannot ask whether a number
is free there: its numbers are ones central and the other center nodes never draw. They start with 0 (which
central never draws first), then how many digits the center's id has, then the id, then random digits: center 7's
are ``0 1 7`` and seven random digits, 0171-2345-678; center 42's ``0 2 42`` and seven, 0242-1234-5678. The count
says where the id ends, so no center's start is the start of another's: two nodes can never draw the same number,
whatever their random digits. The random part is what ``tracking_digits`` leaves after the center's digits, and
never fewer than ``tracking_center_random_digits`` (ten million numbers per center by default): a center whose
id needs more room gets a longer number rather than an easier one to guess or a crowded one to draw. Numbers are
read as strings everywhere (the leading 0 stays), typed back with or without dashes, in either digits, and the
check digit covers the whole number, the center's digits too; a center's number is never 8k + 1 digits long, so
that one typed without its leading 0 fails the check rather than naming one of central's. ``center_of`` reads the
center back from a number.
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


#: The first digit of a center node's numbers, and only of theirs.
CENTER_MARK = "0"


def _random_digits(count: int) -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(count))


def center_prefix(center_id: int) -> str:
    """The digits every number of center ``center_id``'s node starts with: 0, the id's length, the id (017, 0242)."""
    digits = str(center_id)
    if center_id < 1 or len(digits) > 9:
        raise ValueError(f"a center's id from 1 to 999999999 makes a tracking number's digits, not {center_id}")
    return CENTER_MARK + str(len(digits)) + digits


def new_tracking_number(length: int = 10, *, center_id: int | None = None, random_min: int = 7) -> str:
    """``length`` random digits (no leading zero) plus the check digit, in groups of four: 4821-9135-567. With
    ``center_id`` (a center node's), :func:`center_prefix` and random digits instead: ``length`` digits in all, or
    more when fewer than ``random_min`` random ones would be left (and one more when the whole would have 8k + 1
    digits)."""
    if center_id is None:
        body = str(secrets.randbelow(9) + 1) + _random_digits(length - 1)
    else:
        prefix = center_prefix(center_id)
        count = max(length - len(prefix), random_min)
        # Dropping the leading 0 (a spreadsheet does) leaves the check digit right exactly when the whole number
        # has 8k + 1 digits (Verhoeff's permutations repeat every 8 places): such a number is drawn one longer, so
        # that a center's number without its 0 is never a valid number of central's.
        if (len(prefix) + count + 1) % 8 == 1:
            count += 1
        body = prefix + _random_digits(count)
    full = body + check_digit(body)
    return "-".join(full[i:i + 4] for i in range(0, len(full), 4))


def center_of(number: str) -> int | None:
    """The id of the center whose node drew ``number`` (as typed: dashes, spaces, Arabic digits); None for a
    number of central or of a single installation, and for anything that is not a valid tracking number."""
    digits = _digits(number)
    if not is_valid(digits) or not digits.startswith(CENTER_MARK) or len(digits) < 3 or digits[1] == "0":
        return None
    size = int(digits[1])
    center = digits[2:2 + size]
    # A center's digits, then at least one random digit, then the check digit.
    return int(center) if len(digits) >= 2 + size + 2 and center[0] != "0" else None


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
