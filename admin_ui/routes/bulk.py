"""The supervisors' bulk operations page (engine/cases/bulk.py): choose tasks of one's centers by a filter, see
exactly what would change (a dry run, nothing written), then confirm: the run takes the very tasks the preview
listed, each in its own transaction, and the page lists what was done and what was refused and why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from admin_ui.labels import load as load_labels
from admin_ui.pages import CheckedForm, PageRoute, SignedIn, allow, render
from api.deps import SessionDep, settings_of
from engine.cases import bulk, distribution
from engine.core.errors import Invalid
from engine.core.refusals import problem
from forms.digits import ascii_digits

router = APIRouter(route_class=PageRoute)

ACTIONS = ("reassign", "return", "cancel")
NOBODY = "-"  # the officer filter's "assigned to nobody"


def _days(value: str) -> float | None:
    """"Older than" typed on the page (Arabic digits too); Invalid when it is no number of days."""
    text = ascii_digits(value.strip()).replace("٫", ".")
    if not text:
        return None
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not 0 <= days <= 36500:
        raise Invalid("bulk.days_invalid", [problem("older_than_days", "bulk.days_invalid")])
    return days


def _action(value: str) -> Any:
    if value not in ACTIONS:
        raise Invalid("bulk.action_invalid", [problem("action", "bulk.action_invalid")])
    return value


def _choices(request: Request, viewer: SignedIn, db: SessionDep) -> dict[str, Any]:
    officers, lanes = distribution.workload(session=db, actor=viewer.signed_in, settings=settings_of(request))
    return {"officers": officers, "lanes": sorted({lane.lane for lane in lanes} |
                                                  {name for o in officers for name in o.lanes}),
            "actions": ACTIONS, "nobody": NOBODY, "labels": load_labels(db)}


@router.get("/supervisor/bulk", dependencies=[allow("tasks.bulk")])
def bulk_page(request: Request, viewer: SignedIn, db: SessionDep, action: str = "reassign", lane: str = "",
              service: str = "", officer: str = "", older: str = "", overdue: str = "", to: str = "",
              reason: str = "", preview: str = "") -> HTMLResponse:
    """The filter; with ``preview``, what the action would do to each task it chooses (nothing is written)."""
    asked = {"action": action, "lane": lane, "service": service, "officer": officer, "older": older,
             "overdue": overdue, "to": to, "reason": reason}
    shown = None
    if preview:
        wanted = bulk.Filter(lane=lane.strip() or None, service_code=service.strip() or None,
                             officer=("" if officer == NOBODY else officer.strip() or None),
                             older_than_days=_days(older), overdue=True if overdue else None)
        shown = bulk.run(session=db, actor=viewer.signed_in, action=_action(action), wanted=wanted,
                         to=to.strip() or None, reason=reason.strip() or None, dry_run=True,
                         settings=settings_of(request))
    return render(request, "bulk.html", asked=asked, preview=shown, done=None, **_choices(request, viewer, db))


@router.post("/supervisor/bulk", dependencies=[allow("tasks.bulk")])
def bulk_run(request: Request, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> HTMLResponse:
    """The confirmation: the action on the tasks the preview listed (by id), each refused on its own line if it
    is not the supervisor's to change (another center's, done meanwhile, an officer who cannot have it)."""
    ids = tuple(dict.fromkeys(str(v) for v in form.getlist("task_id") if str(v).strip()))
    if not ids:
        raise Invalid("bulk.nothing_chosen", [problem("task_id", "bulk.nothing_chosen")])
    to = str(form.get("to", "")).strip() or None
    reason = str(form.get("reason", "")).strip() or None
    done = bulk.run(session=db, actor=viewer.signed_in, action=_action(str(form.get("action", ""))),
                    wanted=bulk.Filter(task_ids=ids), to=to, reason=reason, dry_run=False,
                    settings=settings_of(request))
    asked = {"action": done.action, "lane": "", "service": "", "officer": "", "older": "", "overdue": "",
             "to": to or "", "reason": reason or ""}
    return render(request, "bulk.html", asked=asked, preview=None, done=done, **_choices(request, viewer, db))
