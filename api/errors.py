"""Refusals as the API's JSON responses, in English and Arabic. The status is the error class's own
(engine/core/errors.py), the same one the pages answer with (admin_ui/pages.py).

Every refusal body the API sends, whoever makes it (a route, a middleware, the router, request validation), is
built by :func:`body` and has the same fields (an unexpected server error's 500 too):

- ``detail``: what clients always read: the English sentence, or one entry per problem (each with its English
  ``msg`` or ``message`` and, beside it, ``msg_ar`` or ``message_ar``);
- ``message`` and ``message_ar``: the refusal in English and in Arabic;
- ``message_id``: the refusal's id in the catalogs (engine/locale/*/LC_MESSAGES/refusals.po), or null.

The words come from the catalogs by message id (engine/core/refusals.py). A refusal whose words are not the
catalog's (a sentence from a library, an unforeseen framework error) still gets Arabic: the catalog's general
sentence (``request.refused``, ``request.problem``) with the English kept beside it, never null.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.core import nodes as engine_nodes
from engine.core import refusals
from engine.core.errors import DomainError, Invalid
from engine.core.throttle import Throttled
from storage import nodes


def body(message: str, detail: Any = None) -> dict[str, Any]:
    """The JSON of a refusal: ``message`` (a :class:`refusals.Text` from ``say``, or a plain sentence) in both
    languages, and ``detail`` (the English sentence when not given; a list of problems gets Arabic beside each)."""
    if detail is None:
        detail = str(message)
    elif isinstance(detail, list):
        detail = refusals.with_arabic(detail)
    return {"detail": detail, "message": str(message), "message_ar": refusals.arabic_or_general(message),
            "message_id": message.message_id if isinstance(message, refusals.Text) else None}


def validation_problems(errors: Any) -> list[dict[str, Any]]:
    """pydantic's errors (FastAPI's request validation) as they were, each with ``msg_ar`` beside its ``msg``."""
    out = []
    for error in jsonable_encoder(errors):
        error = dict(error)
        error["msg_ar"] = refusals.validation_arabic(str(error.get("type", "")), error.get("ctx"),
                                                     str(error.get("msg", "")))
        out.append(error)
    return out


def _router_refusal(request: Request, exc: StarletteHTTPException) -> refusals.Text:
    """The words of a refusal made by the router or the framework (an unknown address, a wrong method, a body
    that cannot be parsed)."""
    if exc.status_code == 404:
        return refusals.say("request.not_found")
    if exc.status_code == 405:
        return refusals.say("request.method_not_allowed", method=request.method)
    if exc.status_code == 400:
        return refusals.say("request.unreadable", reason=str(exc.detail))
    return refusals.say("request.refused", reason=str(exc.detail))


def install(app: FastAPI) -> None:
    # The catalogs are read now, once per process, not by the first refusal: an async route or middleware may
    # then say a refusal on the event loop without touching a file (tests/support/event_loop.py).
    for language in refusals.LANGUAGES:
        refusals.catalog(language)

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        status = exc.status
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, Throttled):  # how long to wait, in whole seconds (RFC 9110)
            headers = {"Retry-After": str(exc.retry_after)}
        if isinstance(exc, Invalid):
            return JSONResponse(body(exc.message, exc.details), status_code=status)
        return JSONResponse(body(exc.message), status_code=status, headers=headers)

    @app.exception_handler(nodes.CentralOnly)
    async def central_only(_request: Request, exc: nodes.CentralOnly) -> JSONResponse:
        # The storage guard of a center node (storage/nodes.py): central's tables come from central only.
        refusal = engine_nodes.central_only(exc)
        return JSONResponse(body(refusal.message), status_code=refusal.status)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422, its ``detail`` as FastAPI writes it, with the Arabic of each problem beside it.
        return JSONResponse(body(refusals.say("request.invalid"), validation_problems(exc.errors())),
                            status_code=422)

    @app.exception_handler(Exception)
    async def server_error(_request: Request, _exc: Exception) -> JSONResponse:
        # A bug, not a refusal: the outermost handler (the error is logged and re-raised all the same). The
        # answer says so in both languages and nothing of the error's text, which may hold a citizen's details.
        return JSONResponse(body(refusals.say("request.server_error"), "Internal Server Error"), status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_refusal(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code < 400:
            return await http_exception_handler(request, exc)
        content = body(_router_refusal(request, exc), exc.detail)
        return JSONResponse(content, status_code=exc.status_code, headers=getattr(exc, "headers", None))
