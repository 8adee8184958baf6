"""The hall's queue in pages: the kiosk (no sign-in), the clerk's counter, and the display board, which follows
the calls by server-sent events (``/api/queue/board/events``) and speaks each one (static/board.js)."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from admin_ui import session as cookie
from admin_ui.i18n import N_, Lang, ltr
from admin_ui.pages import (
    CheckedForm,
    CurrentViewer,
    PageRoute,
    SignedIn,
    allow,
    client_of,
    redirect,
    render,
)
from api.deps import SessionDep, settings_of
from engine.core.errors import Conflict, Invalid, NotFound, RateLimited
from engine.core.nodes import TicketElsewhere
from engine.core.refusals import problem
from engine.core.settings import PRIORITIES, Settings
from engine.queue import arrivals, board, bookings, calls, config, estimate, tickets
from storage.models.queue import QueueCategory

router = APIRouter(route_class=PageRoute)

PRIORITY_WORDS = {"normal": N_("Regular"), "elderly": N_("Elderly"), "disabled": N_("Person with a disability"),
                  "pregnant": N_("Pregnant")}
STATUS_WORDS = {"waiting": N_("Waiting"), "called": N_("Called"), "serving": N_("Being served"), "done": N_("Done"),
                "no_show": N_("Did not come"), "transferred": N_("Transferred")}

ACTION_WORDS = [("recall", N_("Recall")), ("serve", N_("Start serving")), ("done", N_("Done")),
                ("no-show", N_("Did not come"))]


def _wait_words(lang: Lang, seconds: float | None) -> str:
    if seconds is None:
        return lang.gettext("No counter is open for this service now")
    minutes = math.ceil(seconds / 60)  # rounded up: better a pleasant surprise than a broken promise
    if minutes < 1:
        return lang.gettext("Less than a minute")
    return lang.gettext("About %(minutes)s min", minutes=lang.number(minutes))


def _categories(db: SessionDep, settings: Settings, lang: Lang, center_id: int | None = None) -> list[dict[str, Any]]:
    found = estimate.estimates(db, settings, center_id)
    return [{"code": c.code, "letter": c.letter, "name": _name(lang, c), "waiting": found[c.code].waiting,
             "wait": _wait_words(lang, found[c.code].wait_seconds), "walk_in": c.walk_in}
            for c in config.categories(db)]


def _name(lang: Lang, category: QueueCategory) -> str:
    return lang.pick({"ar": category.name_ar, "en": category.name_en}, category.code)


def _center(center: str) -> str:
    """A kiosk's or a board's center, by its code in the address (``?center=``): the machine's bookmark."""
    return center.strip()[:32]


@router.get("/queue/kiosk", dependencies=[allow("public")])
def kiosk(request: Request, viewer: CurrentViewer, db: SessionDep, center: str = "") -> HTMLResponse:
    return _kiosk(request, viewer.lang, db, _center(center))


def _kiosk(request: Request, lang: Lang, db: SessionDep, center: str, *, status_code: int = 200,
           error: str | None = None, booking_input: str = "") -> HTMLResponse:
    center_id = config.center_id_of(db, center)
    return render(request, "queue_kiosk.html", status_code=status_code, center=center, error=error,
                  booking_input=booking_input,
                  categories=[c for c in _categories(db, settings_of(request), lang, center_id) if c["walk_in"]],
                  priorities=[(p, PRIORITY_WORDS[p]) for p in PRIORITIES[::-1]])


@router.post("/queue/kiosk/booking", dependencies=[allow("public")])
def kiosk_booking(request: Request, form: CheckedForm, viewer: CurrentViewer, db: SessionDep) -> Response:
    """"I have a booking": the booking code, or the phone it was made with, becomes a ticket
    (engine/queue/arrivals.py); a refusal is said on the kiosk itself, in the reader's language."""
    center = _center(str(form.get("center", "")))
    typed = str(form.get("booking", "")).strip()[:40]
    code = typed if bookings.normalise_code(typed) else None
    try:
        center_id = config.center_id_of(db, center)
        _, ticket = arrivals.redeem(session=db, settings=settings_of(request), center_id=center_id,
                                    code=code, phone=None if code else typed,
                                    priority=str(form.get("priority", "normal")), client=client_of(request))
    except (Conflict, NotFound, Invalid, RateLimited) as exc:
        return _kiosk(request, viewer.lang, db, center, status_code=exc.status, error=exc.text(viewer.lang.code),
                      booking_input=typed)
    return redirect(f"/queue/ticket/{ticket.number}" + (f"?center={quote(center)}" if center else ""))


