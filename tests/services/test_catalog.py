"""The service catalog in processes/: what every service must carry before a clerk or an analyst sees it.

Each folder names itself, its agency and its SLA in both languages, lists its papers and its fee rule, labels
every form field in Arabic and English, draws every element it runs (so the viewer and the modeler show it),
and every lane it uses is a role some demo user holds (so `make run` shows every inbox).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from lxml import etree

from engine.bpmn.service_info import parse_service_toml
from engine.catalog.packages import read_package
from engine.people.demo import DEMO_USERS
from engine.people.users import CITIZEN_LANE
from tests.services.paths import PROCESSES, SERVICES

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
DI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
DRAWN = ("startEvent", "endEvent", "userTask", "scriptTask", "businessRuleTask", "exclusiveGateway",
         "parallelGateway", "inclusiveGateway", "boundaryEvent", "intermediateCatchEvent", "lane", "participant",
         "sequenceFlow")


def _diagram(service: str) -> etree._Element:
    return etree.fromstring(read_package(PROCESSES / service)[f"{service}.bpmn"])


def test_the_catalog_has_at_least_fifteen_services() -> None:
    assert len(SERVICES) >= 15
    assert {"building_permit", "birth_certificate", "complaint", "commercial_activity_license",
            "vehicle_license_renewal", "social_pension", "inquiry_suggestion"} <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_service_toml_says_everything_the_front_desk_shows(service: str) -> None:
    files = read_package(PROCESSES / service)
    info = parse_service_toml(files["service.toml"].decode("utf-8"))
    assert (info.code, info.process_id) == (service, service)
    assert info.name is not None and info.agency is not None and info.sla_days is not None
    assert any(d.required for d in info.documents)
    assert info.fee is not None
    if info.fee.decision is not None:
        assert any(f'id="{info.fee.decision}"'.encode() in content for name, content in files.items()
                   if name.endswith(".dmn"))
    for task, settings in info.tasks.items():
        assert _diagram(service).xpath("//*[@id=$i]", i=task), f"tasks.{task} names no element"
        assert settings.sla_days is not None


def _fields(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("(form)", schema), *schema["properties"].items()]


@pytest.mark.parametrize("service", SERVICES)
def test_every_form_field_is_labelled_in_arabic_and_english(service: str) -> None:
    forms = sorted((PROCESSES / service / "forms").glob("*.json"))
    assert forms
    for path in forms:
        schema = json.loads(path.read_text(encoding="utf-8"))
        for name, node in _fields(schema):
            assert node.get("title") and node.get("x-title-ar"), f"{path.name}: {name}"
            if "enum" in node:
                titles = node["x-enum-titles"]
                assert len(titles["en"]) == len(titles["ar"]) == len(node["enum"]), f"{path.name}: {name}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_element_is_drawn(service: str) -> None:
    root = _diagram(service)
    drawn = {e.get("bpmnElement") for e in root.iter(f"{DI}BPMNShape", f"{DI}BPMNEdge")}
    elements = {e.get("id") for tag in DRAWN for e in root.iter(f"{BPMN}{tag}")}
    assert elements - drawn == set()


@pytest.mark.parametrize("service", SERVICES)
def test_every_lane_is_a_role_a_demo_user_holds(service: str) -> None:
    # The citizen's own lane (a complaint's reopening window) is acted on from the public tracking page.
    lanes = {lane.get("name") for lane in _diagram(service).iter(f"{BPMN}lane")} - {CITIZEN_LANE}
    held = {role for _user, _name, roles, _center in DEMO_USERS for role in roles}
    assert lanes and lanes <= held
