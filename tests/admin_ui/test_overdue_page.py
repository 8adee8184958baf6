"""The supervisors' overdue page: late tasks with their working days late, reassignment to an officer or back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from engine import escalation
from storage.db import engine_for
from storage.models import Task
from tests.admin_ui.test_inbox_pages import _open_review
from tests.support.pages import Pages


def test_overdue_page_lists_late_tasks_and_reassigns_them(pages: Pages) -> None:
    late, on_time = _open_review(pages), _open_review(pages)
    officer = pages.user("reviewer", username="reviewer_salma")
    with Session(engine_for(pages.settings.database_url)) as db:
        db.execute(update(Task).where(col(Task.tracking_number) == late, col(Task.state) == "ready")
                   .values(due_at=datetime.now(UTC) - timedelta(days=1)))
        db.commit()
        task_id, case_id = db.exec(select(Task.id, Task.case_id).where(col(Task.tracking_number) == late,
                                                                       col(Task.state) == "ready")).one()
    pages.as_user("reviewer")
    assert pages.client.get("/supervisor/overdue").status_code == 403  # not a supervisor
    pages.as_user("supervisor")
    page = pages.client.get("/supervisor/overdue").text
    assert "المهام المتأخرة" in page and 'href="/supervisor/overdue"' in page
    assert re.findall(r'class="num">([\d-]+)</a>', page) == [late]
    assert on_time not in page
    assert f'<option value="{officer}">' in page
    r = pages.post(f"/supervisor/tasks/{task_id}/reassign", {"to": officer}, token_from="/supervisor/overdue")
    assert r.status_code == 303
    page = pages.client.get("/supervisor/overdue").text
    assert f"إلى {officer}" in page  # the flash message
    with Session(engine_for(pages.settings.database_url)) as db:
        assert db.exec(select(Task.claimed_by).where(col(Task.id) == task_id)).one() == officer
    r = pages.post(f"/supervisor/tasks/{task_id}/reassign", {"to": ""}, token_from="/supervisor/overdue")
    assert r.status_code == 303
    with Session(engine_for(pages.settings.database_url)) as db:
        assert db.exec(select(Task.claimed_by).where(col(Task.id) == task_id)).one() is None
    with Session(engine_for(pages.settings.database_url)) as db:
        ticked = escalation.tick(session=db, settings=pages.settings)
    assert (ticked.reminded, ticked.escalated) == (1, 1)  # the late one; the other is due in 3 working days
    story = pages.client.get(f"/cases/{case_id}").text
    assert "اقترب موعد «مراجعة الطلب»: ذُكِّر القسم المختص" in story
    assert "تأخرت «مراجعة الطلب»: صُعِّدت إلى المستوى" in story
    assert f"«مراجعة الطلب» إلى {officer.title()}" in story  # the officer's full name
    assert "«مراجعة الطلب» إلى قسمها" in story
    r = pages.post(f"/supervisor/tasks/{task_id}/reassign", {"to": "supervisor_nobody"},
                   token_from="/supervisor/overdue")
    assert r.status_code == 404