@router.post("/queue/kiosk", dependencies=[allow("public")])
def kiosk_issue(request: Request, form: CheckedForm, viewer: CurrentViewer, db: SessionDep) -> Response:
    settings = settings_of(request)
    client = client_of(request)
    center = _center(str(form.get("center", "")))
    ticket = tickets.issue(session=db, category_code=str(form.get("category", "")),
                           priority=str(form.get("priority", "normal")), settings=settings, client=client,
                           center_id=config.center_id_of(db, center))
    return redirect(f"/queue/ticket/{ticket.number}" + (f"?center={quote(center)}" if center else ""))


@router.get("/queue/ticket/{number}", dependencies=[allow("queue.ticket")])
def ticket_page(request: Request, number: str, viewer: CurrentViewer, db: SessionDep,
                center: str = "") -> HTMLResponse:
    settings = settings_of(request)
    ticket = tickets.by_number(db, number, settings, center_id=config.center_id_of(db, _center(center)))
    category = config.category(db, ticket.category_code)
    return render(request, "queue_ticket.html", ticket=ticket, category=_name(viewer.lang, category),
                  center=_center(center),
                  priority=PRIORITY_WORDS.get(ticket.priority, ticket.priority),
                  status=STATUS_WORDS.get(ticket.status, ticket.status),
                  wait=_wait_words(viewer.lang, estimate.for_ticket(db, ticket, settings))
                  if ticket.status == "waiting" else None)


@router.get("/queue/counter", dependencies=[allow("queue.work")])
def counter_page(request: Request, viewer: SignedIn, db: SessionDep, counter: int | None = None) -> HTMLResponse:
    settings = settings_of(request)
    actor = viewer.signed_in
    calls.check_clerk(actor, settings)
    counters = config.counters(db, actor.center_id)  # the windows of the clerk's center
    chosen = config.counter(db, counter, actor.center_id) if counter is not None else None
    current = tickets.at_counter(db, chosen.id, settings) if chosen is not None and chosen.id is not None else None
    mine = chosen.categories if chosen is not None else None
    names = {c.code: _name(viewer.lang, c) for c in config.categories(db)}
    waiting = [{"number": t.number, "category": names.get(t.category_code, t.category_code),
                "priority": PRIORITY_WORDS.get(t.priority, t.priority), "since": t.waiting_since}
               for t in tickets.waiting(db, settings, mine, actor.center_id, own_only=True)]
    return render(request, "queue_counter.html", counters=counters, chosen=chosen, ticket=current,
                  ticket_category=names.get(current.category_code, "") if current else "",
                  ticket_status=STATUS_WORDS.get(current.status, "") if current else "",
                  waiting=waiting, categories=_categories(db, settings, viewer.lang, actor.center_id), names=names,
                  actions=ACTION_WORDS)


_ACTIONS = {"recall": calls.recall, "no-show": calls.no_show, "serve": calls.serve, "done": calls.done}


@router.post("/queue/counter/{number}", dependencies=[allow("queue.work")])
def counter_action(request: Request, number: int, form: CheckedForm, viewer: SignedIn, db: SessionDep) -> Response:
    settings = settings_of(request)
    actor = viewer.signed_in
    lang = viewer.lang
    action = str(form.get("action", ""))
    ticket = str(form.get("ticket", ""))
    try:
        if action == "call-next":
            called = calls.call_next(session=db, counter_number=number, actor=actor, settings=settings)
            cookie.flash(request, lang.gettext("Ticket %(number)s called", number=ltr(called.number)))
        elif action == "transfer":
            moved = calls.transfer(session=db, number=ticket, category_code=str(form.get("category", "")),
                                   actor=actor, settings=settings)
            cookie.flash(request, lang.gettext("Transferred: the citizen's new ticket is %(number)s",
                                               number=ltr(moved.number)))
        elif action in _ACTIONS:
            _ACTIONS[action](session=db, number=ticket, actor=actor, settings=settings)
        else:
            raise Invalid("pages.unknown_action", [problem("action", "pages.unknown_action")])
    except NotFound:
        if action != "call-next":
            raise
        cookie.flash(request, lang.gettext("Nobody is waiting for this counter."), "error")
    except TicketElsewhere as exc:  # another node's ticket: its counters act on it, and the page says where
        db.rollback()
        cookie.flash(request, exc.text(lang.code), "error")
    except Conflict:
        # The page offers only what the ticket allows: a refusal means someone else acted meanwhile.
        cookie.flash(request, lang.gettext("The ticket or the counter changed meanwhile; this is how they are now."),
                     "error")
    return redirect(f"/queue/counter?counter={number}")


@router.get("/queue/board", dependencies=[allow("public")])
def board_page(request: Request, viewer: CurrentViewer, db: SessionDep, center: str = "") -> HTMLResponse:
    settings = settings_of(request)
    center_id = config.center_id_of(db, _center(center))
    return render(request, "queue_board.html", calls=board.latest(db, settings.queue_board_calls, center_id),
                  counters=board.counters_now(db, center_id, settings=settings),
                  categories=_categories(db, settings, viewer.lang, center_id), last_id=board.last_id(db, center_id),
                  center=_center(center))
