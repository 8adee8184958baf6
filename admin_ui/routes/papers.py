"""Scans on the pages: open one in the viewer, attach one to a case, and a supervisor's waiver."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from admin_ui import documents
from admin_ui import session as cookie
from admin_ui.pages import CheckedForm, PageRoute, SignedIn, allow, redirect, safe_next
from admin_ui.params import PageId
from api.deps import SessionDep, settings_of
from engine.cases import checklist
from engine.cases import documents as scans
from engine.cases import lifecycle as cases
from engine.outputs import manage as outputs

router = APIRouter(route_class=PageRoute)


@router.get("/documents/{document_id}", dependencies=[allow("case.papers")])
def view(request: Request, document_id: PageId, viewer: SignedIn, db: SessionDep) -> Response:
    """The scan itself, inline: the browser's PDF viewer or image, in the page's frame or a tab of its own."""
    settings = settings_of(request)
    doc, chunks = scans.open_content(session=db, actor=viewer.signed_in, settings=settings,
                                     store=scans.store_for(settings), document_id=document_id)
    ascii_name = doc.filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return StreamingResponse(chunks, media_type=doc.content_type, headers={
        "Content-Length": str(doc.size), "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
        "Content-Disposition": f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(doc.filename, safe='')}"})


@router.get("/outputs/{number}/pdf", dependencies=[allow("output.read")])
def output_pdf(request: Request, number: str, viewer: SignedIn, db: SessionDep) -> Response:
    """An official document the case issued, to print at the hand-over (engine/outputs/manage.py checks who)."""
    row, content = outputs.pdf_of(session=db, number=number[:40], actor=viewer.signed_in, settings=settings_of(request))
    return Response(content, media_type="application/pdf", headers={
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
        "Content-Disposition": f'inline; filename="{row.number}.pdf"'})


@router.post("/outputs/{number}/print", dependencies=[allow("output.read")])
def print_output(request: Request, number: str, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    """The hand-over's print: a numbered copy, audited, opened in the browser's viewer to print."""
    row, content = outputs.print_copy(session=db, number=number[:40], actor=viewer.signed_in,
                                      settings=settings_of(request))
    return Response(content, media_type="application/pdf", headers={
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store", "X-Print-Copy": str(row.prints),
        "Content-Disposition": f'inline; filename="{row.number}.pdf"'})


@router.post("/cases/{case_id}/documents", dependencies=[allow("case.scan")])
async def attach(request: Request, case_id: PageId, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    """Scans chosen on a task or case page (fields ``scan.<kind>``), stored as the next version of their kind."""
    settings = settings_of(request)
    lang = viewer.lang
    found = documents.uploads(form)
    back = safe_next(str(form.get("next", "")), f"/cases/{case_id}")
    problems = documents.precheck(found, settings, lang)
    if problems or not found:
        cookie.flash(request, "; ".join(problems.values()) or lang.gettext("Choose a scan first."), "error")
        return redirect(back)

    def store() -> list[str]:
        case = cases.get_case(session=db, case_id=case_id, actor=viewer.signed_in, settings=settings)
        return documents.attach(db, case, found, viewer.signed_in, settings, lang)

    refused = await run_in_threadpool(store)
    if refused:
        cookie.flash(request, "; ".join(refused), "error")
    else:
        cookie.flash(request, lang.gettext("Scans attached: %(count)s", count=lang.number(len(found))))
    return redirect(back)


@router.post("/cases/{case_id}/waivers", dependencies=[allow("case.waive")])
def waive(request: Request, case_id: PageId, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    """A supervisor lets the case past intake without one required paper, saying why."""
    checklist.waive(session=db, actor=viewer.signed_in, settings=settings_of(request), case_id=case_id,
                    kind=str(form.get("kind", "")), reason=str(form.get("reason", "")))
    cookie.flash(request, viewer.lang.gettext("The paper was waived."))
    return redirect(f"/cases/{case_id}")
