"""The supervisors' workload page: officers and lanes of their centers, a lane's rule set from it, an absence
recorded from it (Arabic digits too), and refusals shown, not crashed."""

from __future__ import annotations

from sqlmodel import Session

from engine.people.presence import today
from engine.people.users import create_user
from harness.pages import PASSWORD, Pages, center_tree
from storage.db import engine_for
from tests.admin_ui.test_desk_pages import register


def _staff(pages: Pages) -> dict[str, int]:
    with Session(engine_for(pages.settings.database_url)) as session:
        ids = center_tree(session)
        for name, roles, center in [("sup_a", ["supervisor"], "CITY-A"), ("rev_a", ["reviewer"], "CITY-A"),
                                    ("rev_b", ["reviewer"], "CITY-A"), ("rev_far", ["reviewer"], "CITY-B"),
                                    ("clerk_a", ["front_desk"], "CITY-A")]:
            create_user(session=session, username=name, password=PASSWORD, full_name=name.upper(), roles=roles,
                        settings=pages.settings, center_id=ids[center])
    return ids


def test_workload_page_sets_a_rule_and_records_an_absence(pages: Pages) -> None:
    _staff(pages)
    pages.sign_out()
    assert pages.sign_in("clerk_a").status_code == 303
    register(pages, "test_permit", {"data.area": "120", "data.purpose": "بيت العائلة"})
    pages.sign_out()
    assert pages.sign_in("sup_a").status_code == 303
    page = pages.client.get("/supervisor/workload").text
    assert 'data-officer="rev_a"' in page and 'data-officer="rev_far"' not in page
    assert 'data-lane="reviewer"' in page and "عبء العمل" in page
    assert page.count('<th scope="col">المهام المفتوحة</th>') == 2 and ">فتح</th>" not in page  # a count, not a verb
    r = pages.post("/supervisor/assignment", {"center": "CITY-A", "lane": "reviewer", "rule": "round_robin"},
                   token_from="/supervisor/workload")
    assert r.status_code == 303, r.text
    page = pages.client.get("/supervisor/workload").text
    assert '<option value="round_robin" selected>' in page
    first = str(today(pages.settings)).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    r = pages.post("/supervisor/absences", {"username": "rev_a", "from": first, "to": first, "delegate": "rev_b"},
                   token_from="/supervisor/workload")
    assert r.status_code == 303, r.text
    assert "المفوَّض: rev_b" in pages.client.get("/supervisor/workload").text
    # A bad day, an officer of another center, an unknown rule: refused with the page's error, never a 500.
    bad = pages.post("/supervisor/absences", {"username": "rev_b", "from": "soon", "to": first},
                     token_from="/supervisor/workload")
    assert bad.status_code == 422
    far = pages.post("/supervisor/absences", {"username": "rev_far", "from": first, "to": first},
                     token_from="/supervisor/workload")
    assert far.status_code == 403
    rule = pages.post("/supervisor/assignment", {"center": "CITY-A", "lane": "reviewer", "rule": "friends_first"},
                      token_from="/supervisor/workload")
    assert rule.status_code == 422
    other = pages.post("/supervisor/assignment", {"center": "CITY-B", "lane": "reviewer", "rule": "random"},
                       token_from="/supervisor/workload")
    assert other.status_code == 403


def test_the_inbox_offers_no_take_under_an_automatic_rule(pages: Pages) -> None:
    _staff(pages)
    pages.sign_out()
    assert pages.sign_in("clerk_a").status_code == 303
    register(pages, "test_permit", {"data.area": "120", "data.purpose": "بيت العائلة"})  # under pick: waiting
    pages.sign_out()
    assert pages.sign_in("rev_a").status_code == 303
    assert 'action="/tasks/' in pages.client.get("/inbox").text and "/claim" in pages.client.get("/inbox").text
    pages.sign_out()
    assert pages.sign_in("sup_a").status_code == 303
    r = pages.post("/supervisor/assignment", {"center": "CITY-A", "lane": "reviewer", "rule": "least_loaded"},
                   token_from="/supervisor/workload")
    assert r.status_code == 303
    pages.sign_out()
    assert pages.sign_in("rev_a").status_code == 303
    page = pages.client.get("/inbox").text
    assert "تُسند بقاعدة المسار" in page and "/claim" not in page
