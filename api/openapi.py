"""The OpenAPI document tells every answer a route can give, refusals included.

FastAPI documents the success and its own 422; the refusals come from one place (api/errors.py) and are the same
for every route, so they are declared here once instead of on each route. An outside fuzzer (Schemathesis, in the
suite) checks each response against this document: a status or a body that is not declared is a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI

REFUSAL = "Refusal"
_REFUSAL_SCHEMA: dict[str, Any] = {
    "title": REFUSAL,
    "type": "object",
    "description": "A refusal: `detail` is a sentence, or one entry per problem (with the field it concerns, and "
                   "its Arabic beside its English); `message` and `message_ar` say the refusal in English and "
                   "Arabic, `message_id` is its id in the catalogs (null when the words are not the catalogs').",
    "properties": {
        "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
        "message": {"type": "string"},
        "message_ar": {"type": "string"},
        "message_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["detail", "message", "message_ar"],
}

_WORDS = {
    400: "The body could not be read (not UTF-8, or not the declared media type)",
    401: "Not signed in, or the token is no longer valid",
    403: "Signed in, but this user may not do this",
    404: "Nothing of that name or number (or the caller may not know it exists)",
    409: "The state changed under the caller: already done, taken by someone else, or a lost race",
    413: "The request is over a size limit named in the settings",
    422: "The input is not valid: each problem names its field",
    429: "Too many attempts: try again later",
}
_WRITES = {"post", "put", "patch", "delete"}
# Routes where a wrong guess is counted (sign-in, citizens' tracking and links): these may answer 429.
_THROTTLED_TAGS = {"auth", "public", "ratings", "complaints"}


def refusals_for(method: str, operation: dict[str, Any]) -> list[int]:
    """The refusal statuses one operation may answer."""
    codes = [404, 422]
    if operation.get("security") or "auth" in operation.get("tags", []):
        codes += [401, 403]
    if "requestBody" in operation:
        codes.append(400)
    if method in _WRITES:
        codes += [409, 413]
    if _THROTTLED_TAGS & set(operation.get("tags", [])) or "429" in operation.get("responses", {}):
        codes.append(429)
    return sorted(codes)


def declare_refusals(document: dict[str, Any]) -> dict[str, Any]:
    """Add the refusals to every operation of an OpenAPI document (in place; returned for convenience)."""
    document.setdefault("components", {}).setdefault("schemas", {})[REFUSAL] = _REFUSAL_SCHEMA
    ref = {"$ref": f"#/components/schemas/{REFUSAL}"}
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in {"get", "head", *_WRITES}:
                continue
            responses = operation.setdefault("responses", {})
            for code in refusals_for(method, operation):
                # 422 is FastAPI's own (HTTPValidationError) or the engine's Invalid: either shape is a Refusal.
                responses[str(code)] = {"description": _WORDS[code],
                                        "content": {"application/json": {"schema": ref}}}
    return document


def install(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_refusals(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def tried_first(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Try ``routers`` (the hot path's) before the app's other routes, and keep the OpenAPI document in the
    order the routes were declared.

    A request is matched against the app's routes in their order, each included router's routes in turn: a
    completion went past the documentation's pages and five routers (health, sign-in, deploys, the catalog, the
    drafts) before it reached its own. Moving a router ahead changes no answer as long as no route it jumps over
    can match a path of its (tests/api/test_assembly.py checks their paths' fixed beginnings). The document is
    built with the routes put back where they were declared, so its paths keep their order."""
    routes = app.router.routes
    hot = [i for i, route in enumerate(routes) if getattr(route, "original_router", None) in routers]
    declared = [(i, routes[i]) for i in hot]  # where each was declared
    moved = set(hot)
    routes[:] = [routes[i] for i in hot] + [route for i, route in enumerate(routes) if i not in moved]
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            served = app.router.routes
            as_declared = [route for route in served if all(route is not r for _, r in declared)]
            for i, route in declared:
                as_declared.insert(i, route)
            # Swapped only while the document is built: synchronous code on the event loop, no request is
            # routed meanwhile (and both lists hold the same routes).
            app.router.routes = as_declared
            try:
                build()
            finally:
                app.router.routes = served
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
