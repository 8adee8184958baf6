"""Open311 GeoReport v2 (engine/citizen/open311.py), to the letter of http://wiki.open311.org/GeoReport_v2:
``/open311/discovery.json``, ``/open311/v2/services.{json,xml}``, ``/open311/v2/services/{code}.{json,xml}``,
``POST /open311/v2/requests.{json,xml}`` (form-encoded, with an ``api_key``), ``GET /open311/v2/requests.{…}`` and
``/open311/v2/requests/{id}.{…}``; and the admins' ``POST /api/open311/keys`` and ``DELETE /api/open311/keys/{name}``.

These routes answer in the specification's shapes, refusals included: an array of ``{code, description}``
(``<errors><error>`` in XML), with 403 for the key, 404 for what does not exist and 400 for the rest. The
description is Arabic when the client asks for it (``Accept-Language: ar``), English otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from lxml import etree
from pydantic import BaseModel, Field

from api.deps import ClientAddress, CurrentActor, SessionDep, SettingsDep, allow, central_only
from engine.citizen import open311, open311_keys
from engine.core.errors import DomainError, Forbidden, Invalid, NotFound, RateLimited, Unauthorized
from engine.core.settings import Settings

# The GeoReport v2 routes answer in the specification's shapes (its refusals are arrays, its formats JSON and XML):
# the specification documents them, not the app's OpenAPI document, whose refusal shape they do not use.
router = APIRouter(tags=["open311"])
SPEC_ROUTE: dict[str, Any] = {"include_in_schema": False}
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# XML element names of a list's members (the Spark convention the specification maps JSON from).
MEMBERS = {"services": "service", "service_requests": "request", "attributes": "attribute", "values": "value",
           "errors": "error", "endpoints": "endpoint", "formats": "format"}


def language(request: Request) -> str:
    return "ar" if request.headers.get("accept-language", "").strip().lower().startswith("ar") else "en"


def _element(parent: etree._Element, name: str, value: Any) -> None:
    node = etree.SubElement(parent, name)
    _fill(node, name, value)


def _fill(node: etree._Element, name: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _element(node, key, inner)
    elif isinstance(value, list):
        for inner in value:
            _element(node, MEMBERS.get(name, "item"), inner)
    elif isinstance(value, bool):
        node.text = "true" if value else "false"
    elif value is not None:
        node.text = str(value)


def answer(content: Any, fmt: str, root: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``content`` as JSON, or as XML under ``root`` with the UTF-8 declaration the specification asks for."""
    if fmt == "xml":
        top = etree.Element(root)
        _fill(top, root, content)
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(top, xml_declaration=False,
                                                                             encoding="utf-8")
    else:
        body = json.dumps(content, ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, media_type=FORMATS.get(fmt, FORMATS["json"]), headers=headers)


def refusal(exc: DomainError, fmt: str, lang: str) -> Response:
    """A refusal in the specification's shape: 403 for the key, 404 for what is not there, 400 for the rest."""
    if isinstance(exc, Forbidden | Unauthorized):
        status = 403
    elif isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, RateLimited):
        status = 429
    else:
        status = 400
    details = exc.details if isinstance(exc, Invalid) and exc.details else []
    errors = [{"code": status, "description": str(d.get("msg_ar") if lang == "ar" and d.get("msg_ar") else
                                                  d.get("msg"))} for d in details]
    errors = errors or [{"code": status, "description": exc.text(lang)}]
    retry = getattr(exc, "retry_after", None)
    return answer(errors, fmt, "errors", status, {"Retry-After": str(retry)} if retry else None)


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise NotFound("open311.format_unknown", fmt=fmt[:10])
    return fmt


def _answer(fmt: str, root: str, work: Callable[[str], Any], lang: str,
            reader: tuple[Settings, str] | None = None) -> Response:
    """Run ``work`` (in a worker thread: it reads the database) and answer in ``fmt``, or refuse. ``reader``
    (the settings and the caller's address) counts a public read against that address first."""
    try:
        chosen = _format(fmt)
    except DomainError as exc:
        return refusal(exc, "json", lang)
    try:
        if reader is not None:
            open311.count_read(*reader)
        content = work(lang)
    except DomainError as exc:
        return refusal(exc, chosen, lang)
    return answer(content, chosen, root)


