"""The hall's queue: the kiosk issues tickets (no sign-in, throttled per address), counters call and finish
them (front desk), the display board reads the calls and follows them as server-sent events."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from api.deps import ClientAddress, CurrentActor, OptionalActor, SessionDep, SettingsDep, allow, central_only
from api.params import DB_ID_MAX, DB_INT_MAX
from api.schemas import utc
from engine.core.errors import RateLimited
from engine.core.settings import Settings
from engine.people import policy
from engine.queue import board, calls, config, estimate, streams, tickets
from storage.db import session_for
from storage.models.queue import QueueCategory, QueueCounter, QueueTicket

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/queue", tags=["queue"])


class TicketIssue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(min_length=1, max_length=40)
    priority: str = Field(default="normal", max_length=16)
    center: str | None = Field(default=None, max_length=32)  # the kiosk's center (its code), if there are centers


class TicketCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    counter: int


class TicketTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(min_length=1, max_length=40)


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    letter: str = Field(min_length=1, max_length=4)
    name_ar: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    services: list[str] = Field(default_factory=list)
    position: int = Field(default=0, ge=-DB_INT_MAX, le=DB_INT_MAX)
    active: bool = True
    # Left out: the category keeps its own (a new one: 1, and the kiosk issues its tickets).
    weight: float | None = Field(default=None, ge=0.1, le=100, description="multiplies its tickets' effective wait")
    walk_in: bool | None = Field(default=None, description="false: its tickets come only from booked visits")


class CounterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    categories: list[str] = Field(default_factory=list)
    open: bool = True
    center: str | None = Field(default=None, max_length=32)


class TicketPublic(BaseModel):
    number: str
    category: str
    priority: str
    status: Literal["waiting", "called", "serving", "done", "no_show", "transferred"]
    issued_at: datetime
    waiting_since: datetime
    called_at: datetime | None
    counter: int | None
    recalls: int
    transferred_to: str | None
    case_id: int | None  # staff only: null in answers to the public (kiosk, the citizen's lookup)
    estimated_wait_seconds: float | None = None


class CategoryPublic(BaseModel):
    code: str
    letter: str
    name: dict[str, str]
    services: list[str]
    waiting: int
    open_counters: int
    service_seconds: float
    estimated_wait_seconds: float | None
    weight: float = 1.0
    walk_in: bool = True


class CounterPublic(BaseModel):
    number: int
    name: str
    categories: list[str]
    open: bool
    ticket: str | None = None
    status: str | None = None


class CallPublic(BaseModel):
    id: int
    ticket: str
    category: str
    counter: int
    counter_name: str
    kind: str
    at: str


class BoardPublic(BaseModel):
    calls: list[CallPublic]
    counters: list[CounterPublic]
    categories: list[CategoryPublic]
    last_call_id: int


def ticket_view(session: Session, ticket: QueueTicket, settings: Settings) -> TicketPublic:
    counter = session.get(QueueCounter, ticket.counter_id) if ticket.counter_id is not None else None
    return TicketPublic(number=ticket.number, category=ticket.category_code, priority=ticket.priority,
                        status=ticket.status,  # type: ignore[arg-type]
                        issued_at=utc(ticket.issued_at), waiting_since=utc(ticket.waiting_since),  # type: ignore[arg-type]
                        called_at=utc(ticket.called_at), counter=counter.number if counter else None,
                        recalls=ticket.recalls, transferred_to=ticket.transferred_to, case_id=ticket.case_id,
                        estimated_wait_seconds=estimate.for_ticket(session, ticket, settings))


def _category_view(category: QueueCategory, found: estimate.Estimate) -> CategoryPublic:
    return CategoryPublic(code=category.code, letter=category.letter,
                          name={"ar": category.name_ar, "en": category.name_en}, services=category.services,
                          waiting=found.waiting, open_counters=found.open_counters,
                          service_seconds=found.service_seconds, estimated_wait_seconds=found.wait_seconds,
                          weight=category.weight, walk_in=category.walk_in)


CenterQuery = Annotated[str | None, Query(max_length=32, description="the center's code, if there are centers")]


def _categories(session: Session, settings: Settings, center_id: int | None = None) -> list[CategoryPublic]:
    found = estimate.estimates(session, settings, center_id)
    return [_category_view(c, found[c.code]) for c in config.categories(session)]


@router.get("/categories", dependencies=[allow("public")], response_model=list[CategoryPublic])
def list_categories(session: SessionDep, settings: SettingsDep, center: CenterQuery = None) -> list[CategoryPublic]:
    """The kiosk's buttons, each with its estimated wait (no sign-in)."""
    return _categories(session, settings, config.center_id_of(session, center))


@router.put("/categories/{code}", dependencies=[allow("queue.configure"), central_only()],
            response_model=CategoryPublic)
def save_category(code: str, body: CategoryIn, session: SessionDep, settings: SettingsDep,
                  actor: CurrentActor) -> CategoryPublic:
    row = config.save_category(session=session, code=code, actor=actor, **body.model_dump())
    found = estimate.estimates(session, settings)
    return _category_view(row, found.get(row.code) or estimate.Estimate(row.code, 0, 0, 0.0, None))


