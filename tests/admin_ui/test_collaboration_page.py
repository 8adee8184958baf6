"""The case page of a collaboration's case: the whole collaboration drawn, the steps done and current marked."""

from __future__ import annotations

import re

from harness.api import Api
from harness.pages import Pages, deploy
from harness.settings import ROOT


def test_a_collaborations_case_page_draws_every_pool(pages: Pages) -> None:
    deploy(pages.settings, ROOT / "processes" / "civil_record_correction")
    api = Api(pages.client, pages.settings)
    opened = api.open_case("civil_record_correction", api.user("front_desk"))
    assert opened.status_code == 201, opened.text
    pages.as_user("supervisor")
    page = pages.client.get(f"/cases/{opened.json()['id']}")
    assert page.status_code == 200
    marks = re.search(r'data-done="([^"]*)" data-current="([^"]*)"', page.text)
    assert marks is not None and "register_request" in marks.group(2)
    xml = pages.client.get(f"/cases/{opened.json()['id']}/diagram.bpmn")
    assert xml.status_code == 200
    for pool in (b"citizen_side", b"center_side", b"department_side"):
        assert b'<bpmn:process id="' + pool + b'"' in xml.content
