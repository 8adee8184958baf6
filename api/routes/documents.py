"""Scanned papers of a case, the checklist of required papers, and custody of the paper originals."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api import multipart
from api.deps import CurrentActor, SessionDep, SettingsDep, StoreDep, allow
from api.params import RowId
from api.schemas import (
    ChecklistPublic,
    DocumentPublic,
    OriginalMove,
    OriginalPublic,
    WaiverCreate,
    WaiverPublic,
)
from engine.cases import checklist, custody, documents

router = APIRouter(prefix="/api", tags=["documents"])

_FORM: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["kind", "file"],
    "properties": {"kind": {"type": "string", "description": "a document kind of the case's service"},
                   "file": {"type": "string", "format": "binary"}}}}}}}


@router.post("/cases/{case_id}/documents", dependencies=[allow("case.scan")], response_model=DocumentPublic,
             status_code=201, openapi_extra=_FORM)
async def upload(case_id: RowId, request: Request, session: SessionDep, settings: SettingsDep, actor: CurrentActor,
                 store: StoreDep) -> DocumentPublic:
    """Scan a paper into the case (multipart fields ``kind`` and ``file``): streamed to the document store."""
    def run(form: multipart.StreamingForm, size_hint: int | None) -> DocumentPublic:
        doc = documents.upload(session=session, actor=actor, settings=settings, store=store, case_id=case_id,
                               parts=form, size_hint=size_hint)
        return DocumentPublic.of(doc)

    return await multipart.read_streamed(request, run)


@router.get("/cases/{case_id}/documents", dependencies=[allow("case.papers")], response_model=list[DocumentPublic])
def list_documents(case_id: RowId, session: SessionDep, settings: SettingsDep,
                   actor: CurrentActor) -> list[DocumentPublic]:
    """Every version of every scan of the case, by kind."""
    rows = documents.list_documents(session=session, actor=actor, settings=settings, case_id=case_id)
    return [DocumentPublic.of(d) for d in rows]


def _disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/documents/{document_id}/content", dependencies=[allow("case.papers")], response_class=StreamingResponse)
def content(document_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor, store: StoreDep,
            verify: bool = False) -> StreamingResponse:
    """The scan's bytes. ``?verify=true`` checks the stored file against its SHA-256 before sending anything."""
    doc, chunks = documents.open_content(session=session, actor=actor, settings=settings, store=store,
                                         document_id=document_id, verify=verify)
    return StreamingResponse(chunks, media_type=doc.content_type, headers={
        "Content-Length": str(doc.size), "Content-Disposition": _disposition(doc.filename),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store", "ETag": f'"{doc.sha256}"',
        "X-Content-SHA256": doc.sha256})


@router.get("/cases/{case_id}/checklist", dependencies=[allow("case.read")], response_model=ChecklistPublic)
def case_checklist(case_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> ChecklistPublic:
    """The service's papers: which are scanned, which are missing, which a supervisor waived."""
    return ChecklistPublic.of(checklist.for_case(session=session, actor=actor, settings=settings, case_id=case_id))


@router.post("/cases/{case_id}/waivers", dependencies=[allow("case.waive")], response_model=WaiverPublic,
             status_code=201)
def waive(case_id: RowId, body: WaiverCreate, session: SessionDep, settings: SettingsDep,
          actor: CurrentActor) -> WaiverPublic:
    """A supervisor lets the case past intake without a required paper (an audit event)."""
    return WaiverPublic.of(checklist.waive(session=session, actor=actor, settings=settings, case_id=case_id,
                                           kind=body.kind, reason=body.reason))


@router.get("/cases/{case_id}/originals", dependencies=[allow("case.read")], response_model=list[OriginalPublic])
def originals(case_id: RowId, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> list[OriginalPublic]:
    """Where each recorded paper original of the case is, and how it got there."""
    found = custody.originals(session=session, actor=actor, settings=settings, case_id=case_id)
    return [OriginalPublic.of(o) for o in found]


@router.post("/cases/{case_id}/originals", dependencies=[allow("case.custody")], response_model=OriginalPublic,
             status_code=201)
def move_original(case_id: RowId, body: OriginalMove, session: SessionDep, settings: SettingsDep,
                  actor: CurrentActor) -> OriginalPublic:
    """Record that a paper original goes somewhere (``front_desk``, a department, ``returned_to_citizen``,
    ``archived``)."""
    return OriginalPublic.of(custody.move(session=session, actor=actor, settings=settings, case_id=case_id,
                                          kind=body.kind, to=body.to, note=body.note))


@router.post("/cases/{case_id}/originals/{kind}/receipt", dependencies=[allow("case.custody")],
             response_model=OriginalPublic)
def confirm_receipt(case_id: RowId, kind: str, session: SessionDep, settings: SettingsDep,
                    actor: CurrentActor) -> OriginalPublic:
    """Someone where the original was sent confirms that it arrived."""
    return OriginalPublic.of(custody.confirm_receipt(session=session, actor=actor, settings=settings,
                                                     case_id=case_id, kind=kind))
