"""Database trouble is a 503 with ``Retry-After``, never a 500 (storage/trouble.py says what trouble is).

A request that meets trouble before committing anything is run once more, from the body kept as it was
read (a body larger than ``max_request_bytes`` is not kept, and such a request is not run again): the pool
has dropped the broken connection by then (pre-ping checks the others), so a restarted server or a lost
deadlock usually costs the client nothing. A request that had started a commit is not run again (the commit
may have reached the server even when its answer did not): it is answered 503 saying its work may have been
saved, and the client retries it with its ``Idempotency-Key`` (which answers it from the first run) or reads
the result. The log lines name the route's template and the error's class and SQLSTATE, never the statement
or its values (which hold citizens' details).
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import body as refusal
from api.middleware import HttpMiddleware
from api.observability import route_template
from engine.core.refusals import say
from engine.core.settings import Settings
from storage import trouble

log = logging.getLogger(__name__)


class DatabaseTrouble(HttpMiddleware):
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        super().__init__(app)
        self.settings = settings

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        kept: list[Message] = []
        kept_bytes = 0
        replayable = True
        started = False

        async def keeping_receive() -> Message:
            nonlocal kept_bytes, replayable
            message = await receive()
            if message["type"] == "http.request" and replayable:
                kept_bytes += len(message.get("body", b""))
                if kept_bytes > self.settings.max_request_bytes:
                    replayable = False
                    kept.clear()
                else:
                    kept.append(message)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        commits, token = trouble.count_commits()
        try:
            await self.app(scope, keeping_receive, watching_send)
            return
        except Exception as exc:
            if started or not trouble.is_trouble(exc):
                raise
            if commits.count or not replayable:
                log.warning("database trouble after a commit began, answered 503: %s %s: %s", scope["method"],
                            route_template(scope), _what(exc))
                await self._unavailable(send, maybe_saved=bool(commits.count))
                return
            log.warning("database trouble, running the request once more: %s %s: %s", scope["method"],
                        route_template(scope), _what(exc))
        finally:
            trouble.stop_counting(token)

        replay = list(kept)

        async def replayed_receive() -> Message:
            if replay:
                return replay.pop(0)
            return await receive()  # the body was read whole: this waits for the client to go away

        try:
            await self.app(scope, replayed_receive, watching_send)
        except Exception as exc:
            if started or not trouble.is_trouble(exc):
                raise
            log.warning("database trouble again, answered 503: %s %s: %s", scope["method"], route_template(scope),
                        _what(exc))
            await self._unavailable(send)

    async def _unavailable(self, send: Send, maybe_saved: bool = False) -> None:
        said = say("database.maybe_saved" if maybe_saved else "database.unavailable")
        body = json.dumps(refusal(said), ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"retry-after", str(self.settings.retry_after_seconds).encode())]})
        await send({"type": "http.response.body", "body": body})


def _what(exc: BaseException) -> str:
    """The error's class and SQLSTATE: never its text, which carries the statement and its values."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    return f"{type(exc).__name__}({type(orig).__name__ if orig is not None else ''}{', ' + state if state else ''})"
