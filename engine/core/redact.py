"""Personal data kept out of logs: query strings of requests, and messages written by the ``log`` gateway.

The access log keeps a request's path and only the query parameters known to carry nothing personal
(``SAFE_QUERY_PARAMETERS``): a national ID, a phone's digits, a search text, a rating link's token or a
sign-in's ``next`` address never reach it. A message written to the log shows its recipient and its text with
the digits and tokens masked; the message itself stays in the outbox, where staff see it on the case.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl, quote

# Parameters whose values are filters and page numbers, never a person's data. Anything else is masked.
SAFE_QUERY_PARAMETERS = frozenset({
    "status", "service", "service_code", "page", "limit", "offset", "center", "role", "active", "start", "end",
    "to", "from", "department", "language", "calendar", "category", "priority", "kind", "format", "cursor",
    "version", "dry_run", "lane", "state",
})
MASK = "***"

_DIGITS = re.compile(r"\d(?:[\d\- ]*\d)?")
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{16,}")
_URL_QUERY = re.compile(r"([?&][^=\s&#]+=)[^&\s#]+")


def query(raw: str) -> str:
    """``raw`` (a query string) with the value of every parameter not known to be harmless masked."""
    if not raw:
        return raw
    pairs = parse_qsl(raw, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='') if k in SAFE_QUERY_PARAMETERS else MASK}"
                    for k, v in pairs)


def path(full_path: str) -> str:
    """A request's path with its query string redacted (``query``)."""
    base, sep, raw = full_path.partition("?")
    return base + sep + query(raw) if sep else base


def _digits(match: re.Match[str]) -> str:
    text = match.group(0)
    if sum(c.isdigit() for c in text) < 4:
        return text
    keep = 2  # the last two digits, enough to tell two messages apart
    out, seen = [], 0
    total = sum(c.isdigit() for c in text)
    for c in text:
        if c.isdigit():
            seen += 1
            out.append(c if seen > total - keep else "•")
        else:
            out.append(c)
    return "".join(out)


def text(body: str) -> str:
    """A message's text for the log: every URL parameter's value, every token-like word and every run of four or
    more digits (phones, tracking numbers, codes; in any script) masked."""
    body = _URL_QUERY.sub(lambda m: m.group(1) + MASK, body)
    body = _TOKEN.sub(MASK, body)
    return _DIGITS.sub(_digits, body)


def recipient(address: str) -> str:
    """A phone number or e-mail address for the log: ``+20••••••••67``, ``s•••@example.com``."""
    if "@" in address:
        name, _, domain = address.partition("@")
        return (name[:1] + "•••@" + domain) if name else "•••@" + domain
    return _DIGITS.sub(_digits, address)


class AccessLogRedaction(logging.Filter):
    """Uvicorn's access log with query strings redacted (its record's third argument is the path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args: Any = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], path(args[2]), *args[3:])
        return True


def install_access_log_redaction() -> None:
    """Add the redaction to uvicorn's access logger, once per process."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogRedaction) for f in logger.filters):
        logger.addFilter(AccessLogRedaction())
