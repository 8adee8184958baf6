"""A case that ends without the citizen's request being granted (it lapsed unpaid, or was referred to the
prosecution) is not told that its request is complete, nor asked to rate it: it gets the 'not accepted' words."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES
from tests.support.audit import APPROVE, REGISTER, login


@pytest.mark.parametrize("end", ["request_lapsed", "approval_lapsed", "referred_to_prosecution"])
def test_a_case_ending_at_a_lapse_or_a_referral_is_not_told_it_is_complete(sqlite_api: Api, tmp_path: Path,
                                                                          end: str) -> None:
    api = sqlite_api
    folder = tmp_path / "audit_case"
    shutil.copytree(TEST_PROCESSES / "audit_case", folder)
    bpmn = folder / "audit_case.bpmn"
    bpmn.write_text(bpmn.read_text().replace("end_approved", end))  # the catalog's end events of these names
    assert api.deploy(folder, api.user("analyst")).status_code == 201
    case = api.open_case("audit_case", login(api, "clerk_hoda"), citizen={**CITIZEN, "language": "en"}).json()
    for data, who in [(REGISTER, "clerk_hoda"), (APPROVE, "reviewer_karim"), ({}, "clerk_hoda")]:
        r = api.complete(case["tasks"][0]["id"], data, login(api, who))
        assert r.status_code == 200, r.text
        case = r.json()
    assert case["status"] == "completed" and case["outcome"] == end
    found = api.client.get(f"/api/cases/{case['id']}/messages", headers=login(api, "admin_sami")).json()
    last = found[-1]
    assert last["stage"] == "rejected", [m["stage"] for m in found]
    assert "complete" not in last["body"] and "/rate/" not in last["body"]
