"""The auditors' time travel: a returned-and-resubmitted case step by step, its diff, its diagram marks."""

from __future__ import annotations

import html
import re

from sqlmodel import Session, select

from harness.api import Api
from harness.pages import Pages
from storage.db import engine_for
from storage.models.audit import AuditAccess
from tests.support.audit import People, deploy, returned_and_resubmitted


def _walked(pages: Pages) -> int:
    api = Api(pages.client, pages.settings)
    deploy(api)
    case = returned_and_resubmitted(api, People(api))
    return int(case["id"])


def _marks(page: str) -> tuple[list[str], list[str]]:
    found = re.search(r'data-done="([^"]*)" data-current="([^"]*)"', page)
    assert found is not None
    return found.group(1).split(), found.group(2).split()


def _diff(page: str) -> dict[str, tuple[str, str, str]]:
    rows = re.findall(r'<tr class="(\w+)" data-key="(\w+)"><th scope="row">[^<]*</th>\s*<td>[^<]*</td>\s*'
                      r'<td class="before">([^<]*)</td><td class="after">([^<]*)</td>', page)
    return {key: (kind, html.unescape(before), html.unescape(after)) for kind, key, before, after in rows}


def test_an_auditor_steps_through_a_returned_and_resubmitted_case(pages: Pages) -> None:
    case_id = _walked(pages)
    pages.as_user("auditor", full_name="منى")
    assert f'href="/cases/{case_id}/history"' in pages.client.get(f"/cases/{case_id}").text
    first = pages.client.get(f"/cases/{case_id}/history")
    assert first.status_code == 200, first.text
    steps = re.findall(r'<li(?: class="current")?><a href="\?step=(\d+)"', first.text)
    total = len(steps)  # opened, register, review (return), correct, review (approve), hand over, closed
    assert steps == [str(n) for n in range(1, 8)]
    assert f"الخطوة 1 من {total}" in first.text and 'aria-current="step"' in first.text
    assert 'id="previous"' not in first.text and f'href="?step={total}"' in first.text
    assert 'id="verdict" class="verdict consistent"' in first.text

    pages_by_step = {n: pages.client.get(f"/cases/{case_id}/history", params={"step": n}).text
                     for n in range(1, total + 1)}
    texts = {n: re.search(r'<span id="event-text">([^<]*)</span>', p) for n, p in pages_by_step.items()}
    words = {n: html.unescape(t.group(1)) for n, t in texts.items() if t is not None}
    assert len(words) == total and words[1].endswith("سجّل الطلب")
    resubmitted = [n for n, p in pages_by_step.items() if _diff(p).get("area", ("",))[0] == "changed"]
    assert len(resubmitted) == 1, [(n, _diff(p)) for n, p in pages_by_step.items()]
    diff = _diff(pages_by_step[resubmitted[0]])
    assert diff["area"] == ("changed", "120", "110")
    assert diff["corrections"] == ("added", "", "area corrected from the survey")

    # the step after the return: the correction waits, the review is done
    returned = resubmitted[0] - 1
    done, current = _marks(pages_by_step[returned])
    assert current == ["correct"]
    assert {"start", "register", "review"} <= set(done) and "hand_over" not in done
    assert _marks(pages_by_step[total])[1] == []


def test_the_history_page_is_for_auditors_and_admins(pages: Pages) -> None:
    case_id = _walked(pages)
    pages.as_user("front_desk")
    r = pages.client.get(f"/cases/{case_id}/history")
    assert r.status_code == 403 and "لا تملك صلاحية فتح هذه الصفحة" in r.text
    assert 'id="history-link"' not in pages.client.get(f"/cases/{case_id}").text
    assert pages.client.get(f"/cases/{case_id}/diagram.bpmn", params={"version_id": 999}).status_code == 403
    pages.as_user("admin")
    assert pages.client.get(f"/cases/{case_id}/history", params={"step": 2}).status_code == 200


def test_the_read_is_in_the_access_log(pages: Pages) -> None:
    case_id = _walked(pages)
    pages.as_user("auditor")
    assert pages.client.get(f"/cases/{case_id}/history", params={"step": 3}).status_code == 200
    with Session(engine_for(pages.settings.database_url)) as session:
        reads = session.exec(select(AuditAccess).where(AuditAccess.case_id == case_id)).all()
    assert [r.action for r in reads] == ["history"]
