"""The supervisors' page of overdue tasks: how late, how far escalated, and reassignment
(engine/cases/escalation.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from admin_ui import session as cookie
from admin_ui.i18n import ltr
from admin_ui.labels import load as load_labels
from admin_ui.pages import CheckedForm, PageRoute, SignedIn, Viewer, allow, redirect, render
from admin_ui.params import PageId
from api.deps import SessionDep, central_only, settings_of
from engine.cases import distribution, escalation, incidents
from engine.core import clock
from engine.core.errors import DomainError, Invalid
from engine.core.refusals import problem
from engine.people import centers, policy, presence
from forms.digits import ascii_digits
from storage.models.cases import Case
from storage.models.centers import Center

router = APIRouter(route_class=PageRoute)


@router.get("/supervisor/overdue", dependencies=[allow("tasks.overdue")])
def overdue_page(request: Request, viewer: SignedIn, db: SessionDep, service: str = "") -> HTMLResponse:
    settings = settings_of(request)
    actor = viewer.signed_in
    now = clock.now()
    rows = escalation.overdue(session=db, actor=actor, settings=settings, now=now, service_code=service or None,
                              limit=settings.max_page_size)
    calendar = escalation.center_calendars(db, settings)
    center_names = {c.id: (c.name_ar, c.name_en) for c in db.exec(select(Center)).all()}
    items: list[dict[str, Any]] = []
    officers = escalation.officers(db)  # who the policy lets act on each task
    for row in rows:
        names = center_names.get(row.center_id)
        items.append({"row": row, "officers": officers(row.lane, row.center_id),
                      "days": calendar(row.center_id).working_days_between(escalation.aware(row.due_at), now),
                      "center": (names[0] if viewer.lang.code == "ar" else names[1]) if names else "—"})
    return render(request, "overdue.html", items=items, labels=load_labels(db), service=service)


@router.post("/supervisor/tasks/{task_id}/reassign", dependencies=[allow("task.reassign")])
def reassign(request: Request, task_id: str, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    to = str(form.get("to", "")).strip() or None
    task = escalation.reassign(session=db, task_id=task_id, to=to, actor=viewer.signed_in,
                               settings=settings_of(request))
    number = ltr(task.tracking_number)
    if to is None:
        cookie.flash(request, viewer.lang.gettext("%(number)s went back to its lane.", number=number))
    else:
        cookie.flash(request, viewer.lang.gettext("%(number)s was given to %(officer)s.", number=number,
                                                  officer=to))
    return redirect("/supervisor/overdue")


# --- who gets the work (engine/cases/assignment.py, engine/cases/distribution.py, engine/people/presence.py) ---

RULES = ("pick", "round_robin", "least_loaded", "random")


@router.get("/supervisor/workload", dependencies=[allow("workload.read")])
def workload_page(request: Request, viewer: SignedIn, db: SessionDep) -> HTMLResponse:
    """Per officer of the reader's centers and per lane: the work given out and waiting, the lanes' rules, and
    the officers' absences."""
    settings = settings_of(request)
    officers, lanes = distribution.workload(session=db, actor=viewer.signed_in, settings=settings)
    codes = {c.id: c.code for c in centers.list_centers(db)}
    return render(request, "workload.html", officers=officers, lanes=lanes, codes=codes, rules=RULES,
                  today=presence.today(settings))


