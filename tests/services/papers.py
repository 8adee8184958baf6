"""The papers each real service requires (its service.toml), provided the two ways a front desk can."""

from __future__ import annotations

from typing import Literal

from engine.bpmn.service_info import parse_service_toml
from harness.api import Api
from tests.services.paths import PROCESSES
from tests.support.documents import PDF


def required_kinds(service: str) -> list[str]:
    info = parse_service_toml((PROCESSES / service / "service.toml").read_text(encoding="utf-8"))
    return [d.kind for d in info.documents if d.required]


def provide_papers(api: Api, service: str, case_id: int, how: Literal["scan", "waive"] = "scan") -> None:
    """Scan every required paper at the front desk, or have a supervisor waive each of them."""
    clerk, supervisor = api.user("front_desk"), api.user("supervisor")
    for kind in required_kinds(service):
        if how == "scan":
            r = api.client.post(f"/api/cases/{case_id}/documents", data={"kind": kind},
                                files={"file": (f"{kind}.pdf", PDF, "application/pdf")}, headers=clerk)
        else:
            r = api.client.post(f"/api/cases/{case_id}/waivers", headers=supervisor,
                                json={"kind": kind, "reason": "the original is verified at the window"})
        assert r.status_code == 201, r.text