@router.get("/open311/discovery.{fmt}", dependencies=[allow("public")], **SPEC_ROUTE)
def discovery(request: Request, fmt: str, settings: SettingsDep, client: ClientAddress) -> Response:
    """Service discovery: where the GeoReport v2 endpoint is and which formats it speaks."""
    base = (settings.public_base_url or str(request.base_url)).rstrip("/")

    def work(_lang: str) -> dict[str, Any]:
        return {"changeset": "2026-12-06T00:00:00Z", "contact": base, "key_service": f"{base}/api/open311/keys",
                "endpoints": [{"specification": open311.SPECIFICATION, "url": f"{base}/open311/v2",
                               "changeset": "2026-12-06T00:00:00Z", "type": "production",
                               "formats": ["text/xml", "application/json"]}]}

    return _answer(fmt, "discovery", work, language(request), (settings, client))


@router.get("/open311/v2/services.{fmt}", dependencies=[allow("public")], **SPEC_ROUTE)
def service_list(request: Request, fmt: str, session: SessionDep, settings: SettingsDep,
                 client: ClientAddress) -> Response:
    return _answer(fmt, "services", lambda lang: open311.services(session=session, lang=lang), language(request),
                   (settings, client))


@router.get("/open311/v2/services/{code}.{fmt}", dependencies=[allow("public")], **SPEC_ROUTE)
def service_definition(request: Request, code: Annotated[str, Path(max_length=100)], fmt: str,
                       session: SessionDep, settings: SettingsDep, client: ClientAddress) -> Response:
    return _answer(fmt, "service_definition",
                   lambda lang: open311.definition(session=session, code=code, settings=settings, lang=lang),
                   language(request), (settings, client))


@router.post("/open311/v2/requests.{fmt}", dependencies=[allow("open311.file")], tags=["public"], **SPEC_ROUTE)
async def file_request(request: Request, fmt: str, session: SessionDep, settings: SettingsDep) -> Response:
    """POST Service Request: form-encoded (application/x-www-form-urlencoded), with the application's
    ``api_key``; ``attribute[code]=value`` (``attribute[code][]`` for a multivaluelist). 403 for a missing or
    revoked key, 404 for an unknown ``service_code``, 400 for an attribute that is not the service's, a
    required one missing or a value the form refuses; 429 past the key's requests per minute. The same POST
    sent again answers with the request it filed the first time."""
    fields: dict[str, list[str]] = {}
    encoded = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    if encoded:
        form = await request.form()
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(key, []).append(value)

    def work(lang: str) -> list[dict[str, Any]]:
        if not encoded:
            raise Invalid("open311.not_form_encoded")
        return [open311.file(session=session, form=fields, settings=settings, lang=lang)]

    return await run_in_threadpool(_answer, fmt, "service_requests", work, language(request))


@router.get("/open311/v2/requests.{fmt}", dependencies=[allow("public")], **SPEC_ROUTE)
def request_list(request: Request, fmt: str, session: SessionDep, settings: SettingsDep,
                 client: ClientAddress) -> Response:
    params = dict(request.query_params.items())
    return _answer(fmt, "service_requests",
                   lambda lang: open311.find(session=session, params=params, settings=settings, lang=lang),
                   language(request), (settings, client))


@router.get("/open311/v2/requests/{number}.{fmt}", dependencies=[allow("public")], **SPEC_ROUTE)
def one_request(request: Request, number: Annotated[str, Path(max_length=40)], fmt: str,
                session: SessionDep, settings: SettingsDep, client: ClientAddress) -> Response:
    return _answer(fmt, "service_requests", lambda lang: open311.one(session=session, number=number, lang=lang),
                   language(request), (settings, client))


class KeyRequest(BaseModel):
    name: str = Field(max_length=1000)


class KeyIssued(BaseModel):
    name: str
    api_key: str


@router.post("/api/open311/keys", dependencies=[allow("users.manage"), central_only()], response_model=KeyIssued,
             status_code=201)
def issue_key(body: KeyRequest, session: SessionDep, actor: CurrentActor) -> KeyIssued:
    """An ``api_key`` for an outside application (shown once; stored hashed)."""
    row, api_key = open311_keys.issue(session=session, name=body.name, actor=actor)
    return KeyIssued(name=row.name, api_key=api_key)


@router.delete("/api/open311/keys/{name:path}", dependencies=[allow("users.manage"), central_only()], status_code=204)
def revoke_key(name: Annotated[str, Path(max_length=100)], session: SessionDep, actor: CurrentActor) -> Response:
    """Revoke an application's key: its requests are refused with 403 from now on. The name is the rest of the
    path, so that a name with a ``/`` (``Madinati/iOS``) can be revoked too."""
    open311_keys.revoke(session=session, name=name, actor=actor)
    return Response(status_code=204)