@router.get("/counters", dependencies=[allow("public")], response_model=list[CounterPublic])
def list_counters(session: SessionDep, settings: SettingsDep, center: CenterQuery = None) -> list[CounterPublic]:
    return [CounterPublic(**c) for c in board.counters_now(session, config.center_id_of(session, center),
                                                           settings=settings)]


@router.put("/counters/{number}", dependencies=[allow("queue.configure"), central_only()], response_model=CounterPublic)
def save_counter(number: int, body: CounterIn, session: SessionDep, actor: CurrentActor) -> CounterPublic:
    row = config.save_counter(session=session, number=number, actor=actor, name=body.name,
                              categories=body.categories, open=body.open,
                              center_id=config.center_id_of(session, body.center))
    return CounterPublic(number=row.number, name=row.name, categories=row.categories, open=row.open)


@router.post("/tickets", dependencies=[allow("public")], response_model=TicketPublic, status_code=201,
             responses={429: {"description": "Too many tickets from this kiosk in a short time: wait"}})
def issue_ticket(body: TicketIssue, session: SessionDep, settings: SettingsDep, client: ClientAddress) -> TicketPublic:
    """The kiosk: no sign-in, at most SHUBBAK_QUEUE_ISSUE_MAX_PER_IP tickets per address and window."""
    ticket = tickets.issue(session=session, category_code=body.category, priority=body.priority,
                           settings=settings, client=client, center_id=config.center_id_of(session, body.center))
    return ticket_view(session, ticket, settings)


@router.get("/tickets", dependencies=[allow("queue.work")], response_model=list[TicketPublic])
def list_waiting(session: SessionDep, settings: SettingsDep, actor: CurrentActor,
                 category: Annotated[list[str] | None, Query()] = None) -> list[TicketPublic]:
    """Today's waiting tickets (of the given categories) that this node's counters call (not those another node
    issued, docs/center-nodes.md)."""
    calls.check_clerk(actor, settings)
    return [ticket_view(session, t, settings)
            for t in tickets.waiting(session, settings, category, actor.center_id, own_only=True)]


@router.get("/tickets/{number}", dependencies=[allow("queue.ticket")], response_model=TicketPublic)
def get_ticket(number: str, session: SessionDep, settings: SettingsDep, actor: OptionalActor,
               center: CenterQuery = None) -> TicketPublic:
    """A ticket by the number the citizen holds (today's), with its status and estimated wait. Ticket numbers
    are easy to guess, so the case it led to is named only to staff of the ticket's center (engine/people/policy.py)."""
    found = tickets.by_number(session, number, settings, center_id=config.center_id_of(session, center))
    view = ticket_view(session, found, settings)
    if policy.sees_ticket_case(session, actor, found.center_id):
        return view
    return view.model_copy(update={"case_id": None})


