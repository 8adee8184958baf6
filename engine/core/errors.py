"""Domain errors. The engine raises these; each face (API, pages, CLI) turns them into its own words.

A refusal names a message id and its parameters (``raise NotFound("case.not_found", case_id=7)``); its words
in English and Arabic are in the engine's catalogs (engine/core/refusals.py). ``message`` is the English sentence;
``text(language)`` the reader's. The faces' own refusals name ids of the same catalogs; a page may still refuse
with a sentence marked ``N_()``, which the pages translate with their own catalog (tests/engine/test_refusals.py).

Each class carries its HTTP ``status``: the one answer to "which status is this refusal", read by the API
(api/errors.py) and the pages (admin_ui/pages.py) alike. A subclass inherits its parent's status.
"""

from __future__ import annotations

from typing import Any, ClassVar

from engine.core import refusals


class DomainError(Exception):
    """Base of every refusal the engine makes on purpose."""

    status: ClassVar[int] = 400

    def __init__(self, message: str, /, **params: Any) -> None:
        said = refusals.say(message, **params) if refusals.is_id(message) else message
        super().__init__(said)
        self.message = said

    @property
    def message_id(self) -> str | None:
        """The refusal's id in the catalogs, or None for a face's plain sentence."""
        return self.message.message_id if isinstance(self.message, refusals.Text) else None

    def text(self, language: str) -> str:
        """The refusal in ``language`` (its English sentence when it has no id)."""
        return refusals.in_language(self.message, language)


class NotFound(DomainError):
    """The thing asked for does not exist (or the caller may not know that it does)."""

    status: ClassVar[int] = 404


class Unauthorized(DomainError):
    """The caller is not signed in, or the credentials are wrong."""

    status: ClassVar[int] = 401


class Forbidden(DomainError):
    """The caller is known but their roles do not allow this."""

    status: ClassVar[int] = 403


class Conflict(DomainError):
    """The state changed under the caller: already done, taken by someone else, or a lost race."""

    status: ClassVar[int] = 409


class Invalid(DomainError):
    """The input is wrong; ``details`` says where and why, one entry per problem."""

    status: ClassVar[int] = 422

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None, /, **params: Any) -> None:
        super().__init__(message, **params)
        self.details = details or []


class TooLarge(DomainError):
    """The input is over a size limit named in the settings."""

    status: ClassVar[int] = 413


class Corrupted(DomainError):
    """Stored data no longer matches what was recorded of it (a checksum, a missing file): never served.

    A 500 on every face: the installation is at fault, not the request, and retrying or rewording it cannot
    help (a 4xx would tell the caller to change what they sent); an administrator restores the file."""

    status: ClassVar[int] = 500


class RateLimited(DomainError):
    """Too many attempts in a short time; the caller should wait."""

    status: ClassVar[int] = 429


class Unavailable(DomainError):
    """A service outside Shubbak that the command needs (a payment provider) did not answer, or answered
    nonsense: nothing was changed here, and the same request may be tried again later."""

    status: ClassVar[int] = 502


class ScriptOverLimit(Conflict):
    """A script of the diagram went over its time or memory limit: the step was refused, the case left as it was.

    ``limit`` is "time", "memory", "depth" or "busy"; ``element_id`` the script's element."""

    def __init__(self, message: str, /, *, limit: str, element_id: str | None, **params: Any) -> None:
        super().__init__(message, **params)
        self.limit = limit
        self.element_id = element_id
