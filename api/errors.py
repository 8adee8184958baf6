"""Domain errors as the API's JSON responses. The status is the error class's own (engine/core/errors.py), the same
one the pages answer with (admin_ui/pages.py)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from engine.core.errors import (
    DomainError,
    Invalid,
)
from engine.core.throttle import Throttled


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        status = exc.status
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, Throttled):  # how long to wait, in whole seconds (RFC 9110)
            headers = {"Retry-After": str(exc.retry_after)}
        if isinstance(exc, Invalid):
            return JSONResponse({"detail": exc.details, "message": exc.message}, status_code=status)
        return JSONResponse({"detail": exc.message}, status_code=status, headers=headers)
