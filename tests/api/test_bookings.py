"""Booked visits (engine/queue/appointments.py, bookings.py, arrivals.py, booking_rounds.py) over the API, tried
from the side of someone breaking them: another citizen's booking, a full slot, a holiday, a weekend, a past
slot, a second visit the same day, a staff token on the citizen's routes, another center's kiosk, a code typed
twice, a retried booking, the reminder round run twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from engine.citizen import signin
from engine.core import clock
from engine.core.errors import Conflict
from engine.messages import send
from engine.people.users import Actor
from engine.queue import arrivals, booking_rounds, bookings, calls
from harness.api import Api
from harness.pages import center_tree
from storage.db import engine_for
from storage.models.booking import Booking, BookingSlot
from storage.models.messages import OutboxMessage
from storage.models.queue import QueueTicket

ME, YOU = "+201001234567", "+201112223334"
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _citizen(api: Api, phone: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {signin.issue_token(phone, api.settings)}"}


def _local(api: Api) -> datetime:
    return datetime.now(UTC).astimezone(ZoneInfo(api.settings.display_timezone))


def _open_all_day(api: Api, capacity: int = 1, center: str | None = None, **calendar: Any) -> None:
    """Visits every day, all day, in 15-minute slots: the tests need not care what time they run at."""
    admin = api.user("admin")
    body = {"opens": "00:00", "closes": "23:45", "weekend": [], "holidays": [], **calendar}
    r = api.client.put("/api/appointments/calendar", json={**body, "center": center}, headers=admin)
    assert r.status_code == 200, r.text
    r = api.client.put("/api/appointments/plans/permits", headers=admin,
                       json={"center": center, "slot_minutes": 15, "capacity": capacity})
    assert r.status_code == 200, r.text


def _tomorrow(api: Api) -> str:
    return (_local(api).date() + timedelta(days=1)).isoformat()


def _book(api: Api, phone: str, day: str, time: str, center: str | None = None) -> Any:
    return api.client.post("/api/citizen/appointments", headers=_citizen(api, phone),
                           json={"category": "permits", "day": day, "time": time, "center": center})


def test_book_with_arabic_digits_retry_list_and_cancel(api: Api) -> None:
    _open_all_day(api)
    day = _tomorrow(api)
    slots = api.client.get("/api/citizen/appointments/slots", params={"category": "permits", "day": day.translate(
        ARABIC)}, headers=_citizen(api, ME))
    assert slots.status_code == 200, slots.text
    ten = slots.json()["slots"][40]
    assert slots.json()["closed"] is None and ten["time"] == "10:00" and ten["free"] == 1
    r = _book(api, ME, day.translate(ARABIC), "١٠:٠٠")
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["status"] == "booked" and len(mine["code"]) == 8 and mine["time"] == "10:00"
    # The same booking sent again (a retried request): the same visit, not a second one.
    again = _book(api, ME, day, "10:00")
    assert again.status_code == 200 and again.json()["code"] == mine["code"]
    free = api.client.get("/api/citizen/appointments/slots", params={"category": "permits", "day": day},
                          headers=_citizen(api, ME)).json()["slots"]
    assert next(s for s in free if s["time"] == "10:00")["free"] == 0
    # The last place is mine: another citizen is told the slot is full, in Arabic too.
    full = _book(api, YOU, day, "10:00")
    assert full.status_code == 409 and full.json()["message_id"] == "booking.slot_full" and full.json()["message_ar"]
    # Another citizen cannot see or cancel my booking: the same 404 as a code that does not exist.
    theirs = api.client.post(f"/api/citizen/appointments/{mine['code']}/cancel", headers=_citizen(api, YOU))
    nothing = api.client.post("/api/citizen/appointments/00000000/cancel", headers=_citizen(api, YOU))
    assert theirs.status_code == nothing.status_code == 404 and theirs.json() == nothing.json()
    assert api.client.get("/api/citizen/appointments", headers=_citizen(api, YOU)).json() == []
    listed = api.client.get("/api/citizen/appointments", headers=_citizen(api, ME)).json()
    assert [b["code"] for b in listed] == [mine["code"]]
    dashed = mine["code"][:4] + "-" + mine["code"][4:]
    cancelled = api.client.post(f"/api/citizen/appointments/{dashed.translate(ARABIC)}/cancel",
                                headers=_citizen(api, ME))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    twice = api.client.post(f"/api/citizen/appointments/{mine['code']}/cancel", headers=_citizen(api, ME))
    assert twice.status_code == 200 and twice.json()["status"] == "cancelled"
    # The place came back: the other citizen gets it now.
    assert _book(api, YOU, day, "10:00").status_code == 201


def test_one_visit_per_category_and_day(api: Api) -> None:
    _open_all_day(api, capacity=5)
    day = _tomorrow(api)
    assert _book(api, ME, day, "10:00").status_code == 201
    second = _book(api, ME, day, "11:00")
    assert second.status_code == 409 and second.json()["message_id"] == "booking.already_booked"
    assert "10:00" in second.json()["message_ar"]
    # The service's queue by its name in each language, not its code.
    assert "«التراخيص»" in second.json()["message_ar"] and "permits" not in second.json()["message_ar"]
    # Another day is another visit.
    later = (_local(api).date() + timedelta(days=2)).isoformat()
    assert _book(api, ME, later, "11:00").status_code == 201


def test_holidays_weekends_past_slots_and_bad_input_are_refused(api: Api) -> None:
    tomorrow = _local(api).date() + timedelta(days=1)
    _open_all_day(api, holidays=[tomorrow.isoformat().translate(ARABIC)])
    closed = api.client.get("/api/citizen/appointments/slots", params={"category": "permits",
                                                                       "day": tomorrow.isoformat()},
                            headers=_citizen(api, ME)).json()
    assert closed == {"day": tomorrow.isoformat(), "category": "permits", "closed": "holiday", "slots": []}
    r = _book(api, ME, tomorrow.isoformat(), "10:00")
    assert r.status_code == 409 and r.json()["message_id"] == "booking.day_holiday"
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[tomorrow.weekday()]
    _open_all_day(api, weekend=[weekday])
    r = _book(api, ME, tomorrow.isoformat(), "10:00")
    assert r.status_code == 409 and r.json()["message_id"] == "booking.day_weekend"
    _open_all_day(api)
    today = _local(api).date().isoformat()
    past = _book(api, ME, today, "00:00")
    assert past.status_code == 409 and past.json()["message_id"] == "booking.slot_past"
    far = (_local(api).date() + timedelta(days=api.settings.booking_days_ahead + 1)).isoformat()
    assert _book(api, ME, far, "10:00").status_code == 422
    yesterday = (_local(api).date() - timedelta(days=1)).isoformat()
    assert _book(api, ME, yesterday, "10:00").status_code == 422
    for day, time in [("tomorrow", "10:00"), (tomorrow.isoformat(), "10:07"), (tomorrow.isoformat(), "25:00"),
                      (tomorrow.isoformat(), "٢"), ("2026-02-30", "10:00")]:
        bad = _book(api, ME, day, time)
        assert bad.status_code == 422 and bad.json()["message_ar"], (day, time, bad.text)
    no_plan = api.client.post("/api/citizen/appointments", headers=_citizen(api, ME),
                              json={"category": "traffic", "day": tomorrow.isoformat(), "time": "10:00"})
    assert no_plan.status_code == 404 and no_plan.json()["message_id"] == "booking.no_plan"
    unknown = api.client.post("/api/citizen/appointments", headers=_citizen(api, ME),
                              json={"category": "permits", "day": tomorrow.isoformat(), "time": "10:00", "x": 1})
    assert unknown.status_code == 422


def test_tokens_stay_on_their_side(api: Api) -> None:
    _open_all_day(api)
    clerk = api.user("front_desk")
    for path in ["/api/citizen/appointments", "/api/citizen/appointments/places"]:
        assert api.client.get(path, headers=clerk).status_code == 401
        assert api.client.get(path).status_code == 401
    assert api.client.post("/api/citizen/appointments", headers=clerk, json={
        "category": "permits", "day": _tomorrow(api), "time": "10:00"}).status_code == 401
    me = _citizen(api, ME)
    assert api.client.get("/api/appointments", params={"day": _tomorrow(api)}, headers=me).status_code == 401
    assert api.client.put("/api/appointments/plans/permits", headers=me,
                          json={"slot_minutes": 15, "capacity": 1}).status_code == 401
    assert api.client.put("/api/appointments/plans/permits", headers=clerk,
                          json={"slot_minutes": 15, "capacity": 1}).status_code == 403


def _next_slot(api: Api) -> str:
    """The first slot still to come today (15-minute slots from 00:00)."""
    now = _local(api)
    minutes = (now.hour * 60 + now.minute) // 15 * 15 + 15
    if minutes > 23 * 60 + 30:  # the day's last slot has started: no slot today to turn into a ticket
        pytest.skip("too close to the center's midnight for a slot still to come today")
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def test_the_kiosk_turns_the_booking_into_a_ticket_once(api: Api) -> None:
    _open_all_day(api, capacity=3)
    today = _local(api).date().isoformat()
    booked = _book(api, ME, today, _next_slot(api))
    assert booked.status_code == 201, booked.text
    code = booked.json()["code"]
    typed = (code[:4] + " - " + code[4:]).translate(ARABIC)
    first = api.client.post("/api/queue/bookings/redeem", json={"code": typed})
    assert first.status_code == 200, first.text
    ticket = first.json()["ticket"]
    assert ticket["category"] == "appointments" and ticket["number"].startswith("B-") and ticket["case_id"] is None
    assert first.json()["booking"]["status"] == "arrived" and first.json()["booking"]["ticket"] == ticket["number"]
    # A double touch, a retried request: the same ticket.
    second = api.client.post("/api/queue/bookings/redeem", json={"code": code})
    assert second.status_code == 200 and second.json()["ticket"]["number"] == ticket["number"]
    # By the phone, with its local form.
    assert _book(api, YOU, today, _next_slot(api)).status_code == 201
    by_phone = api.client.post("/api/queue/bookings/redeem", json={"phone": "01112223334"})
    assert by_phone.status_code == 200 and by_phone.json()["ticket"]["number"] != ticket["number"]
    # The public kiosk never hands a booking's code out: only its last two digits show.
    assert first.json()["booking"]["code"] == "••••••" + code[-2:]
    assert by_phone.json()["booking"]["code"].startswith("••••••")
    # Arrived visits cannot be cancelled any more.
    late = api.client.post(f"/api/citizen/appointments/{code}/cancel", headers=_citizen(api, ME))
    assert late.status_code == 409 and late.json()["message_id"] == "booking.cancel_status"
    # Nobody takes a booked visit's ticket at the kiosk without a booking, and the kiosk shows no button for it.
    walk_in = api.client.post("/api/queue/tickets", json={"category": "appointments"})
    assert walk_in.status_code == 422 and walk_in.json()["message_id"] == "queue.no_walk_in"
    assert 'id="kiosk-appointments"' not in api.client.get("/queue/kiosk").text
    for body in [{"code": "12345678"}, {"phone": "01000000000"}, {"code": "abc"}]:
        r = api.client.post("/api/queue/bookings/redeem", json=body)
        assert r.status_code == 404 and r.json()["message_ar"], body
    assert api.client.post("/api/queue/bookings/redeem", json={}).status_code == 422
    clerk = api.user("front_desk")
    day = api.client.get("/api/appointments", params={"day": today}, headers=clerk).json()
    assert day["counts"]["arrived"] == 2 and {b["ticket"] for b in day["bookings"]} >= {ticket["number"]}


def test_misses_at_one_kiosk_are_throttled(api: Api) -> None:
    for _ in range(api.settings.booking_misses_per_address):
        assert api.client.post("/api/queue/bookings/redeem", json={"code": "12345678"}).status_code == 404
    r = api.client.post("/api/queue/bookings/redeem", json={"code": "12345678"})
    assert r.status_code == 429 and "retry-after" in r.headers


def test_another_centers_kiosk_does_not_redeem(api: Api) -> None:
    with Session(engine_for(api.settings.database_url)) as session:
        center_tree(session)
    _open_all_day(api, center="CITY-A")
    today = _local(api).date().isoformat()
    code = _book(api, ME, today, _next_slot(api), center="CITY-A").json()["code"]
    other = api.client.post("/api/queue/bookings/redeem", json={"code": code, "center": "CITY-B"})
    assert other.status_code == 409 and other.json()["message_id"] == "booking.other_center"
    assert "CITY-A" in other.json()["message_ar"]
    assert api.client.post("/api/queue/bookings/redeem", json={"phone": ME, "center": "CITY-B"}).status_code == 404
    assert api.client.post("/api/queue/bookings/redeem", json={"code": code}).status_code == 409  # no center
    ok = api.client.post("/api/queue/bookings/redeem", json={"code": code, "center": "CITY-A"})
    assert ok.status_code == 200, ok.text
    # A clerk of the other city does not read this city's bookings.
    ids = _center_ids(api)
    clerk_b = api.user("front_desk", center_id=ids["CITY-B"])
    r = api.client.get("/api/appointments", params={"day": today, "center": "CITY-A"}, headers=clerk_b)
    assert r.status_code == 403
    clerk_a = api.user("front_desk", center_id=ids["CITY-A"])
    assert api.client.get("/api/appointments", params={"day": today}, headers=clerk_a).json()["counts"]["arrived"] == 1


def _center_ids(api: Api) -> dict[str, int]:
    from storage.models.centers import Center

    with Session(engine_for(api.settings.database_url)) as session:
        return {c.code: c.id for c in session.exec(select(Center)).all() if c.id is not None}


def _booked_at(api: Api, when: datetime, phone: str = ME) -> Booking:
    """A booking of the slot starting at ``when``, made the day before (through the engine, at a frozen time)."""
    local = when.astimezone(ZoneInfo(api.settings.display_timezone))
    with Session(engine_for(api.settings.database_url)) as session:
        booking, new = bookings.book(session=session, settings=api.settings, phone=phone, center_id=None,
                                     category_code="permits", day=local.date().isoformat(),
                                     at=local.strftime("%H:%M"), now=when - timedelta(days=1))
        assert new
        return booking


def test_too_early_too_late_and_the_no_show_round(api: Api) -> None:
    _open_all_day(api)
    slot = (_local(api) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0).astimezone(UTC)
    booking = _booked_at(api, slot)
    settings = api.settings
    with Session(engine_for(settings.database_url)) as session:
        for moment, refusal in [(slot - timedelta(days=1), "booking.not_today"),
                                (slot - timedelta(minutes=40), "booking.too_early"),
                                (slot + timedelta(minutes=20), "booking.too_late")]:
            with clock.frozen(moment):
                try:
                    arrivals.redeem(session=session, settings=settings, center_id=None, code=booking.code)
                except Conflict as exc:
                    assert exc.message_id == refusal
                else:
                    raise AssertionError(f"{refusal} expected at {moment}")
        # The round before the grace ends leaves it; after, it is a no-show and the place is free again.
        assert booking_rounds.run(session, settings, slot + timedelta(minutes=10)).no_shows == 0
        assert booking_rounds.run(session, settings, slot + timedelta(minutes=16)).no_shows == 1
        assert booking_rounds.run(session, settings, slot + timedelta(minutes=17)).no_shows == 0
        row = session.exec(select(BookingSlot)).one()
        assert row.taken == 0
        with clock.frozen(slot + timedelta(minutes=5)):
            try:
                arrivals.redeem(session=session, settings=settings, center_id=None, code=booking.code)
            except Conflict as exc:
                assert exc.message_id == "booking.missed"
            else:
                raise AssertionError("a no-show's code must not give a ticket")
    day = api.client.get("/api/appointments", params={"day": booking.day.isoformat()},
                         headers=api.user("front_desk")).json()
    assert day["counts"]["no_show"] == 1


def test_the_reminder_goes_once_the_day_before(api: Api) -> None:
    _open_all_day(api)
    settings = api.settings
    slot = (_local(api) + timedelta(days=2)).replace(hour=9, minute=30, second=0, microsecond=0)
    booking = _booked_at(api, slot.astimezone(UTC))
    day_before = (slot - timedelta(days=1)).replace(hour=8)
    with Session(engine_for(settings.database_url)) as session:
        assert booking_rounds.run(session, settings, day_before.astimezone(UTC)).reminded == 0  # before 10:00
        noon = day_before.replace(hour=12).astimezone(UTC)
        assert booking_rounds.run(session, settings, noon).reminded == 1
        assert booking_rounds.run(session, settings, noon).reminded == 0  # the round again: nothing more
        assert booking_rounds.run(session, settings, noon + timedelta(hours=3)).reminded == 0
        sms = session.exec(select(OutboxMessage).where(OutboxMessage.stage == "booking_reminder")).all()
        assert len(sms) == 1 and sms[0].recipient == ME and booking.code in sms[0].body and "09:30" in sms[0].body
    send.drain(settings=settings, now=max(noon, datetime.now(UTC)) + timedelta(seconds=1))
    lines = [json.loads(line) for line in Path(settings.message_log_path).read_text("utf-8").splitlines()]
    assert [m["to"] for m in lines if booking.code in m["body"]] == [ME]


def test_booked_visits_are_called_before_walk_ins_of_the_same_moment(api: Api) -> None:
    _open_all_day(api)
    settings = api.settings
    today = _local(api).date().isoformat()
    code = _book(api, ME, today, _next_slot(api)).json()["code"]
    walk_in = api.client.post("/api/queue/tickets", json={"category": "permits"}).json()["number"]
    booked = api.client.post("/api/queue/bookings/redeem", json={"code": code}).json()["ticket"]["number"]
    now = datetime.now(UTC)
    with Session(engine_for(settings.database_url)) as session:
        for number, waited in [(walk_in, 100), (booked, 60)]:  # 100 s x 1 against 60 s x 2
            ticket = session.exec(select(QueueTicket).where(QueueTicket.number == number)).one()
            ticket.waiting_since = now - timedelta(seconds=waited)
            session.add(ticket)
        session.commit()
        clerk = Actor("clerk", frozenset({"front_desk"}))
        assert calls.call_next(session=session, counter_number=1, actor=clerk, settings=settings).number == booked


def test_administrators_set_slots_and_hours_and_bad_ones_are_refused(api: Api) -> None:
    admin = api.user("admin")
    plan = api.client.put("/api/appointments/plans/traffic", json={}, headers=admin)
    assert plan.status_code == 200 and (plan.json()["slot_minutes"], plan.json()["capacity"]) == (15, 2)
    assert api.client.get("/api/appointments/plans", headers=admin).json()[0]["category"] == "traffic"
    for body in [{"slot_minutes": 3}, {"capacity": 0}, {"center": "NOWHERE"}]:
        assert api.client.put("/api/appointments/plans/traffic", json=body, headers=admin).status_code == 422, body
    assert api.client.put("/api/appointments/plans/no_such", json={}, headers=admin).status_code == 422
    calendar = api.client.get("/api/appointments/calendar", headers=admin).json()
    assert calendar == {"center": None, "opens": "09:00", "closes": "14:00", "weekend": ["fri", "sat"], "holidays": []}
    for bad in [{"opens": "14:00", "closes": "09:00"}, {"weekend": ["friday", "noday"]},
                {"weekend": ["mon", "tue", "wed", "thu", "fri", "sat"], "holidays": ["2026-13-01"]},
                {"opens": "9am"}]:
        body = {"opens": "09:00", "closes": "14:00", "weekend": ["fri"], "holidays": [], **bad}
        r = api.client.put("/api/appointments/calendar", json=body, headers=admin)
        assert r.status_code == 422 and r.json()["message_ar"], bad
    ok = api.client.put("/api/appointments/calendar", headers=admin, json={
        "opens": "٠٨:٣٠", "closes": "13:00", "weekend": ["Friday"], "holidays": ["٢٠٢٦-١٢-٢٤"]})
    assert ok.status_code == 200 and ok.json()["holidays"] == ["2026-12-24"] and ok.json()["weekend"] == ["fri"]
    heavy = api.client.put("/api/queue/categories/appointments", headers=admin, json={
        "letter": "B", "name_ar": "المواعيد المحجوزة", "name_en": "Booked visits", "weight": 1000})
    assert heavy.status_code == 422
    # A category saved without a weight keeps its own.
    kept = api.client.put("/api/queue/categories/appointments", headers=admin, json={
        "letter": "B", "name_ar": "المواعيد المحجوزة", "name_en": "Booked visits", "position": 6})
    assert kept.status_code == 200 and kept.json()["weight"] == 2.0 and kept.json()["walk_in"] is False


def test_a_centers_holidays_and_those_above_it_close_it_for_visits(api: Api) -> None:
    with Session(engine_for(api.settings.database_url)) as session:
        center_tree(session)
    _open_all_day(api, center="CITY-A")
    admin = api.user("admin")
    tomorrow = _local(api).date() + timedelta(days=1)
    after = tomorrow + timedelta(days=1)
    assert api.client.put("/api/centers/GOV/holidays", json={"holidays": [tomorrow.isoformat()]},
                          headers=admin).status_code == 200
    assert api.client.put("/api/centers/CITY-A/holidays", json={"holidays": [after.isoformat()]},
                          headers=admin).status_code == 200
    places = api.client.get("/api/citizen/appointments/places", headers=_citizen(api, ME)).json()
    assert [(p["center"], p["category"]) for p in places] == [("CITY-A", "permits")]
    for day in (tomorrow, after):
        slots = api.client.get("/api/citizen/appointments/slots", headers=_citizen(api, ME),
                               params={"category": "permits", "day": day.isoformat(), "center": "CITY-A"}).json()
        assert slots["closed"] == "holiday" and slots["slots"] == []
        assert _book(api, ME, day.isoformat(), "10:00", center="CITY-A").status_code == 409
    # Visits of permits are booked at CITY-A only: the other city has no plan.
    r = _book(api, ME, (after + timedelta(days=1)).isoformat(), "10:00", center="CITY-B")
    assert r.status_code == 404 and r.json()["message_id"] == "booking.no_plan"
    assert _book(api, ME, (after + timedelta(days=1)).isoformat(), "10:00", center="CITY-A").status_code == 201


def test_a_booking_of_another_day_counts_as_a_miss(api: Api) -> None:
    """A guesser who hits a real code of another day learns it exists; such answers count against the kiosk's
    address like codes that are no booking at all, so guessing slows down the same."""
    from engine.core.throttle import Throttled

    _open_all_day(api)
    slot = (_local(api) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0).astimezone(UTC)
    booking = _booked_at(api, slot)
    settings = api.settings
    with Session(engine_for(settings.database_url)) as session, clock.frozen(slot - timedelta(days=1)):
        for _ in range(settings.booking_misses_per_address):
            with pytest.raises(Conflict):
                arrivals.redeem(session=session, settings=settings, center_id=None, code=booking.code,
                                client="203.0.113.9")
        with pytest.raises(Throttled):
            arrivals.redeem(session=session, settings=settings, center_id=None, code=booking.code,
                            client="203.0.113.9")
        # Another kiosk's address is not held up by this one's misses.
        with pytest.raises(Conflict):
            arrivals.redeem(session=session, settings=settings, center_id=None, code=booking.code,
                            client="203.0.113.10")


def test_citizens_of_today_who_come_early_or_late_do_not_lock_the_kiosk(api: Api) -> None:
    """The hall shares one kiosk: a day's citizens arriving too early or too late are told so, and are not
    counted as guessers; the next citizen still gets a ticket."""
    _open_all_day(api)
    slot = (_local(api) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0).astimezone(UTC)
    booking = _booked_at(api, slot)
    settings = api.settings
    kiosk = "203.0.113.20"
    with Session(engine_for(settings.database_url)) as session:
        for moment, refusal in [(slot - timedelta(minutes=40), "booking.too_early"),
                                (slot + timedelta(minutes=20), "booking.too_late")]:
            for _ in range(settings.booking_misses_per_address + 1):
                with clock.frozen(moment), pytest.raises(Conflict) as refused:
                    arrivals.redeem(session=session, settings=settings, center_id=None, code=booking.code,
                                    client=kiosk)
                assert refused.value.message_id == refusal
        with clock.frozen(slot):  # on time: the ticket (a locked kiosk would have raised Throttled)
            arrived, ticket = arrivals.redeem(session=session, settings=settings, center_id=None,
                                              code=booking.code, client=kiosk)
        assert arrived.status == "arrived" and ticket.number.startswith("B-")


def test_a_center_node_sends_no_booking_reminder(api: Api) -> None:
    # Bookings are central's (storage/nodes.py): a node's reminder would be a second SMS, and an outbox row of the
    # same key as central's, which stops replication when the two meet.
    _open_all_day(api)
    central = api.settings
    node = central.model_copy(update={"node_role": "center", "node_center": "CAI01"})
    slot = (_local(api) + timedelta(days=2)).replace(hour=9, minute=30, second=0, microsecond=0)
    _booked_at(api, slot.astimezone(UTC))
    noon = (slot - timedelta(days=1)).replace(hour=12).astimezone(UTC)
    with Session(engine_for(central.database_url)) as session:
        assert booking_rounds.run(session, node, noon).reminded == 0
        assert not session.exec(select(OutboxMessage).where(OutboxMessage.stage == "booking_reminder")).all()
        assert booking_rounds.run(session, central, noon).reminded == 1
