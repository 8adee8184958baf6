"""The one place where domain errors become HTTP responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from engine.core.errors import (
    Conflict,
    Corrupted,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
)
from engine.core.throttle import Throttled

_STATUS = {NotFound: 404, Unauthorized: 401, Forbidden: 403, Conflict: 409, Invalid: 422, TooLarge: 413,
           RateLimited: 429, Corrupted: 500}


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, Throttled):  # how long to wait, in whole seconds (RFC 9110)
            headers = {"Retry-After": str(exc.retry_after)}
        if isinstance(exc, Invalid):
            return JSONResponse({"detail": exc.details, "message": exc.message}, status_code=status)
        return JSONResponse({"detail": exc.message}, status_code=status, headers=headers)
