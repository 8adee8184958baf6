"""A service's own ``[messages]``: its ids mapped to stages, its words, its departments' names, stages off."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.bpmn.service_info import parse_service_toml
from engine.core.errors import Invalid
from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES
from tests.support.audit import APPROVE, REGISTER, login

OWN = """
[messages.stages]
review = "ready_for_pickup"
end_approved = "rejected"

[messages]
off = ["received"]

[messages.departments.reviewer]
ar = "إدارة المراجعة"
en = "Review office"

[messages.templates.department]
en = "Papers of {tracking_number} reached {department} ({service})."
"""


def _service(tmp_path: Path, extra: str) -> Path:
    folder = tmp_path / "audit_case"
    shutil.copytree(TEST_PROCESSES / "audit_case", folder)
    with (folder / "service.toml").open("a") as f:
        f.write(extra)
    return folder


def _messages(api: Api, case_id: int) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/cases/{case_id}/messages", headers=login(api, "admin_sami"))
    assert r.status_code == 200, r.text
    return list(r.json())


def test_a_service_maps_its_ids_names_its_departments_and_rewords(sqlite_api: Api, tmp_path: Path) -> None:
    api = sqlite_api
    assert api.deploy(_service(tmp_path, OWN), api.user("analyst")).status_code == 201
    case = api.open_case("audit_case", login(api, "clerk_hoda"), citizen={**CITIZEN, "language": "en"}).json()
    for data, who in [(REGISTER, "clerk_hoda"), (APPROVE, "reviewer_karim")]:
        r = api.complete(case["tasks"][0]["id"], data, login(api, who))
        assert r.status_code == 200, r.text
        case = r.json()
    found = _messages(api, case["id"])
    # received is off; the review is both the reviewer's department and (mapped) ready_for_pickup; the
    # hand-over's own name no longer means pickup, since the stage is mapped; end_approved is mapped to rejected.
    assert [m["stage"] for m in found] == ["ready_for_pickup", "department"]
    assert found[1]["body"] == f"Papers of {case['tracking_number']} reached Review office (Audited request)."
    r = api.complete(case["tasks"][0]["id"], {}, login(api, "clerk_hoda"))
    assert r.status_code == 200 and r.json()["status"] == "completed"
    assert [m["stage"] for m in _messages(api, case["id"])][-1] == "rejected"


def test_the_analyst_guide_example_parses() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "analyst-guide.md").read_text()
    example = guide.split("say so in `service.toml`:\n\n```toml\n", 1)[1].split("```", 1)[0]
    info = parse_service_toml('code = "x"\n' + example)
    assert info.messages.stages["record_not_found"] == "rejected"
    assert info.messages.off == ["department"]


@pytest.mark.parametrize("extra, problem", [
    ('[messages.templates.completed]\nen = "Decided by {officer}"\n', "unknown placeholders ['officer']"),
    ('[messages.templates.completed]\nen = "{tracking_number.__class__}"\n', "unknown placeholders"),
    ('[messages.stages]\nreview = "lost"\n', "unknown stages ['lost']"),
    ('[messages]\noff = ["sometimes"]\n', "unknown stages ['sometimes']"),
])
def test_a_wrong_messages_table_is_refused_at_deploy(extra: str, problem: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_service_toml('code = "x"\n' + extra)
    assert problem in refused.value.details[0]["message"]
