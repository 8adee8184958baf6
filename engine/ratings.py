"""Citizens rate a completed case: three faces and an optional reason, once per case.

The link sent when a case completes carries a token: an HMAC of the tracking number under a key derived from
the installation's secret. Whoever holds the link may rate that one case and no other; a wrong token gets the
same answer as an unknown case, so the link reveals nothing about other numbers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote

from engine import tracking
from engine.settings import Settings


def _key(settings: Settings) -> bytes:
    # A key of its own, derived from the secret: a rating token says nothing about sessions or API tokens.
    return hmac.new(settings.secret_key.encode(), b"shubbak rating link", hashlib.sha256).digest()


def rating_token(tracking_number: str, settings: Settings) -> str:
    """The token of the rating link of one case (128 bits, URL-safe, no padding)."""
    number = tracking.normalise(tracking_number)
    digest = hmac.new(_key(settings), number.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def token_matches(tracking_number: str, token: str, settings: Settings) -> bool:
    return hmac.compare_digest(rating_token(tracking_number, settings).encode(), token.encode())


def rating_path(tracking_number: str, settings: Settings) -> str:
    """The page where the citizen rates the case: ``/rate/<tracking>?t=<token>`` (prefix the public URL)."""
    number = tracking.normalise(tracking_number)
    return f"/rate/{quote(number)}?t={rating_token(number, settings)}"
