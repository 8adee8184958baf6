"""Every service of the catalog at the front desk: its intake page is drawn from its form, and "Calculate the
fee" shows what its fee rule (DMN table or fixed amount) charges for the first documented path's request."""

from __future__ import annotations

import html
from typing import Any

import pytest

from admin_ui.i18n import Lang
from engine.bpmn.service_info import ServiceInfo, parse_service_toml
from harness.pages import Pages, deploy
from tests.admin_ui.test_desk_pages import register
from tests.services.paths import PROCESSES, SERVICES, ServicePath, service_paths

# Services whose fee table runs after the intake: the counter cannot say the fee yet.
FEE_LATER = {"utility_connection"}  # set after the site survey


def _as_field(value: Any) -> str:
    """What a browser sends for a value: checkboxes send "true" when ticked, nothing when not."""
    if isinstance(value, bool):
        return "true" if value else ""
    return str(value)


def _preview(pages: Pages, service: str) -> tuple[ServiceInfo, ServicePath, str]:
    """Open the service's intake page as a clerk, then press "Calculate the fee" with its first path's data."""
    deploy(pages.settings, PROCESSES / service)
    info = parse_service_toml((PROCESSES / service / "service.toml").read_text(encoding="utf-8"))
    assert info.name is not None and info.fee is not None
    pages.as_user("front_desk")
    page = html.unescape(pages.client.get(f"/desk/{service}").text)
    assert info.name.ar in page
    assert all(d.ar in page for d in info.documents)  # the checklist of papers
    path = service_paths(service)[0]
    intake = path.steps[0]
    preview = register(pages, service, {f"data.{k}": _as_field(v) for k, v in intake.data.items()}, "preview")
    assert preview.status_code == 200, preview.text
    assert 'class="error"' not in preview.text
    return info, path, preview.text


@pytest.mark.parametrize("service", sorted(set(SERVICES) - FEE_LATER))
def test_intake_page_shows_the_fee_of_every_service(pages: Pages, service: str) -> None:
    info, path, preview = _preview(pages, service)
    assert info.fee is not None
    fee = path.expected_data.get("fee", info.fee.amount)
    assert fee is not None, f"{service}: its first path should say which fee its table gives"
    assert f'id="fee-amount">{Lang().money(fee, info.fee.currency)}<' in preview


@pytest.mark.parametrize("service", sorted(FEE_LATER))
def test_intake_page_of_a_fee_set_later(pages: Pages, service: str) -> None:
    _info, _path, preview = _preview(pages, service)
    assert 'id="fee-amount"' not in preview
