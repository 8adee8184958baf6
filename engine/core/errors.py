"""Domain errors. The engine raises these; each face (API, pages, CLI) turns them into its own words."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every refusal the engine makes on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The thing asked for does not exist (or the caller may not know that it does)."""


class Unauthorized(DomainError):
    """The caller is not signed in, or the credentials are wrong."""


class Forbidden(DomainError):
    """The caller is known but their roles do not allow this."""


class Conflict(DomainError):
    """The state changed under the caller: already done, taken by someone else, or a lost race."""


class Invalid(DomainError):
    """The input is wrong; ``details`` says where and why, one entry per problem."""

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


class TooLarge(DomainError):
    """The input is over a size limit named in the settings."""


class Corrupted(DomainError):
    """Stored data no longer matches what was recorded of it (a checksum, a missing file): never served."""


class RateLimited(DomainError):
    """Too many attempts in a short time; the caller should wait."""


class ScriptOverLimit(Conflict):
    """A script of the diagram went over its time or memory limit: the step was refused, the case left as it was.

    ``limit`` is "time", "memory", "depth" or "busy"; ``element_id`` the script's element."""

    def __init__(self, message: str, *, limit: str, element_id: str | None) -> None:
        super().__init__(message)
        self.limit = limit
        self.element_id = element_id
