"""Every documented path of every real service replays to what was recorded, and exports a case file that holds.

Papers are scanned or waived at intake as a front desk would (their events are passed over by replay: they
do not move the workflow; the checklist's data the intake task received is in its recorded completion)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.audit import export, signing
from harness.api import CITIZEN, Api
from tests.services.papers import provide_papers
from tests.services.paths import PATHS, PROCESSES, ServicePath, service_paths, take


@pytest.mark.parametrize("path", PATHS)
def test_path_replays_and_exports(sqlite_api: Api, path: ServicePath) -> None:
    api = sqlite_api
    how = "waive" if service_paths(path.service).index(path) % 2 else "scan"
    assert api.deploy(PROCESSES / path.service, api.user("analyst")).status_code == 201
    r = api.open_case(path.service, api.user("front_desk"), data=path.case_data, citizen=CITIZEN)
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    provide_papers(api, path.service, case["id"], how)
    for step in path.steps:
        case = take(api, case, step)
    assert case["outcome"] == path.end_event

    auditor = api.user("auditor")
    events = api.client.get(f"/api/cases/{case['id']}/events", headers=auditor).json()
    assert any(e["kind"] in ("document_uploaded", "document_waived") for e in events)
    replayed = api.client.get(f"/api/cases/{case['id']}/replay", headers=auditor).json()
    assert replayed == {"consistent": True, "events_replayed": len(events), "divergence": None}
    history = api.client.get(f"/api/cases/{case['id']}/history", headers=auditor).json()
    assert [s["seq"] for s in history["steps"]] == [e["seq"] for e in events]
    assert history["steps"][-1]["data"] == case["data"]
    archive = api.client.get(f"/api/cases/{case['id']}/export", headers=auditor).content
    assert export.check(archive, expected_key=signing.installation_public_key(api.settings)).problems == []
