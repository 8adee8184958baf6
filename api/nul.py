"""Refuse text that holds the NUL character (U+0000) before it reaches the database (422 naming where it is).

PostgreSQL stores no NUL in text or JSON ("text fields cannot contain NUL (0x00) bytes"): a NUL in a query
parameter, a path or a JSON or form field was a 500 there and a stored oddity on SQLite. No field of this system
has a use for it, so it is refused at the door for the API and the pages alike. Uploaded files (multipart) are
not looked into: a scan's bytes are bytes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Message, Receive, Scope, Send

from api.errors import body as refusal
from api.middleware import HttpMiddleware
from engine.core.refusals import say

_MESSAGE = "request.nul"
_BODY_TYPES = (b"application/json", b"application/x-www-form-urlencoded")


def _in(value: Any, loc: list[str | int]) -> Iterator[list[str | int]]:
    """Where, in a parsed JSON value, a key or a string holds a NUL."""
    if isinstance(value, str):
        if "\x00" in value:
            yield loc
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _in(item, [*loc, i])
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from ([[*loc, key]] if "\x00" in key else _in(item, [*loc, key]))


def _in_query(raw: bytes, where: str) -> list[list[str | int]]:
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace")
    return [[where, name] for name, value in pairs if "\x00" in name or "\x00" in value]


def _may_hold_nul(raw: bytes) -> bool:
    """False when no spelling of a NUL is in ``raw``: the byte itself, ``%00`` (a query or a form) or ``\\u0000``
    (JSON writes it no other way): most requests are told apart without being parsed a second time."""
    return b"\x00" in raw or b"%00" in raw or b"\\u0000" in raw


def problems_in(scope: Scope, body: bytes | None) -> list[list[str | int]]:
    """Every place of the request (path, query, JSON or form body) where a NUL is written."""
    found: list[list[str | int]] = []
    if "\x00" in scope.get("path", ""):  # the server has decoded %00 already
        found.append(["path"])
    query = scope.get("query_string", b"")
    if _may_hold_nul(query):
        found += _in_query(query, "query")
    if body and _may_hold_nul(body):
        kind = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        if kind == b"application/json":
            # Not JSON, or nested past what the parser follows: the route says so (422 or 400) in its own words.
            with contextlib.suppress(ValueError, RecursionError):
                found += _in(json.loads(body), ["body"])
        elif kind == b"application/x-www-form-urlencoded":
            found += _in_query(body, "body")
    return found


class RefuseNul(HttpMiddleware):
    """ASGI middleware: a 422 for a NUL anywhere in the path, the query or a JSON or urlencoded body."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        body: bytes | None = None
        if kind in _BODY_TYPES:
            # These bodies are read whole by the routes anyway, and the size limit (api/limits.py) runs first.
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    await self.app(scope, _replay([message]), send)
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            receive = _replay([{"type": "http.request", "body": body, "more_body": False}], receive)
        found = problems_in(scope, body)
        if found:
            detail = [{"loc": loc, "msg": say(_MESSAGE), "type": "value_error.nul"} for loc in found]
            payload = json.dumps(refusal(say(_MESSAGE), detail), ensure_ascii=False).encode()
            await send({"type": "http.response.start", "status": 422,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        await self.app(scope, receive, send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
