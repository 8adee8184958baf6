"""The case page lists the messages to the citizen: stage, channel, status with the gateway's error, text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlmodel import Session

from engine.messages import send
from harness.pages import Pages
from storage.db import engine_for
from storage.models.cases import Case
from storage.models.messages import OutboxMessage
from tests.admin_ui.test_case_pages import _case_id
from tests.admin_ui.test_desk_pages import register
from tests.admin_ui.test_inbox_pages import _open_review


def _messages(page: str) -> list[list[str]]:
    """The rows of the messages table, each cell's text with its spaces squeezed."""
    table = re.search(r'<table class="messages" id="messages">(.*?)</table>', page, re.S)
    assert table is not None
    rows = re.findall(r'<tr class="message \w+">(.*?)</tr>', table.group(1), re.S)
    return [[" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in rows]


def test_the_case_page_shows_each_message_and_why_one_failed(pages: Pages) -> None:
    number = _open_review(pages)
    case_id = _case_id(pages, number)
    with Session(engine_for(pages.settings.database_url)) as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.stage == "department")  # type: ignore[arg-type]
                        .values(status="failed", attempts=8, last_error="HTTP 400: invalid phone number"))
        session.commit()
    assert [a.status for a in send.drain(settings=pages.settings, now=datetime.now(UTC))] == ["sent"]
    rows = _messages(pages.client.get(f"/cases/{case_id}").text)
    assert [r[:4] for r in rows] == [
        ["استلام الطلب", "رسالة نصية", "أُرسلت", "1"],
        ["وصول الأوراق إلى إدارة", "رسالة نصية", "فشل الإرسال: لم يُبلَّغ المواطن HTTP 400: invalid phone number", "8"],
    ]
    assert number in rows[0][5]


def test_a_case_without_messages_says_so(pages: Pages) -> None:
    pages.as_user("front_desk")
    number = _open_review(pages)
    with Session(engine_for(pages.settings.database_url)) as session:
        session.execute(OutboxMessage.__table__.delete())  # type: ignore[attr-defined]
        session.commit()
    page = pages.client.get(f"/cases/{_case_id(pages, number)}").text
    assert 'id="messages"' not in page and "لا رسائل بعد." in page


def test_the_front_desk_records_the_language_and_e_mail_of_the_messages(pages: Pages) -> None:
    pages.as_user("front_desk")
    form = pages.client.get("/desk/test_permit").text
    assert re.search(r'name="citizen.language" value="ar" id="[\w-]+"\s+checked>', form)  # Arabic unless asked
    refused = register(pages, "test_permit", {"data.area": "120", "data.purpose": "shop",
                                              "citizen.email": "not an address"})
    assert refused.status_code == 422 and "البريد الإلكتروني غير صحيح" in refused.text
    r = register(pages, "test_permit", {"data.area": "120", "data.purpose": "shop", "citizen.language": "en",
                                        "citizen.email": "sara@example.org"})
    assert r.status_code == 303, r.text
    number = re.search(r'id="tracking-number" dir="ltr">([\d-]+)<', pages.client.get(r.headers["location"]).text)
    assert number is not None
    with Session(engine_for(pages.settings.database_url)) as session:
        case = session.execute(select(Case).where(Case.tracking_number == number.group(1))).scalar_one()
        languages = set(session.execute(select(OutboxMessage.language)
                                        .where(OutboxMessage.case_id == case.id)).scalars())
    assert {k: case.data["citizen"][k] for k in ("language", "email")} == {"language": "en",
                                                                          "email": "sara@example.org"}
    assert languages == {"en"}
