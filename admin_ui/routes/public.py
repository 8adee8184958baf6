"""The citizen's tracking page: no sign-in; tracking number and the phone's last four digits give the status
and the current step, and nothing personal."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from admin_ui.i18n import N_
from admin_ui.pages import CheckedForm, CurrentViewer, PageRoute, Viewer, allow, client_of, render
from api.deps import SessionDep, settings_of
from engine.cases import complaints, public
from engine.core.errors import Conflict, Invalid, NotFound, RateLimited, TooLarge
from engine.outputs import public as outputs_public

router = APIRouter(route_class=PageRoute)


@router.get("/track", dependencies=[allow("public")])
def track_page(request: Request, _viewer: CurrentViewer, number: str = "") -> HTMLResponse:
    return render(request, "track.html", number=number[:40], result=None, error=None)


@router.post("/track", dependencies=[allow("public")])
def track(request: Request, form: CheckedForm, viewer: CurrentViewer, db: SessionDep) -> HTMLResponse:
    number = str(form.get("number", "")).strip()[:40]
    last4 = str(form.get("phone_last4", "")).strip()
    try:
        found = public.track(session=db, tracking_number=number, phone_last4=last4, settings=settings_of(request),
                             client=client_of(request))
    except (RateLimited, NotFound) as exc:
        return _not_traced(request, viewer, number, exc)
    return _result(request, viewer, found, last4)


def _not_traced(request: Request, viewer: Viewer, number: str, exc: RateLimited | NotFound) -> HTMLResponse:
    """The tracking page again, saying why the number and phone found nothing (the same words for a wrong number
    and a wrong phone), or that there were too many tries."""
    _ = viewer.lang.gettext
    if isinstance(exc, RateLimited):
        return render(request, "track.html", status_code=429, number=number, result=None,
                      error=_("Too many attempts for this tracking number. Try again later."))
    return render(request, "track.html", status_code=404, number=number, result=None,
                  error=_("No request matches this tracking number and phone. Check both and try again."))


def _result(request: Request, viewer: Viewer, found: dict[str, Any], last4: str, status_code: int = 200,
            **extra: Any) -> HTMLResponse:
    names = {"ar": found.get("current_step_ar") or found.get("current_step"), "en": found.get("current_step")}
    resolved = found.get("reopen_until") is not None
    context = {"reopen_error": None, "reason": "", "answered": None, **extra}
    return render(request, "track.html", status_code=status_code, number=found["tracking_number"], error=None,
                  last4=last4 if resolved else "", max_reason=settings_of(request).reopen_reason_max_chars,
                  result={
                      "number": found["tracking_number"], "status": found["status"],
                      "service": viewer.lang.pick((found.get("service") or {}).get("name"),
                                                  (found.get("service") or {}).get("code", "")),
                      "step": viewer.lang.pick(names) if found.get("current_step") and not resolved else "",
                      "updated_at": found["updated_at"], "reopen_until": found.get("reopen_until"),
                      "documents": [{**d, "title": viewer.lang.pick(d["title"])} for d in found.get("documents", [])]},
                  **context)


REOPEN_WORDS = {complaints.WINDOW_ENDED: N_("The time to reopen this complaint has ended. The center can register "
                                            "a new complaint that refers to it."),
                complaints.NOT_REOPENABLE: N_("Only a complaint closed as resolved can be reopened, while its time "
                                              "to reopen lasts.")}


@router.post("/track/reopen", dependencies=[allow("public")])
def reopen(request: Request, form: CheckedForm, viewer: CurrentViewer, db: SessionDep) -> HTMLResponse:
    """The citizen reopens a resolved complaint (with a reason) or accepts its resolution."""
    number = str(form.get("number", "")).strip()[:40]
    last4 = str(form.get("phone_last4", "")).strip()
    reopen_it = form.get("answer") != "accept"
    reason = str(form.get("reason", ""))[:20_000]
    _ = viewer.lang.gettext
    settings = settings_of(request)
    try:
        complaints.answer(session=db, tracking_number=number, phone_last4=last4, reopen=reopen_it, reason=reason,
                          settings=settings, client=client_of(request))
    except (RateLimited, NotFound) as exc:
        return _not_traced(request, viewer, number, exc)
    except (Invalid, Conflict) as exc:
        found = public.track(session=db, tracking_number=number, phone_last4=last4, settings=settings)
        if isinstance(exc, Invalid):
            message = _("Say why the complaint is not resolved (at most %(count)s characters).",
                        count=viewer.lang.number(settings.reopen_reason_max_chars))
        else:
            message = _(REOPEN_WORDS.get(exc.message_id or "", exc.message))
        return _result(request, viewer, found, last4, status_code=exc.status,
                       reopen_error=message, reason=reason.strip())
    found = public.track(session=db, tracking_number=number, phone_last4=last4, settings=settings)
    return _result(request, viewer, found, last4, answered="reopened" if reopen_it else "accepted")


# The verification page of an official document: what its QR code opens (engine/outputs/public.py).
VERIFY_WORDS = {"valid": N_("Valid"), "superseded": N_("Superseded by a corrected document"),
                "revoked": N_("Revoked")}


@router.get("/verify/{number}", dependencies=[allow("public")])
def verify_page(request: Request, number: str, viewer: CurrentViewer, db: SessionDep) -> HTMLResponse:
    return _verified(request, viewer, db, number[:40], None)


@router.post("/verify/{number}", dependencies=[allow("public")])
async def verify_upload(request: Request, number: str, form: CheckedForm, viewer: CurrentViewer,
                        db: SessionDep) -> HTMLResponse:
    """The visitor's copy of the PDF, checked against the document's recorded SHA-256 and its signature."""
    upload = form.get("pdf")
    content = b""
    if upload is not None and not isinstance(upload, str):
        content = await upload.read(settings_of(request).document_verify_max_bytes + 1)
    # Hashing and the signature's check are CPU work: off the event loop, in a worker thread.
    return await run_in_threadpool(_verified, request, viewer, db, number[:40], content)


def _verified(request: Request, viewer: Viewer, db: Any, number: str, content: bytes | None) -> HTMLResponse:
    _ = viewer.lang.gettext
    settings = settings_of(request)
    try:
        if content is None:
            found = outputs_public.lookup(session=db, number=number, settings=settings, client=client_of(request))
        else:
            found = outputs_public.check_upload(session=db, number=number, content=content, settings=settings,
                                                client=client_of(request))
    except RateLimited:
        return render(request, "verify.html", status_code=429, number=number, found=None,
                      error=_("Too many unknown document numbers from this address. Try again later."))
    except NotFound:
        return render(request, "verify.html", status_code=404, number=number, found=None,
                      error=_("No document has this number. Check the number printed under the QR code."))
    except TooLarge:
        return render(request, "verify.html", status_code=413, number=number, found=None,
                      error=_("This file is too large to be one of our documents."))
    return render(request, "verify.html", number=number, found=found, error=None, checked=content is not None,
                  verify_words=VERIFY_WORDS)
