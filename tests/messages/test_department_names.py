"""The department message names the department in the citizen's language: a lane's id (a role's code such as
``civil_registry``) is not words for an Arabic or English SMS."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from engine.messages.config import MessageSettings
from engine.messages.templates import department_name, render
from harness.api import CITIZEN, Api
from harness.settings import ROOT, TEST_PROCESSES, make_settings
from tests.support.audit import REGISTER, login

_LANE = re.compile(r'<bpmn:lane\b[^>]*\bname="([^"]+)"')


def _back_office_lanes(tmp_path: Path) -> set[str]:
    settings = make_settings("sqlite://", tmp_path)
    quiet = {settings.front_desk_role, *settings.message_silent_lanes}
    found = {lane for bpmn in (ROOT / "processes").glob("*/*.bpmn") for lane in _LANE.findall(bpmn.read_text())}
    return found - quiet


def test_every_department_of_the_catalog_is_named_in_both_languages(tmp_path: Path) -> None:
    lanes = _back_office_lanes(tmp_path)
    assert {"civil_registry", "engineering", "traffic"} <= lanes
    none = MessageSettings()
    for lane in sorted(lanes):
        arabic, english = department_name(lane, "ar", none), department_name(lane, "en", none)
        assert re.search(r"[\u0600-\u06FF]", arabic) and not re.search(r"[A-Za-z_]", arabic), (lane, arabic)
        assert english != lane and "_" not in english, (lane, english)
    text = render("department", "ar", {"tracking_number": "BP-1", "at": "2026-03-01 10:00",
                                       "department": department_name("civil_registry", "ar", none)}, none)
    assert "civil" not in text.body and "السجل المدني" in text.body


def test_a_service_names_its_own_departments_first_and_an_unknown_lane_reads_as_its_id() -> None:
    own = MessageSettings.model_validate({"departments": {"engineering": {"ar": "قسم المباني", "en": "Buildings"}}})
    assert department_name("engineering", "ar", own) == "قسم المباني"
    assert department_name("engineering", "en", own) == "Buildings"
    assert department_name("review_office", "en", own) == "review office"


def test_the_arabic_message_names_the_department_in_arabic(sqlite_api: Api, tmp_path: Path) -> None:
    api = sqlite_api
    folder = tmp_path / "audit_case"
    shutil.copytree(TEST_PROCESSES / "audit_case", folder)
    bpmn = folder / "audit_case.bpmn"
    bpmn.write_text(bpmn.read_text().replace('name="reviewer"', 'name="engineering"'))  # a catalog department
    assert api.deploy(folder, api.user("analyst")).status_code == 201
    case = api.open_case("audit_case", login(api, "clerk_hoda"), citizen={**CITIZEN, "language": "ar"}).json()
    r = api.complete(case["tasks"][0]["id"], REGISTER, login(api, "clerk_hoda"))
    assert r.status_code == 200, r.text
    found = api.client.get(f"/api/cases/{case['id']}/messages", headers=login(api, "admin_sami")).json()
    department = [m["body"] for m in found if m["stage"] == "department"]
    assert len(department) == 1 and "إلى الإدارة الهندسية في" in department[0], department
    assert "engineering" not in department[0]
