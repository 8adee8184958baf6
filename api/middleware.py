"""What the app's pure ASGI middleware share (api/limits.py, api/nul.py, api/observability.py,
api/resilience.py): the app they wrap, and a pass-through for what is not an HTTP request (the lifespan events)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """Pure ASGI middleware that works on HTTP requests only, in ``handle``; everything else goes straight on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError
