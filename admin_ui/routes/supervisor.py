"""The supervisors' page of overdue tasks: how late, how far escalated, and reassignment
(engine/cases/escalation.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import select

from admin_ui import session as cookie
from admin_ui.i18n import ltr
from admin_ui.labels import load as load_labels
from admin_ui.pages import CheckedForm, PageRoute, SignedIn, allow, redirect, render
from api.deps import SessionDep, settings_of
from engine.cases import escalation
from engine.core import clock
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
