"""A case's official documents (engine/outputs): the list, the PDF, revocation and correction; and their
public verification by number or by the PDF itself (no sign-in, throttled like tracking)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import ClientAddress, CurrentActor, SessionDep, SettingsDep, allow
from api.params import RowId
from engine.core.errors import TooLarge
from engine.outputs import manage, public

router = APIRouter(tags=["outputs"])


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/api/cases/{case_id}/outputs", dependencies=[allow("case.outputs")])
def case_outputs(case_id: RowId, session: SessionDep, settings: SettingsDep,
                 actor: CurrentActor) -> list[dict[str, Any]]:
    return manage.of_case(session=session, case_id=case_id, actor=actor, settings=settings)


@router.get("/api/outputs/{number}/pdf", dependencies=[allow("output.read")], response_class=Response)
def output_pdf(number: str, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> Response:
    row, content = manage.pdf_of(session=session, number=number[:40], actor=actor, settings=settings)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{row.number}.pdf"',
                             "X-Content-SHA256": row.sha256 or "", "Cache-Control": "no-store"})


@router.post("/api/outputs/{number}/print", dependencies=[allow("output.read")], response_class=Response)
def print_output(number: str, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> Response:
    """A numbered, audited copy to print: the PDF, with its copy number in ``X-Print-Copy``."""
    row, content = manage.print_copy(session=session, number=number[:40], actor=actor, settings=settings)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{row.number}.pdf"',
                             "X-Print-Copy": str(row.prints), "Cache-Control": "no-store"})


@router.post("/api/outputs/{number}/revoke", dependencies=[allow("output.revoke")])
def revoke(number: str, body: ReasonIn, session: SessionDep, settings: SettingsDep,
           actor: CurrentActor) -> dict[str, Any]:
    return manage.revoke(session=session, number=number[:40], reason=body.reason, actor=actor, settings=settings)


@router.post("/api/outputs/{number}/correct", dependencies=[allow("output.revoke")], status_code=201)
def correct(number: str, body: ReasonIn, session: SessionDep, settings: SettingsDep,
            actor: CurrentActor) -> dict[str, Any]:
    return manage.correct(session=session, number=number[:40], reason=body.reason, actor=actor, settings=settings)


@router.get("/api/public/documents/{number}", dependencies=[allow("public")], tags=["public"])
def public_document(number: str, session: SessionDep, settings: SettingsDep,
                    client: ClientAddress) -> dict[str, Any]:
    return public.lookup(session=session, number=number[:40], settings=settings, client=client)


@router.post("/api/public/documents/{number}/check", dependencies=[allow("public")], tags=["public"])
async def check_document(number: str, request: Request, session: SessionDep, settings: SettingsDep,
                         client: ClientAddress) -> dict[str, Any]:
    """The PDF itself as the body (``Content-Type: application/pdf``): does it match the document's record?"""
    content = await read_limited(request, settings.document_verify_max_bytes)
    return await run_in_threadpool(public.check_upload, session=session, number=number[:40], content=content,
                                   settings=settings, client=client)


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused (422) as soon as it passes ``limit`` bytes: a large upload is never held whole."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge("outputs.upload_too_large", max_bytes=limit)
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge("outputs.upload_too_large", max_bytes=limit)
        parts.append(chunk)
    return b"".join(parts)
