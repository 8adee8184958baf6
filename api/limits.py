"""Refuse oversize request bodies before they are read into memory (413), whatever their framing; and the one
table of which path may send how much (the API's and the pages' alike, each a named setting)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import body as refusal
from api.middleware import HttpMiddleware
from engine.core.refusals import say
from engine.core.settings import Settings

_DOCUMENT_UPLOAD = re.compile(r"^/api/cases/[^/]+/documents/?$")
_DRAFT = re.compile(r"^/api/services/[^/]+/draft(/validate)?/?$")
# Page forms that carry scans: the front desk's intake (one per paper of the service) and "attach scans".
_SCAN_FORMS = re.compile(r"^/(desk/[^/]+|cases/\d+/documents)/?$")
MAX_SCANS_PER_FORM = 12
# The modeler's draft calls carry a whole service's files, as a deploy does.
_DRAFT_CALLS = re.compile(r"^/services/[^/]+/draft(/validate)?/?$")


def limit_for(path: str, settings: Settings) -> int:
    """The body limit of a request to ``path``."""
    if _SCAN_FORMS.match(path):
        return settings.max_document_bytes * MAX_SCANS_PER_FORM + settings.max_request_bytes
    if _DRAFT_CALLS.match(path):
        return settings.max_deploy_bytes + settings.max_request_bytes
    if _DOCUMENT_UPLOAD.match(path):
        return settings.max_document_bytes + settings.max_document_form_bytes
    if path.startswith("/api/processes") or _DRAFT.match(path):
        return settings.max_deploy_bytes  # a whole service's files, like the modeler's own calls
    return settings.max_request_bytes


# Pure ASGI, so that an oversize body is refused unread.
class BodyLimit(HttpMiddleware):
    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        super().__init__(app)
        self.limit_for = limit_for

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        seen = 0
        exceeded = False
        replaced = False

        async def guarded_send(message: Message) -> None:
            # The framework may catch our error while parsing and answer 400 on its own; when the body
            # was over the limit, the client gets the 413 that explains why instead.
            nonlocal replaced
            if exceeded:
                if message["type"] == "http.response.start" and not replaced:
                    replaced = True
                    await _too_large(send, limit)
                return
            await send(message)

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not replaced:
                replaced = True
                await _too_large(send, limit)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(refusal(say("request.too_large", limit=limit)), ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
