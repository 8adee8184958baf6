"""Every field has an owner on the pages too: a posted field the step does not own is refused by name, as on
the API, and the citizen's contact details change only through the case page's correction form."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from harness.pages import Pages, deploy
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.audit import AuditEvent
from storage.models.cases import Case, Task
from storage.models.messages import OutboxMessage
from tests.admin_ui.test_desk_pages import register
from tests.admin_ui.test_inbox_pages import _open_review


def _case(pages: Pages, number: str) -> Case:
    with Session(engine_for(pages.settings.database_url)) as db:
        case = db.exec(select(Case).where(Case.tracking_number == number)).one()
        db.expunge(case)
        return case


def _events(pages: Pages, case_id: int | None) -> list[str]:
    with Session(engine_for(pages.settings.database_url)) as db:
        return list(db.exec(select(AuditEvent.kind).where(AuditEvent.case_id == case_id)
                            .order_by(col(AuditEvent.seq))).all())


def test_a_posted_field_the_form_does_not_have_is_refused_by_name_and_nothing_is_written(pages: Pages) -> None:
    number = _open_review(pages)
    before = _case(pages, number)
    assert before.data["fee"] == 300.0
    pages.as_user("reviewer")
    task_id = re.search(r'href="/tasks/([\w-]+)"', pages.client.get("/inbox").text)
    assert task_id is not None
    r = pages.post(f"/tasks/{task_id.group(1)}", {"data.decision": "approve", "data.fee": "1"}, token_from="/inbox")
    assert r.status_code == 422
    assert "fee: ليس من حقول نموذج هذه الخطوة" in r.text
    after = _case(pages, number)
    assert (after.version, after.data) == (before.version, before.data)
    assert _events(pages, after.id)[-1] == "task_completed"  # the clerk's registration, nothing since
    with Session(engine_for(pages.settings.database_url)) as db:
        assert db.get(Task, task_id.group(1)).state == "ready"  # type: ignore[union-attr]
    done = pages.post(f"/tasks/{task_id.group(1)}", {"data.decision": "approve"}, token_from="/inbox")
    assert done.status_code == 303


def test_the_desk_refuses_a_field_the_intake_form_does_not_have(pages: Pages) -> None:
    pages.as_user("front_desk")
    r = register(pages, "test_permit", {"data.area": "120", "data.purpose": "بيت", "data.fee": "1"})
    assert r.status_code == 422 and "fee: ليس من حقول نموذج هذه الخطوة" in r.text
    with Session(engine_for(pages.settings.database_url)) as db:
        assert db.exec(select(Case)).all() == []


def test_a_read_only_field_is_shown_but_cannot_be_sent(pages: Pages) -> None:
    deploy(pages.settings, TEST_PROCESSES / "field_owners")
    pages.as_user("front_desk")
    page = pages.client.get("/desk/field_owners").text
    assert re.search(r'<input id="f-data-reference" name="data.reference" type="text" value="" readonly disabled',
                     page)
    r = register(pages, "field_owners", {"data.area": "40", "data.purpose": "كشك", "data.reference": "MINE"})
    assert r.status_code == 422 and "reference: للقراءة فقط في نموذج هذه الخطوة" in r.text


def test_the_case_page_corrects_the_citizens_phone_with_a_reason_and_tells_both_phones(pages: Pages) -> None:
    number = _open_review(pages)
    case = _case(pages, number)
    page = pages.client.get(f"/cases/{case.id}").text
    assert f'action="/cases/{case.id}/citizen-correction"' in page and "تصحيح بيانات الاتصال بالمواطن" in page
    url = f"/cases/{case.id}/citizen-correction"
    form = {"correction.phone": "+201112223334", "correction.language": "ar", "correction.email": ""}
    missing = pages.post(url, {**form, "reason": ""}, token_from=f"/cases/{case.id}")
    assert missing.status_code == 422 and "اذكر سبب تصحيح البيانات" in missing.text
    bad = pages.post(url, {**form, "correction.phone": "0100", "reason": "رقم جديد"}, token_from=f"/cases/{case.id}")
    assert bad.status_code == 422 and "رقم الهاتف يجب أن يكون بالصيغة الدولية" in bad.text
    assert _case(pages, number).version == case.version
    done = pages.post(url, {**form, "reason": "رقم جديد"}, token_from=f"/cases/{case.id}")
    assert done.status_code == 303 and done.headers["location"] == f"/cases/{case.id}"
    shown = pages.client.get(f"/cases/{case.id}").text
    assert "صُحّحت بيانات الاتصال بالمواطن" in shown and shown.count("تصحيح بيانات الاتصال</td>") == 2
    corrected = _case(pages, number)
    assert corrected.phone == "+201112223334" and corrected.data["citizen"]["phone"] == "+201112223334"
    assert "language" not in corrected.data["citizen"]  # only what the clerk changed
    assert _events(pages, case.id)[-1] == "citizen_corrected"
    with Session(engine_for(pages.settings.database_url)) as db:
        told = db.exec(select(OutboxMessage.recipient).where(OutboxMessage.case_id == case.id,
                                                             OutboxMessage.stage == "contact_corrected")).all()
    assert sorted(told) == sorted([case.phone, "+201112223334"])


def test_other_roles_neither_see_nor_use_the_correction(pages: Pages) -> None:
    number = _open_review(pages)
    case = _case(pages, number)
    pages.as_user("reviewer")
    page = pages.client.get(f"/cases/{case.id}").text
    assert "citizen-correction" not in page
    r = pages.post(f"/cases/{case.id}/citizen-correction", {"correction.phone": "+201112223334", "reason": "x"},
                   token_from=f"/cases/{case.id}")
    assert r.status_code == 403
    assert _case(pages, number).version == case.version
