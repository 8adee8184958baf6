"""The queue's pages: the kiosk without sign-in, the clerk's counter, the board, and the front desk opening a
case from the called ticket."""

from __future__ import annotations

import re

from sqlmodel import Session

from harness.api import CITIZEN
from harness.pages import Pages
from storage.db import engine_for
from storage.models.queue import QueueTicket

CITIZEN_FORM = {f"citizen.{k}": v for k, v in CITIZEN.items()}


def take(pages: Pages, category: str, priority: str = "normal") -> str:
    r = pages.post("/queue/kiosk", {"category": category, "priority": priority}, token_from="/queue/kiosk")
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/queue/ticket/([A-Z]-\d{3})", r.headers["location"])
    assert found is not None
    return found.group(1)


def test_the_kiosk_needs_no_sign_in_and_speaks_arabic_first(pages: Pages) -> None:
    page = pages.client.get("/queue/kiosk")
    assert page.status_code == 200
    assert 'lang="ar" dir="rtl"' in page.text
    assert "التراخيص" in page.text and "كبار السن" in page.text and 'id="kiosk-permits"' in page.text
    number = take(pages, "permits", "elderly")
    assert number == "P-001"
    ticket = pages.client.get(f"/queue/ticket/{number}")
    assert re.search(r'id="ticket-number">P-001<', ticket.text)
    assert re.search(r'id="ticket-category">التراخيص<', ticket.text)
    assert re.search(r'id="ticket-wait">أقل من دقيقة<', ticket.text)  # nobody ahead
    assert 'src="/static/kiosk.js"' in ticket.text
    second = pages.client.get(f"/queue/ticket/{take(pages, 'permits')}")
    assert re.search(r'id="ticket-wait">حوالي 3 دقيقة<', second.text)  # 300 s x 1 ahead / 2 counters
    refused = pages.post("/queue/kiosk", {"category": "weddings"}, token_from="/queue/kiosk")
    assert refused.status_code == 422
    assert pages.client.get("/queue/ticket/P-404").status_code == 404


def test_the_counter_calls_recalls_transfers_and_opens_a_case(pages: Pages) -> None:
    assert pages.client.get("/queue/counter?counter=1").status_code == 303  # sign in first
    number = take(pages, "permits")
    pages.as_user("front_desk")
    page = pages.client.get("/queue/counter?counter=1")
    assert page.status_code == 200 and number in page.text and 'id="call-next"' in page.text
    assert '<a href="/queue/counter" aria-current="page">الشباك</a>' in page.text  # in the clerk's menu
    r = pages.post("/queue/counter/1", {"action": "call-next"}, token_from="/queue/counter?counter=1")
    assert (r.status_code, r.headers["location"]) == (303, "/queue/counter?counter=1")
    page = pages.client.get("/queue/counter?counter=1")
    assert re.search(r'id="current-ticket">P-001<', page.text)
    assert 'href="/desk?ticket=P-001"' in page.text
    pages.post("/queue/counter/1", {"action": "recall", "ticket": number}, token_from="/queue/counter?counter=1")
    assert "أعيد النداء 1 مرة" in pages.client.get("/queue/counter?counter=1").text
    # The front desk, from the ticket: the service links and the intake form carry it.
    desk = pages.client.get("/desk?ticket=P-001")
    assert 'id="desk-ticket"' in desk.text and "ticket=P-001" in desk.text
    intake = pages.client.get("/desk/test_permit?ticket=P-001")
    assert '<input type="hidden" name="ticket" value="P-001">' in intake.text
    r = pages.post("/desk/test_permit", {**CITIZEN_FORM, "data.area": "120", "data.purpose": "بيت العائلة",
                                         "action": "register", "ticket": number}, token_from="/desk")
    assert r.status_code == 303, r.text
    case_id = int(re.fullmatch(r"/cases/(\d+)/receipt", r.headers["location"]).group(1))  # type: ignore[union-attr]
    with Session(engine_for(pages.settings.database_url)) as session:
        linked = session.get(QueueTicket, 1)
        assert linked is not None and (linked.case_id, linked.status) == (case_id, "serving")
    page = pages.client.get("/queue/counter?counter=1")
    assert f'href="/cases/{case_id}"' in page.text
    # Transfer: the citizen gets a traffic ticket and counter 1 is free.
    r = pages.post("/queue/counter/1", {"action": "transfer", "ticket": number, "category": "traffic"},
                   token_from="/queue/counter?counter=1")
    assert r.status_code == 303
    page = pages.client.get("/queue/counter?counter=1")
    assert "T-001" in page.text and 'id="call-next"' in page.text
    # A stale page (the ticket was transferred meanwhile) gets the page back with why, not an error page.
    r = pages.post("/queue/counter/1", {"action": "recall", "ticket": number}, token_from="/queue/counter?counter=1")
    assert r.status_code == 303
    assert "تغيّرت التذكرة أو الشباك في هذه الأثناء" in pages.client.get("/queue/counter?counter=1").text
    # Nothing waits for counter 1: said on the page, not an error page.
    pages.post("/queue/counter/1", {"action": "call-next"}, token_from="/queue/counter?counter=1")
    assert "لا أحد ينتظر هذا الشباك." in pages.client.get("/queue/counter?counter=1").text


def test_the_board_shows_calls_and_follows_them(pages: Pages) -> None:
    number = take(pages, "traffic")
    pages.as_user("front_desk")
    pages.post("/queue/counter/2", {"action": "call-next"}, token_from="/queue/counter?counter=2")
    pages.sign_out()
    board = pages.client.get("/queue/board")
    assert board.status_code == 200
    assert re.search(rf'<td dir="ltr" class="ticket-cell">{number}</td><td class="counter-cell">2</td>', board.text)
    assert re.search(rf'data-counter="2">{number}<', board.text)
    assert 'data-after="1"' in board.text and 'src="/static/board.js"' in board.text
