"""A department's inbox and the work on one task: claim, release, read the case, decide."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from admin_ui import documents
from admin_ui import session as cookie
from admin_ui.i18n import ltr
from admin_ui.labels import load as load_labels
from admin_ui.pages import CheckedForm, PageRoute, SignedIn, Viewer, allow, redirect, render, safe_next
from admin_ui.timeline import earlier_steps, full_names
from api.deps import SessionDep, settings_of
from engine.cases import distribution, tasks
from engine.core import chain as audit
from engine.core.errors import DomainError
from engine.outputs import manage as official
from engine.people import policy, presence
from forms import fields as form_fields

router = APIRouter(route_class=PageRoute)
STATUSES = ("all", "unclaimed", "mine", "due_soon", "overdue")


def _overdue(row: Any, now: datetime) -> bool:
    due = row.due_at
    if due is None:
        return False
    return (due if due.tzinfo else due.replace(tzinfo=UTC)) < now


@router.get("/inbox", dependencies=[allow("inbox")])
def inbox(request: Request, viewer: SignedIn, db: SessionDep, service: str = "", status: str = "all") -> HTMLResponse:
    actor = viewer.signed_in
    now = datetime.now(UTC)
    rows = tasks.inbox(session=db, actor=actor, service_code=service or None,
                       limit=settings_of(request).max_page_size)
    all_services = sorted({r.service_code for r in tasks.inbox(session=db, actor=actor, limit=1000)} | (
        {service} if service else set()))
    status = status if status in STATUSES else "all"
    marked = [{"row": r, "overdue": _overdue(r, now), "due_soon": _due_soon(r, now)} for r in rows]
    keep = {"all": lambda i: True, "unclaimed": lambda i: i["row"].claimed_by is None,
            "mine": lambda i: i["row"].claimed_by == actor.username, "due_soon": lambda i: i["due_soon"],
            "overdue": lambda i: i["overdue"]}[status]
    items = [item for item in marked if keep(item)]
    # The lane's reminder (engine/cases/escalation.py): tasks the tick found near their due time, not yet late.
    due_soon = sum(1 for item in marked if item["due_soon"])
    # Tasks handed to the reader for an absent colleague (engine/cases/distribution.py), shown apart.
    delegated = [item for item in marked if item["row"].delegated_from and item["row"].claimed_by == actor.username]
    available = presence.is_available(session=db, actor=actor, settings=settings_of(request))
    by_rule = distribution.given_by_rule(db, [item["row"] for item in items], settings_of(request))
    return render(request, "inbox.html", items=items, labels=load_labels(db), service=service, status=status,
                  statuses=STATUSES, services=all_services, now=now, due_soon=due_soon, delegated=delegated,
                  available=available, by_rule=by_rule)


@router.post("/inbox/availability", dependencies=[allow("me")])
def availability(request: Request, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    """Mark oneself available or not for today (engine/people/presence.py): no new work while unavailable."""
    available = presence.set_available(session=db, actor=viewer.signed_in, available=form.get("available") == "yes",
                                       settings=settings_of(request))
    cookie.flash(request, viewer.lang.gettext("You are available for new work.") if available else
                 viewer.lang.gettext("You are unavailable today: no new work is given to you."))
    return redirect("/inbox")


def _due_soon(row: Any, now: datetime) -> bool:
    return row.reminded_at is not None and not _overdue(row, now)


def _back(form: Any, default: str = "/inbox") -> str:
    return safe_next(str(form.get("next", "")), default)


@router.post("/tasks/{task_id}/claim", dependencies=[allow("task.act")])
def claim(request: Request, task_id: str, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    task = tasks.claim(session=db, task_id=task_id, actor=viewer.signed_in, settings=settings_of(request))
    cookie.flash(request, viewer.lang.gettext("You took %(number)s.", number=ltr(task.tracking_number)))
    return redirect(_back(form))


@router.post("/tasks/{task_id}/release", dependencies=[allow("task.act")])
def release(request: Request, task_id: str, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    task = tasks.unclaim(session=db, task_id=task_id, actor=viewer.signed_in, settings=settings_of(request))
    cookie.flash(request, viewer.lang.gettext("You released %(number)s.", number=ltr(task.tracking_number)))
    return redirect(_back(form))


def _task_page(request: Request, step: tasks.Step, viewer: Viewer, db: SessionDep,
               values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
               status_code: int = 200) -> HTMLResponse:
    actor = viewer.signed_in
    settings = settings_of(request)
    task, case, process = step.task, step.case, step.process
    events = audit.events_of(db, task.case_id)
    labels = load_labels(db)
    lang = viewer.lang
    if values is None and case.channel == "citizen_portal" and task.name in process.intake_tasks:
        # Applied for online: the intake shows the citizen's answers, for the clerk to check against the originals.
        values = {k: ("true" if v is True else "" if v is False else v) for k, v in case.data.items()
                  if isinstance(v, str | int | float)}
    return render(request, "task.html", status_code=status_code, task=task, case=case,
                  may_act=policy.may_on_task(db, actor, "task.act", task, settings),
                  title=labels.step(task.service_code, task.name, lang, task.title),
                  service_name=labels.service(case.service_code, lang),
                  fields=form_fields.schema_fields(step.schema or {}, lang, values, errors or {},
                                                   case_data=case.data),
                  form_error=(errors or {}).get(""), summary=form_fields.summary(case.data, process.forms, lang),
                  earlier=earlier_steps(events, process.forms, labels, case.service_code, lang, full_names(db, events)),
                  **documents.panel(db, case, process.lanes, actor, settings, lang),
                  outputs=official.for_page(db, case, process, lang.code), output_words=documents.OUTPUT_WORDS,
                  fee_currency=process.service.fee.currency if process.service.fee else "EGP")


@router.get("/tasks/{task_id}", dependencies=[allow("task.read")])
def task_page(request: Request, task_id: str, viewer: SignedIn, db: SessionDep) -> HTMLResponse:
    step = tasks.step_for(session=db, task_id=task_id, actor=viewer.signed_in, settings=settings_of(request),
                          action="task.read")
    return _task_page(request, step, viewer, db)


@router.post("/tasks/{task_id}", dependencies=[allow("task.act")])
def complete(request: Request, task_id: str, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    """The raw form goes to the engine, which reads it against the step's form once (engine/cases/tasks.py); a
    refused form shows the same step again from what the command loaded."""
    actor = viewer.signed_in
    settings = settings_of(request)
    step = tasks.step_for(session=db, task_id=task_id, actor=actor, settings=settings)
    try:
        tasks.complete_posted(session=db, step=step, posted=form, actor=actor, settings=settings)
    except tasks.FormRefused as exc:
        said = exc.text(viewer.lang.code)
        errors = form_fields.messages(exc.details, step.schema or {}, viewer.lang) if exc.details else {}
        return _task_page(request, step, viewer, db, exc.typed, errors or {"": said}, status_code=exc.status)
    except DomainError as exc:
        cookie.flash(request, exc.text(viewer.lang.code), "error")
        return redirect(f"/tasks/{task_id}")
    task = step.task
    title = load_labels(db).step(task.service_code, task.name, viewer.lang, task.title)
    cookie.flash(request, viewer.lang.gettext("Done: “%(step)s” for %(number)s.", step=title,
                                              number=ltr(task.tracking_number)))
    return redirect("/inbox")
