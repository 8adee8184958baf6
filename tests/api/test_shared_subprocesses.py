"""Call activities to a shared sub-process (``_shared/<name>/``, engine/catalog/packages.py): taken along by each
service that calls it, pinned by its hash in the calling version, run as part of the case."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from engine.catalog.packages import find_packages, read_package
from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.catalog import ProcessVersion
from tests.services.papers import provide_papers
from tests.services.paths import PROCESSES, service_paths, take

SERVICES = ("uses_shared_a", "uses_shared_b")


def _pins(api: Api, service: str) -> list[dict[str, str]]:
    """The shared sub-processes each version of ``service`` is pinned to, as its stored meta records them."""
    with Session(engine_for(api.settings.database_url)) as session:
        rows = session.exec(select(ProcessVersion).where(ProcessVersion.service_code == service)
                            .order_by(col(ProcessVersion.version))).all()
        return [dict(row.meta.get("shared") or {}) for row in rows]


def test_two_services_call_the_same_shared_sub_process_and_run_it(sqlite_api: Api) -> None:
    api = sqlite_api
    clerk = api.user("front_desk")
    pins: list[dict[str, str]] = []
    for service in SERVICES:
        files = read_package(TEST_PROCESSES / service)
        assert "shared__receipt_hand_over.bpmn" in files and "hand_over_receipt.json" in files
        assert api.deploy(TEST_PROCESSES / service, api.user("analyst")).status_code == 201
        pins += _pins(api, service)
        case = api.open_case(service, clerk).json()
        case = api.complete(case["tasks"][0]["id"], {"subject": "x"}, clerk).json()
        assert [(t["name"], t["lane"]) for t in case["tasks"]] == [("hand_over_receipt", "front_desk")]
        r = api.complete(case["tasks"][0]["id"], {}, clerk)
        assert r.status_code == 422  # the shared process's own form
        case = api.complete(case["tasks"][0]["id"], {"receipt_number": "R-1"}, clerk).json()
        assert (case["status"], case["outcome"]) == ("completed", "done")
        events = api.client.get(f"/api/cases/{case['id']}/events", headers=api.user("auditor")).json()
        replayed = api.client.get(f"/api/cases/{case['id']}/replay", headers=api.user("auditor")).json()
        assert replayed == {"consistent": True, "events_replayed": len(events), "divergence": None}
    # Both versions record the same shared process, by the same hash.
    assert len(pins) == 2 and pins[0] == pins[1] and set(pins[0]) == {"receipt_hand_over"}


def test_the_calling_version_is_pinned_to_the_shared_process_as_it_was(sqlite_api: Api, tmp_path: Path) -> None:
    api = sqlite_api
    root = tmp_path / "processes"
    shutil.copytree(TEST_PROCESSES / "_shared", root / "_shared")
    shutil.copytree(TEST_PROCESSES / "uses_shared_a", root / "uses_shared_a")
    assert [p.name for p in find_packages(root)] == ["uses_shared_a"]  # a shared process is no service
    first = api.deploy(root / "uses_shared_a", api.user("analyst"))
    assert first.status_code == 201, first.text
    bpmn = root / "_shared" / "receipt_hand_over" / "receipt_hand_over.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace("Hand over against the receipt",
                                                             "Hand over, receipt signed"), encoding="utf-8")
    second = api.deploy(root / "uses_shared_a", api.user("analyst"))
    assert second.status_code == 201, second.text
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    assert first.json()["sha256"] != second.json()["sha256"]
    pins = _pins(api, "uses_shared_a")
    assert [set(p) for p in pins] == [{"receipt_hand_over"}] * 2 and pins[0] != pins[1]


def test_a_call_to_a_process_nowhere_is_refused_naming_it(sqlite_api: Api) -> None:
    api = sqlite_api
    files = read_package(TEST_PROCESSES / "uses_shared_b")
    del files["shared__receipt_hand_over.bpmn"]
    r = api.client.post("/api/processes", files=[("files", (n, c)) for n, c in files.items()],
                        headers=api.user("analyst"))
    assert r.status_code == 422, r.text
    assert "receipt_hand_over" in r.json()["detail"][0]["message"]


CATALOG_CALLERS = ("death_certificate", "marriage_certificate_extract")


def _to_hand_over(api: Api, service: str) -> dict[str, Any]:
    """A case of the catalog service walked along its first documented path up to the shared hand-over."""
    path = service_paths(service)[0]
    assert path.steps[-1].task == "hand_over"
    case = api.open_case(service, api.user("front_desk"), data=path.case_data, citizen=CITIZEN).json()
    provide_papers(api, service, case["id"], "scan")
    for step in path.steps[:-1]:
        case = take(api, case, step)
    return case


def test_two_catalog_services_share_the_hand_over_and_running_cases_keep_their_version(
        sqlite_api: Api, tmp_path: Path) -> None:
    api = sqlite_api
    analyst, clerk = api.user("analyst"), api.user("front_desk")
    root = tmp_path / "processes"
    shutil.copytree(PROCESSES / "_shared", root / "_shared")
    for service in CATALOG_CALLERS:
        shutil.copytree(PROCESSES / service, root / service)
        files = read_package(root / service)
        assert "shared__document_hand_over.bpmn" in files and "document_hand_over.json" in files
        assert b'calledElement="document_hand_over"' in files[f"{service}.bpmn"]
        r = api.deploy(root / service, analyst)
        assert r.status_code == 201, r.text  # its paths.json ran green before the deploy was accepted
    first = [_pins(api, service) for service in CATALOG_CALLERS]
    assert first[0] == first[1] and set(first[0][0]) == {"document_hand_over"}
    running = {service: _to_hand_over(api, service) for service in CATALOG_CALLERS}
    for case in running.values():
        assert [(t["name"], t["lane"], t["title"]) for t in case["tasks"]] == [
            ("hand_over", "front_desk", "Hand over the document")]
    # The analyst changes the shared hand-over: each caller deployed again is pinned to the new one.
    bpmn = root / "_shared" / "document_hand_over" / "document_hand_over.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace('name="Hand over the document"',
                                                             'name="Hand over against the receipt"'),
                    encoding="utf-8")
    for service in CATALOG_CALLERS:
        r = api.deploy(root / service, analyst)
        assert (r.status_code, r.json()["version"]) == (201, 2), r.text
    second = [_pins(api, service) for service in CATALOG_CALLERS]
    for before, after in zip(first, second, strict=True):
        assert after[0] == before[0] and after[1] != before[0] and set(after[1]) == {"document_hand_over"}
    assert second[0][1] == second[1][1]
    # The running cases stay on the version they started on, with the hand-over as it was.
    for service, case in running.items():
        r = api.complete(case["tasks"][0]["id"], {}, clerk)
        assert r.status_code == 422, r.text  # the shared process's own form
        done = api.complete(case["tasks"][0]["id"], {"handed_to_citizen": True}, clerk).json()
        assert (done["status"], done["process_version"]) == ("completed", 1), service
        events = api.client.get(f"/api/cases/{done['id']}/events", headers=api.user("auditor")).json()
        replayed = api.client.get(f"/api/cases/{done['id']}/replay", headers=api.user("auditor")).json()
        assert replayed == {"consistent": True, "events_replayed": len(events), "divergence": None}
    new = _to_hand_over(api, CATALOG_CALLERS[0])
    assert [t["title"] for t in new["tasks"]] == ["Hand over against the receipt"]


def test_a_called_name_that_is_a_path_reads_nothing_outside_the_shared_folder(tmp_path: Path) -> None:
    """``calledElement="../secret"`` names no folder of _shared/: nothing outside it is read into the package."""
    from engine.catalog.packages import read_package

    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "leak.bpmn").write_bytes(b"<definitions/>")
    service = tmp_path / "services" / "caller"
    service.mkdir(parents=True)
    (tmp_path / "services" / "_shared").mkdir()
    (service / "caller.bpmn").write_bytes(
        b'<definitions><process id="caller"><callActivity id="c" calledElement="../../secret"/></process>'
        b'</definitions>')
    files = read_package(service)
    assert set(files) == {"caller.bpmn"}