@router.post("/supervisor/assignment", dependencies=[allow("assignment.configure"), central_only()])
def set_rule(request: Request, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    lane, rule = str(form.get("lane", "")), str(form.get("rule", ""))
    distribution.set_rule(session=db, center_code=str(form.get("center", "")), lane=lane, rule=rule,
                          actor=viewer.signed_in)
    cookie.flash(request, viewer.lang.gettext("The lane %(lane)s now follows the rule %(rule)s.", lane=lane,
                                              rule=rule))
    return redirect("/supervisor/workload")


@router.post("/supervisor/absences", dependencies=[allow("presence"), central_only()])
def add_absence(request: Request, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    username = str(form.get("username", "")).strip()
    presence.add_absence(session=db, username=username, starts=_day(form.get("from")), ends=_day(form.get("to")),
                         delegate=str(form.get("delegate", "")).strip() or None, actor=viewer.signed_in,
                         settings=settings_of(request))
    cookie.flash(request, viewer.lang.gettext("The absence of %(officer)s is recorded.", officer=username))
    return redirect("/supervisor/workload")


def _day(value: Any) -> date:
    """A day typed on the page (YYYY-MM-DD, Arabic digits too); Invalid otherwise."""
    try:
        return date.fromisoformat(ascii_digits(str(value or "").strip()))
    except ValueError as exc:
        raise Invalid("presence.days_invalid", [problem("to", "presence.days_invalid")]) from exc


# --- incidents: cases whose step failed (engine/cases/incidents.py) ---

@router.get("/supervisor/incidents", dependencies=[allow("incidents.read")])
def incidents_page(request: Request, viewer: SignedIn, db: SessionDep, status: str = "open") -> HTMLResponse:
    """The incidents of the reader's centers, with retry and cancel (and skip for analysts and admins)."""
    settings = settings_of(request)
    chosen = status if status in incidents.STATUSES else "open"
    rows = incidents.list_incidents(session=db, actor=viewer.signed_in, filters=incidents.IncidentFilter(
        status=chosen, limit=settings.max_page_size))
    tracking = dict(db.exec(select(Case.id, Case.tracking_number)
                            .where(col(Case.id).in_([r.case_id for r in rows]))).all()) if rows else {}
    return render(request, "incidents.html", rows=rows, tracking=tracking, status=chosen,
                  statuses=incidents.STATUSES, labels=load_labels(db),
                  may_skip=policy.may(viewer.signed_in, "incidents.skip", settings))


def _incident_done(request: Request, message: str) -> Response:
    """Back to the incidents, saying what became of the case."""
    cookie.flash(request, message)
    return redirect("/supervisor/incidents")


def _incident_refused(request: Request, viewer: Viewer, exc: DomainError) -> Response:
    """Back to the incidents with the engine's refusal (a retry that failed again, a step gone, a missing
    reason): the reader stays where they can act on it. A failure the engine counted as a repeat stays counted."""
    words = [exc.text(viewer.lang.code)]
    for d in exc.details if isinstance(exc, Invalid) else []:
        said = str(d.get("msg_ar") if viewer.lang.code == "ar" and d.get("msg_ar") else d.get("msg") or "")
        if said and said not in words[0]:
            words.append(said)
    cookie.flash(request, " — ".join(words), "error")
    return redirect("/supervisor/incidents")


@router.post("/supervisor/incidents/{incident_id}/retry", dependencies=[allow("incidents.act")])
def retry_incident(request: Request, incident_id: PageId, form: CheckedForm, viewer: SignedIn,
                   db: SessionDep) -> Response:
    try:
        done = incidents.retry(session=db, incident_id=incident_id, actor=viewer.signed_in,
                               settings=settings_of(request))
    except DomainError as exc:
        return _incident_refused(request, viewer, exc)
    number = ltr(done.case.tracking_number)
    if form.get("kind") == "message":  # only the words: the engine decided by the incident's own reason
        return _incident_done(request, viewer.lang.gettext("The message of %(number)s will be sent again.",
                                                           number=number))
    return _incident_done(request, viewer.lang.gettext("%(number)s went on past the failed step.", number=number))


@router.post("/supervisor/incidents/{incident_id}/skip", dependencies=[allow("incidents.skip")])
def skip_incident(request: Request, incident_id: PageId, form: CheckedForm, viewer: SignedIn,
                  db: SessionDep) -> Response:
    try:
        done = incidents.skip(session=db, incident_id=incident_id, to_element=str(form.get("to", "")).strip(),
                              reason=str(form.get("reason", ""))[:1000], actor=viewer.signed_in,
                              settings=settings_of(request))
    except DomainError as exc:
        return _incident_refused(request, viewer, exc)
    return _incident_done(request, viewer.lang.gettext("%(number)s went on past the failed step.",
                                                       number=ltr(done.case.tracking_number)))


@router.post("/supervisor/incidents/{incident_id}/cancel", dependencies=[allow("incidents.act")])
def cancel_incident(request: Request, incident_id: PageId, form: CheckedForm, viewer: SignedIn,
                    db: SessionDep) -> Response:
    try:
        case = incidents.cancel(session=db, incident_id=incident_id, reason=str(form.get("reason", ""))[:1000],
                                actor=viewer.signed_in, settings=settings_of(request))
    except DomainError as exc:
        return _incident_refused(request, viewer, exc)
    return _incident_done(request, viewer.lang.gettext("%(number)s was cancelled.", number=ltr(case.tracking_number)))
