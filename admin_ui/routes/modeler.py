"""The analysts' web modeler: the page (bpmn-js, dmn-js, the forms' JSON with a live preview) and the calls
its script makes: open the draft, save it, validate it, publish it, preview a form. Beside it, the editor of a
draft's document templates (``outputs/*.html``): a plain form (no script needed) that previews the document as
the PDF a case would issue, filled with a test path's data, and saves the template into the draft, refusing a
template that a deploy would refuse, with the reasons.

The calls answer JSON and are page routes like the others: the session cookie says who is calling and each
POST carries the page's CSRF token in the ``X-CSRF-Token`` header. They call engine/catalog/drafts.py directly.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from admin_ui import session as cookie
from admin_ui.i18n import ELEMENT_WORDS, N_
from admin_ui.labels import load as load_labels
from admin_ui.pages import (
    SECURITY_HEADERS,
    CheckedForm,
    PageRoute,
    SignedIn,
    Viewer,
    allow,
    analyst,
    redirect,
    render,
    templates,
)
from api.deps import SessionDep, central_only, settings_of
from engine.bpmn.compiler import PackageRefused
from engine.catalog import deploy_checks, drafts, output_templates, processes
from engine.core.errors import Conflict, Invalid, TooLarge
from engine.core.refusals import say
from engine.outputs import preview as output_preview
from forms import fields as form_fields
from forms import schema as form_schema

router = APIRouter(route_class=PageRoute)
MAX_PREVIEW_BYTES = 256 * 1024


def _json(body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


async def _posted(request: Request, viewer: Viewer, limit: int) -> Any:
    analyst(viewer)
    cookie.check_csrf(request, request.headers.get("x-csrf-token"))
    body = await request.body()
    if len(body) > limit:
        raise TooLarge("modeler.too_large")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # nested too deep: RecursionError
        raise Invalid("modeler.not_json", [{"file": None, "element_id": None,
                                            "message": say("modeler.not_json")}]) from exc


def _files(body: Any) -> dict[str, bytes]:
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise Invalid("modeler.files_missing", [{"file": None, "element_id": None,
                                                 "message": say("modeler.files_missing")}])
    return processes.decode_files(files)


def _limit(request: Request) -> int:
    settings = settings_of(request)
    return settings.max_deploy_bytes + settings.max_request_bytes


def _problems(found: list[dict[str, Any]], viewer: Viewer) -> list[dict[str, Any]]:
    """The report's problems with the reason and fix in the reader's language."""
    arabic = viewer.lang.code == "ar"
    out = []
    for p in found:
        kind = p.get("element_type")
        out.append({**p, "reason": (p.get("message_ar") if arabic else None) or p["message"],
                    "remedy": (p.get("fix_ar") if arabic else p.get("fix")) or "",
                    "kind": viewer.lang.gettext(ELEMENT_WORDS[kind]) if kind in ELEMENT_WORDS else (kind or "")})
    return out


def _state(draft: drafts.Draft) -> dict[str, Any]:
    return {"revision": draft.revision, "saved_by": draft.saved_by,
            "saved_at": draft.saved_at.isoformat() if draft.saved_at else None,
            "base_version": draft.base_version, "published_version": draft.published_version}


@router.get("/services/{code}/modeler", dependencies=[allow("services.deploy")])
def modeler_page(request: Request, code: str, viewer: SignedIn, db: SessionDep) -> HTMLResponse:
    analyst(viewer)
    draft = drafts.open_draft(session=db, service_code=code, actor=viewer.signed_in)
    return render(request, "modeler.html", code=code, draft=draft, labels=load_labels(db),
                  outputs=output_preview.outputs_of(draft.files))


@router.get("/services/{code}/draft.json", dependencies=[allow("services.deploy")])
def draft_json(request: Request, code: str, viewer: SignedIn, db: SessionDep) -> JSONResponse:
    analyst(viewer)
    draft = drafts.open_draft(session=db, service_code=code, actor=viewer.signed_in)
    return _json({"files": processes.encode_files(draft.files), **_state(draft)})


# The calls below read the request's body on the event loop (``await``), then do their work (decoding,
# compiling, running the analysts' paths, the database) in a worker thread: a deploy takes seconds, and
# the server keeps answering meanwhile (tests/api/test_event_loop.py).


@router.post("/services/{code}/draft", dependencies=[allow("services.deploy")])
async def save(request: Request, code: str, viewer: SignedIn, db: SessionDep) -> JSONResponse:
    body = await _posted(request, viewer, _limit(request))
    return await run_in_threadpool(_save, request, code, body, viewer, db)


def _save(request: Request, code: str, body: Any, viewer: Viewer, db: SessionDep) -> JSONResponse:
    revision = body.get("revision") if isinstance(body, dict) else None
    draft = drafts.save_draft(session=db, service_code=code, files=_files(body),
                              revision=revision if isinstance(revision, int) else -1, actor=viewer.signed_in,
                              settings=settings_of(request))
    return _json({**_state(draft), "message": viewer.lang.gettext("Draft saved (revision %(revision)s).",
                                                                   revision=viewer.lang.number(draft.revision))})


@router.post("/services/{code}/draft/validate", dependencies=[allow("services.deploy")])
async def validate(request: Request, code: str, viewer: SignedIn, db: SessionDep) -> JSONResponse:
    body = await _posted(request, viewer, _limit(request))
    return await run_in_threadpool(_validate, request, body, viewer)


def _validate(request: Request, body: Any, viewer: Viewer) -> JSONResponse:
    files = _files(body)
    drafts.check_files(files, settings_of(request))
    found = _problems(deploy_checks.validate(files, settings_of(request)), viewer)
    message = (viewer.lang.gettext("Problems found: %(count)s", count=viewer.lang.number(len(found))) if found
               else viewer.lang.gettext("No problems: the service can be published."))
    return _json({"problems": found, "message": message})


@router.post("/services/{code}/draft/publish", dependencies=[allow("services.deploy"), central_only()])
async def publish(request: Request, code: str, viewer: SignedIn, db: SessionDep) -> JSONResponse:
    await _posted(request, viewer, 1024)
    return await run_in_threadpool(_publish, request, code, viewer, db)


def _publish(request: Request, code: str, viewer: Viewer, db: SessionDep) -> JSONResponse:
    settings = settings_of(request)
    try:
        version, created = drafts.publish_draft(session=db, service_code=code, actor=viewer.signed_in,
                                                settings=settings)
    except (PackageRefused, Invalid) as exc:
        draft = drafts.open_draft(session=db, service_code=code, actor=viewer.signed_in)
        found = _problems(deploy_checks.report(exc.details, draft.files, settings), viewer)
        return _json({"problems": found, "message": viewer.lang.gettext(
            "Not published: problems found: %(count)s (listed below).", count=viewer.lang.number(len(found)))},
            status_code=422)
    except Conflict as exc:
        return _json({"problems": [], "message": exc.text(viewer.lang.code)}, status_code=exc.status)
    lang = viewer.lang
    words = (N_("Published as version %(version)s.") if created
             else N_("These files are already version %(version)s: nothing new was published."))
    return _json({"version": version.version, "created": created, "message": lang.gettext(
        words, version=lang.number(version.version)), "migrate": f"/services/{code}/migrations?to={version.version}",
        "problems": []})


@router.post("/services/{code}/form-preview", dependencies=[allow("services.deploy")])
async def form_preview(request: Request, code: str, viewer: SignedIn) -> HTMLResponse:
    """The form as the intake and task pages draw it, for the JSON Schema being edited."""
    body = await _posted(request, viewer, MAX_PREVIEW_BYTES)
    return await run_in_threadpool(_form_preview, body, viewer)


def _form_preview(body: Any, viewer: Viewer) -> HTMLResponse:
    schema = body.get("schema") if isinstance(body, dict) else None
    try:  # a half-typed schema is refused (422), as a deploy would refuse it, instead of failing to draw
        fields = form_fields.schema_fields(form_schema.checked(schema), viewer.lang)
    except form_schema.NotAForm as exc:
        if exc.kind == "not_object":
            raise Invalid("modeler.form_not_object", []) from exc
        raise Invalid("modeler.form_not_schema", []) from exc
    except (RecursionError, TypeError, AttributeError, LookupError) as exc:
        raise Invalid("modeler.form_not_schema", []) from exc
    html = templates.get_template("_form_preview.html").render(fields=fields, lang=viewer.lang,
                                                                _=viewer.lang.gettext)
    return HTMLResponse(html, headers=SECURITY_HEADERS)


def _output_page(request: Request, code: str, kind: str, draft: drafts.Draft, db: SessionDep, *,
                 text: str | None = None, path: str = "", problems: list[dict[str, Any]] | None = None,
                 message: str = "", status_code: int = 200) -> HTMLResponse:
    output = output_preview.output_of(draft.files, kind)
    if text is None:
        text = draft.files.get(output.template, b"").decode("utf-8", errors="replace")
    names = [str(p.get("name")) for p in output_templates.paths_of(draft.files) if p.get("name")]
    return render(request, "modeler_output.html", status_code=status_code, code=code, draft=draft, output=output,
                  text=text, chosen_path=path, paths=names, problems=problems or [], message=message,
                  labels=load_labels(db))


@router.get("/services/{code}/modeler/outputs/{kind}", dependencies=[allow("services.deploy")])
def output_editor(request: Request, code: str, kind: str, viewer: SignedIn, db: SessionDep) -> HTMLResponse:
    """The template of the draft's document ``kind`` in a text box, with the test paths to preview it with."""
    analyst(viewer)
    draft = drafts.open_draft(session=db, service_code=code, actor=viewer.signed_in)
    return _output_page(request, code, kind, draft, db)


