"""The pages' session: a signed cookie (HttpOnly, SameSite=Lax, Secure in production) holding who signed in,
the CSRF token every form sends back, the language chosen before signing in, and one-time messages.

The cookie is signed, not encrypted: it holds nothing secret beyond the CSRF token, which only the pages of
this site can read back (HttpOnly keeps it from scripts). The user row is read again on every request, so a
deactivated user is out at their next click, and so is a cookie whose session version is no longer the user's
(signed out, password changed): a copy of an old cookie opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from fastapi import Request

from admin_ui.i18n import N_
from engine.core.errors import Forbidden
from engine.core.settings import Settings

COOKIE = "shubbak_session"
CSRF_FIELD = "csrf_token"


class CsrfRefused(Forbidden):
    """A form came back without this session's CSRF token: sent from another site, or a stale page."""


def cookie_options(settings: Settings) -> dict[str, Any]:
    """The options of Starlette's ``SessionMiddleware`` for the pages' cookie (added by api/app.py)."""
    # A key of its own, derived from the secret: a leaked session signature says nothing about API tokens.
    key = hmac.new(settings.signing_secret.encode(), b"shubbak pages session", hashlib.sha256).hexdigest()
    return {"secret_key": key, "session_cookie": COOKIE, "max_age": settings.token_minutes * 60,
            "same_site": "lax", "https_only": settings.environment == "production"}


def _data(request: Request) -> dict[str, Any]:
    data: dict[str, Any] = request.session
    return data


def csrf_token(request: Request) -> str:
    data = _data(request)
    token = data.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = data["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, submitted: object) -> None:
    expected = _data(request).get("csrf")
    if not isinstance(submitted, str) or not isinstance(expected, str) or not hmac.compare_digest(
            submitted.encode(), expected.encode()):
        raise CsrfRefused(N_("The form has expired or did not come from this site. Reload the page and try again."))


def sign_in(request: Request, username: str, session_version: int, node: str | None = None) -> None:
    """A fresh session for the user: a new CSRF token, nothing carried over (no session fixation). The user's
    session version goes in too: raising it (sign-out, new password, deactivation) ends this cookie. ``node``: the
    center node's code that signs in (its versions are its own, engine/people/users.py ``issue_token``)."""
    language = _data(request).get("lang")
    data = _data(request)
    data.clear()
    data.update(user=username, sv=session_version, at=int(time.time()), csrf=secrets.token_urlsafe(32))
    if node is not None:
        data["nd"] = node
    if language:
        data["lang"] = language


def sign_out(request: Request) -> None:
    language = _data(request).get("lang")
    _data(request).clear()
    if language:
        _data(request)["lang"] = language


def username(request: Request, settings: Settings) -> tuple[str, int] | None:
    """(username, session version) of the signed-in reader, or None."""
    data = _data(request)
    name = data.get("user")
    at = data.get("at")
    version = data.get("sv")
    if not isinstance(name, str) or not isinstance(at, int) or not isinstance(version, int):
        return None
    if data.get("nd") != settings.node_center:  # signed in at another node: its session version is not ours
        return None
    if time.time() - at > settings.token_minutes * 60:  # the cookie is re-signed on use: expire on sign-in age
        data.clear()
        return None
    return name, version


def chosen_language(request: Request) -> str | None:
    value = _data(request).get("lang")
    return value if isinstance(value, str) else None


def choose_language(request: Request, language: str) -> None:
    _data(request)["lang"] = language


def flash(request: Request, message: str, kind: str = "success") -> None:
    data = _data(request)
    data["flash"] = [*data.get("flash", []), [kind, message]][-5:]


def pop_flashes(request: Request) -> list[tuple[str, str]]:
    data = _data(request)
    if "flash" not in data:
        return []
    return [(str(k), str(m)) for k, m in data.pop("flash")]