@router.post("/counters/{number}/call-next", dependencies=[allow("queue.work")], response_model=TicketPublic)
def call_next(number: int, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> TicketPublic:
    ticket = calls.call_next(session=session, counter_number=number, actor=actor, settings=settings)
    return ticket_view(session, ticket, settings)


# call_ticket and transfer below look alike: each is a thin route over its own command with its own body (as is
# api/routes/incidents.py's cancel, alike in shape).
@router.post("/tickets/{number}/call", dependencies=[allow("queue.work")], response_model=TicketPublic)
def call_ticket(number: str, body: TicketCall, session: SessionDep, settings: SettingsDep,
                actor: CurrentActor) -> TicketPublic:
    ticket = calls.call_ticket(session=session, number=number, counter_number=body.counter, actor=actor,
                               settings=settings)
    return ticket_view(session, ticket, settings)


def _act(action: str):  # type: ignore[no-untyped-def]
    command = getattr(calls, action)

    def route(number: str, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> TicketPublic:
        ticket = command(session=session, number=number, actor=actor, settings=settings)
        return ticket_view(session, ticket, settings)

    route.__name__ = f"{action}_ticket"
    return route


for _path, _action in (("recall", "recall"), ("no-show", "no_show"), ("serve", "serve"), ("done", "done")):
    router.add_api_route(f"/tickets/{{number}}/{_path}", _act(_action), methods=["POST"],
                         response_model=TicketPublic, dependencies=[allow("queue.work")])


# Looks like call_ticket above on purpose (see the note there): its own command, its own body.
@router.post("/tickets/{number}/transfer", dependencies=[allow("queue.work")], response_model=TicketPublic)
def transfer(number: str, body: TicketTransfer, session: SessionDep, settings: SettingsDep,
             actor: CurrentActor) -> TicketPublic:
    """End the ticket and queue the citizen in another category; answers the new ticket."""
    ticket = calls.transfer(session=session, number=number, category_code=body.category, actor=actor,
                            settings=settings)
    return ticket_view(session, ticket, settings)


def board_now(session: Session, settings: Settings, center_id: int | None = None) -> BoardPublic:
    latest = board.latest(session, settings.queue_board_calls, center_id)
    return BoardPublic(calls=[CallPublic(**board.call_view(c)) for c in latest],
                       counters=[CounterPublic(**c) for c in board.counters_now(session, center_id, settings=settings)],
                       categories=_categories(session, settings, center_id),
                       last_call_id=board.last_id(session, center_id))


@router.get("/board", dependencies=[allow("public")], response_model=BoardPublic)
def get_board(session: SessionDep, settings: SettingsDep, center: CenterQuery = None) -> BoardPublic:
    """What the display board shows now (no sign-in: numbers and windows only, nothing personal)."""
    return board_now(session, settings, config.center_id_of(session, center))


# Streams open in this process; the tests read it to see that a closed stream really ended. The cap per client
# address counts the streams of every process, in the database (engine/queue/streams.py).
open_streams = 0


class TooManyStreams(RateLimited):
    """One client address holds as many board streams as it may."""


def _calls_after(settings: Settings, cursor: int, center_id: int | None) -> list[dict[str, Any]]:
    with session_for(settings.database_url) as session:
        return [board.call_view(c) for c in board.after(session, cursor, center_id)]


def _start(settings: Settings, center: str | None) -> tuple[int | None, int]:
    with session_for(settings.database_url) as session:
        center_id = config.center_id_of(session, center)
        return center_id, board.last_id(session, center_id)


async def _events(request: Request, settings: Settings, cursor: int, center_id: int | None,
                  stream_id: str) -> AsyncIterator[str]:
    """Calls after ``cursor`` as they are made. The database is read in the thread pool for a moment per poll;
    the waits between polls are asyncio sleeps, so an open board holds no thread. The stream ends when the
    board goes away (Starlette cancels it) or after SHUBBAK_QUEUE_BOARD_STREAM_SECONDS; the browser then
    reconnects with the last id it saw (Last-Event-ID). Meanwhile it renews its place's lease."""
    global open_streams
    open_streams += 1
    try:
        poll = settings.queue_board_poll_ms / 1000
        yield f"retry: {settings.queue_board_poll_ms}\n: calls after {cursor}\n\n"
        started = last_sent = renewed = time.monotonic()
        while time.monotonic() - started < settings.queue_board_stream_seconds:
            if await request.is_disconnected():
                break
            for call in await run_in_threadpool(_calls_after, settings, cursor, center_id):
                cursor = call["id"]
                last_sent = time.monotonic()
                yield f"id: {cursor}\nevent: call\ndata: {json.dumps(call, ensure_ascii=False)}\n\n"
            if time.monotonic() - last_sent >= settings.queue_board_heartbeat_seconds:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            if time.monotonic() - renewed >= settings.queue_board_stream_lease_seconds / 3:
                renewed = time.monotonic()
                await run_in_threadpool(streams.renew, settings, stream_id)
            await asyncio.sleep(poll)
    finally:
        open_streams -= 1
        await _release(settings, stream_id)


async def _release(settings: Settings, stream_id: str) -> None:
    try:
        # Shielded: a board that went away cancels its stream, and this must still run to the end.
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(streams.close_stream, settings, stream_id)
    except Exception:  # noqa: BLE001 - the database is away: the lease runs out by itself
        log.warning("a board stream's place could not be given back; its lease will run out")


class EventStream(StreamingResponse):
    """Server-sent events: the OpenAPI document names ``text/event-stream`` as the answer."""

    media_type = "text/event-stream"


@router.get("/board/events", dependencies=[allow("public")], response_class=EventStream,
            responses={200: {"description": "a stream of `call` events", "content": {"text/event-stream": {
                "schema": {"type": "string"}}}}})
async def board_events(request: Request, settings: SettingsDep, client: ClientAddress,
                       after: Annotated[int | None, Query(ge=0, le=DB_ID_MAX)] = None,
                       last_event_id: Annotated[str | None, Header()] = None,
                       center: CenterQuery = None) -> StreamingResponse:
    """Server-sent events: one ``call`` event per call or recall of the center, from ``Last-Event-ID`` (a
    reconnecting browser), else ``after``, else from now."""
    stream_id = await run_in_threadpool(streams.open_stream, settings, client)
    if stream_id is None:
        raise TooManyStreams(f"this address already follows the board {settings.queue_board_streams_per_client} "
                             "times; close one first")
    # The place is given back when the stream ends, or here when it cannot start.
    try:
        center_id, now_id = await run_in_threadpool(_start, settings, center)
    except BaseException:
        await _release(settings, stream_id)
        raise
    given = (last_event_id or "").strip()  # a browser sends back an id it was given; anything else is ignored
    # A call's id: BIGINT, a center node's from its block (storage/nodes.py ``ID_BLOCK``).
    known = given.isascii() and given.isdigit() and len(given) <= 19 and int(given) <= DB_ID_MAX
    cursor = int(given) if known else after
    if cursor is None:
        cursor = now_id
    return StreamingResponse(_events(request, settings, cursor, center_id, stream_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