@router.post("/services/{code}/modeler/outputs/{kind}", dependencies=[allow("services.deploy")])
def output_post(request: Request, code: str, kind: str, form: CheckedForm, viewer: SignedIn,
                db: SessionDep) -> Response:
    """``action=preview``: the PDF of the edited template, unsigned and numbered PREVIEW, filled with the chosen
    test path's data; ``action=save``: the template saved into the draft (at the revision the analyst opened).
    Either is refused (the page again, 422, the text kept) when a deploy would refuse the template."""
    analyst(viewer)
    settings = settings_of(request)
    draft = drafts.open_draft(session=db, service_code=code, actor=viewer.signed_in)
    text, path = str(form.get("template") or ""), str(form.get("path") or "")
    if len(text.encode("utf-8")) > settings.max_request_bytes:
        raise TooLarge("modeler.too_large")
    files = output_preview.with_template(draft.files, kind, text)
    found = output_preview.template_problems(files, settings)
    if found:
        problems = _problems(deploy_checks.report(found, files, settings), viewer)
        return _output_page(request, code, kind, draft, db, text=text, path=path, problems=problems,
                            message=viewer.lang.gettext("Problems found: %(count)s",
                                                        count=viewer.lang.number(len(problems))), status_code=422)
    if form.get("action") == "save":
        revision = str(form.get("revision") or "")
        try:
            drafts.save_draft(session=db, service_code=code, files=files,
                              revision=int(revision) if revision.isascii() and revision.isdigit()
                              and len(revision) < 10 else -1, actor=viewer.signed_in,
                              settings=settings)
        except Conflict as exc:
            return _output_page(request, code, kind, draft, db, text=text, path=path,
                                message=exc.text(viewer.lang.code), status_code=exc.status)
        cookie.flash(request, viewer.lang.gettext("Template saved into the draft."))
        return redirect(f"/services/{code}/modeler/outputs/{kind}")
    pdf = output_preview.render(files=files, kind=kind, path=path or None, settings=settings)
    return Response(pdf, media_type="application/pdf", headers={
        **SECURITY_HEADERS, "Content-Disposition": f'inline; filename="{kind}-preview.pdf"'})
