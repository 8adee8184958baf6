"""The department's inbox: its lanes' tasks oldest first, overdue marked, filters, claim, release, decide."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col

from admin_ui.i18n import ltr
from harness.pages import Pages
from storage.db import engine_for
from storage.models.cases import Task
from tests.admin_ui.test_desk_pages import register


def _open_review(pages: Pages, purpose: str = "بيت العائلة") -> str:
    """A test_permit case registered by a clerk, waiting for review; returns its tracking number."""
    pages.as_user("front_desk")
    r = register(pages, "test_permit", {"data.area": "120", "data.purpose": purpose})
    receipt = pages.client.get(r.headers["location"]).text
    found = re.search(r'id="tracking-number" dir="ltr">([\d-]+)<', receipt)
    assert found is not None
    return found.group(1)


def _rows(html: str) -> list[str]:
    return re.findall(r'<a href="/tasks/[\w-]+" class="num">([\d-]+)</a>', html)


def test_inbox_lists_the_lanes_tasks_oldest_first_with_overdue_marked(pages: Pages) -> None:
    first, second = _open_review(pages), _open_review(pages)
    with Session(engine_for(pages.settings.database_url)) as db:
        db.execute(update(Task).where(col(Task.tracking_number) == first, col(Task.state) == "ready")
                   .values(due_at=datetime.now(UTC) - timedelta(days=1)))
        db.commit()
    pages.as_user("reviewer")
    page = pages.client.get("/inbox").text
    assert _rows(page) == [first, second]
    assert page.count('class="overdue"') == 1 and "متأخرة" in page
    assert "مراجعة الطلب" in page and "ترخيص تجريبي" in page
    overdue = pages.client.get("/inbox", params={"status": "overdue"}).text
    assert _rows(overdue) == [first]
    assert _rows(pages.client.get("/inbox", params={"service": "building_permit"}).text) == []
    pages.as_user("engineering")
    assert _rows(pages.client.get("/inbox").text) == []  # another department's lane


def test_claim_and_release(pages: Pages) -> None:
    number = _open_review(pages)
    me = pages.as_user("reviewer")
    page = pages.client.get("/inbox").text
    task_id = re.search(r'action="/tasks/([\w-]+)/claim"', page)
    assert task_id is not None
    r = pages.post(f"/tasks/{task_id.group(1)}/claim", {"next": "/inbox?status=mine"}, token_from="/inbox")
    assert r.status_code == 303 and r.headers["location"] == "/inbox?status=mine"
    mine = pages.client.get("/inbox?status=mine").text
    assert _rows(mine) == [number] and f"استلمت الطلب {ltr(number)}" in mine and me in mine
    assert _rows(pages.client.get("/inbox?status=unclaimed").text) == []
    pages.post(f"/tasks/{task_id.group(1)}/release", {}, token_from="/inbox")
    assert _rows(pages.client.get("/inbox?status=unclaimed").text) == [number]


def test_a_task_claimed_by_someone_else_cannot_be_taken(pages: Pages) -> None:
    _open_review(pages)
    pages.as_user("reviewer")
    task_id = re.search(r'action="/tasks/([\w-]+)/claim"', pages.client.get("/inbox").text)
    assert task_id is not None
    pages.post(f"/tasks/{task_id.group(1)}/claim", {}, token_from="/inbox")
    other = pages.as_user("reviewer")
    page = pages.client.get(f"/tasks/{task_id.group(1)}").text
    assert other not in re.findall(r"استلم (\S+) هذه المرحلة", page)
    r = pages.post(f"/tasks/{task_id.group(1)}/claim", {}, token_from="/inbox")
    assert r.status_code == 409 and "قام شخص آخر بتعديل هذا قبلك" in r.text


def test_task_page_shows_the_case_earlier_notes_and_the_decision_form(pages: Pages) -> None:
    _open_review(pages, purpose="مبنى سكني من ثلاثة أدوار")
    pages.as_user("reviewer")
    task_id = re.search(r'href="/tasks/([\w-]+)"', pages.client.get("/inbox").text)
    assert task_id is not None
    page = pages.client.get(f"/tasks/{task_id.group(1)}").text
    assert "سارة أحمد محمود" in page and "مبنى سكني من ثلاثة أدوار" in page  # the case and the clerk's entry
    assert "تسجيل الطلب" in page  # the earlier step, by its Arabic title
    assert '<legend>القرار' in page and 'value="approve"' in page and 'value="reject"' in page
    assert '<label for="f-data-notes">ملاحظات' in page


def test_completing_returns_to_the_inbox_with_a_confirmation(pages: Pages) -> None:
    number = _open_review(pages)
    pages.as_user("reviewer")
    task_id = re.search(r'href="/tasks/([\w-]+)"', pages.client.get("/inbox").text)
    assert task_id is not None
    empty = pages.post(f"/tasks/{task_id.group(1)}", {}, token_from="/inbox")
    assert empty.status_code == 422
    assert '<p class="error" id="f-data-decision-error">هذا الحقل مطلوب</p>' in empty.text
    r = pages.post(f"/tasks/{task_id.group(1)}", {"data.decision": "approve", "data.notes": "مطابق"},
                   token_from="/inbox")
    assert r.status_code == 303 and r.headers["location"] == "/inbox"
    inbox = pages.client.get("/inbox").text
    assert f"تم: «مراجعة الطلب» للطلب {ltr(number)}." in inbox and _rows(inbox) == []
    again = pages.client.get(f"/tasks/{task_id.group(1)}").text
    assert "تم إنجاز هذه المرحلة بالفعل" in again


def test_an_engine_refusal_is_shown_in_the_readers_language(pages: Pages) -> None:
    # The engine refuses by message id (engine/core/refusals.py); the page says it from the engine's catalogs.
    pages.as_user("reviewer")
    r = pages.client.get("/tasks/987654321")
    assert r.status_code == 404
    assert "المهمة 987654321 غير موجودة" in r.text and "does not exist" not in r.text
    pages.post("/preferences", {"language": "en", "next": "/inbox"}, token_from="/inbox")
    r = pages.client.get("/tasks/987654321")
    assert r.status_code == 404 and "task 987654321 does not exist" in r.text


def test_availability_for_the_day_and_tasks_delegated_apart(pages: Pages) -> None:
    from engine.people import presence

    number = _open_review(pages)
    me = pages.as_user("reviewer")
    page = pages.client.get("/inbox").text
    assert "أنت متاح لاستلام عمل جديد." in page and 'name="available" value="no"' in page
    r = pages.post("/inbox/availability", {"available": "no"}, token_from="/inbox")
    assert r.status_code == 303 and r.headers["location"] == "/inbox"
    page = pages.client.get("/inbox").text
    assert "أنت غير متاح اليوم: لن يُسند إليك عمل جديد." in page and 'name="available" value="yes"' in page
    with Session(engine_for(pages.settings.database_url)) as db:
        assert presence.away(db.connection(), [me], presence.today(pages.settings)) == {me}
        db.execute(update(Task).where(col(Task.tracking_number) == number, col(Task.state) == "ready")
                   .values(claimed_by=me, delegated_from="colleague_away"))
        db.commit()
    page = pages.client.get("/inbox").text
    assert "مفوَّضة إليك" in page and "نيابةً عن colleague_away الغائب" in page
    assert pages.post("/inbox/availability", {"available": "yes"}, token_from="/inbox").status_code == 303
    assert "أنت متاح لاستلام عمل جديد." in pages.client.get("/inbox").text
