"""The citizen's visit pages and the kiosk's "I have a booking", with plain forms (no JavaScript): choose a place
and a day, book a free time, read the code, cancel; another citizen's code is not theirs to cancel; the kiosk
turns the code into a ticket and says in Arabic why it will not."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from admin_ui.pages import CITIZEN_COOKIE
from api.app import create_app
from engine.citizen import signin
from harness.api import Api
from harness.pages import csrf_of
from harness.settings import make_settings

ME, YOU = "+201001234567", "+201112223334"


@pytest.fixture
def api(sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(sqlite_url, tmp_path)
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        admin = api.user("admin")
        assert client.put("/api/appointments/calendar", headers=admin, json={
            "opens": "00:00", "closes": "23:45", "weekend": [], "holidays": []}).status_code == 200
        assert client.put("/api/appointments/plans/permits", headers=admin,
                          json={"slot_minutes": 15, "capacity": 1}).status_code == 200
        yield api


def _as(client: TestClient, api: Api, phone: str) -> None:
    client.cookies.set(CITIZEN_COOKIE, signin.issue_token(phone, api.settings), path="/citizen")


def test_choose_book_read_the_code_and_cancel_without_javascript(api: Api) -> None:
    client = api.client
    assert client.get("/citizen/appointments", follow_redirects=False).headers["location"] == "/citizen"
    _as(client, api, ME)
    page = client.get("/citizen/appointments")
    assert page.status_code == 200 and "احجز زيارة" in page.text and 'value=":permits"' in page.text
    day = (datetime.now(UTC).astimezone(ZoneInfo(api.settings.display_timezone)).date() + timedelta(days=1))
    slots = client.get("/citizen/appointments/slots", params={"place": ":permits", "day": day.isoformat()})
    assert slots.status_code == 200 and 'id="slot-1000"' in slots.text
    token = csrf_of(slots.text)
    booked = client.post("/citizen/appointments", data={"csrf_token": token, "place": ":permits",
                                                        "day": day.isoformat(), "time": "10:00"})
    assert booked.status_code == 200 and "تم حجز زيارتك" in booked.text
    found = re.search(r'id="visit-code">(\d{8})<', booked.text)
    assert found is not None
    code = found.group(1)
    # The same time again from another citizen: full, said in Arabic on the page.
    client.cookies.clear()
    _as(client, api, YOU)
    token = csrf_of(client.get("/citizen/appointments").text)
    theirs = client.post("/citizen/appointments", data={"csrf_token": token, "place": ":permits",
                                                        "day": day.isoformat(), "time": "10:00"})
    assert theirs.status_code == 409 and "ممتلئ" in theirs.text
    # Nor may they cancel my visit.
    token = csrf_of(client.get("/citizen/appointments").text)
    refused = client.post(f"/citizen/appointments/{code}/cancel", data={"csrf_token": token})
    assert refused.status_code == 404 and "لا يوجد لديك حجز بهذا الرمز" in refused.text
    assert f'id="visit-{code}"' not in refused.text  # their page lists none of my visits
    client.cookies.clear()
    _as(client, api, ME)
    mine = client.get("/citizen/appointments")
    assert code in mine.text and f'id="cancel-{code}"' in mine.text
    gone = client.post(f"/citizen/appointments/{code}/cancel", data={"csrf_token": csrf_of(mine.text)},
                       follow_redirects=False)
    assert gone.status_code == 303
    assert "ملغى" in client.get("/citizen/appointments").text
    # Without the CSRF token, nothing is booked.
    assert client.post("/citizen/appointments", data={"place": ":permits", "day": day.isoformat(),
                                                      "time": "10:15"}).status_code == 403


def test_bad_choices_are_said_on_the_page(api: Api) -> None:
    client = api.client
    _as(client, api, ME)
    for params in [{"place": ":traffic", "day": "2026-01-01"}, {"place": ":permits", "day": "tomorrow"},
                   {"place": "NOWHERE:permits", "day": "2026-01-01"}]:
        r = client.get("/citizen/appointments/slots", params=params)
        assert 400 <= r.status_code < 500 and 'id="visit-error"' in r.text, params


def test_the_kiosk_takes_the_booking_code(api: Api) -> None:
    client = api.client
    now = datetime.now(UTC).astimezone(ZoneInfo(api.settings.display_timezone))
    minutes = (now.hour * 60 + now.minute) // 15 * 15 + 15
    if minutes > 23 * 60 + 30:  # the day's last slot has started: no slot today to turn into a ticket
        pytest.skip("too close to the center's midnight for a slot still to come today")
    r = client.post("/api/citizen/appointments", headers={"Authorization": "Bearer " + signin.issue_token(
        ME, api.settings)}, json={"category": "permits", "day": now.date().isoformat(),
                                  "time": f"{minutes // 60:02d}:{minutes % 60:02d}"})
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    kiosk = client.get("/queue/kiosk")
    assert 'id="kiosk-booking-form"' in kiosk.text and 'id="kiosk-appointments"' not in kiosk.text
    wrong = client.post("/queue/kiosk/booking", data={"csrf_token": csrf_of(kiosk.text), "booking": "12345678"})
    assert wrong.status_code == 404 and 'id="kiosk-error"' in wrong.text and "لا يوجد حجز" in wrong.text
    typed = code.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    ok = client.post("/queue/kiosk/booking", data={"csrf_token": csrf_of(kiosk.text), "booking": typed},
                     follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].startswith("/queue/ticket/B-")
