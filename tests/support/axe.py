"""axe-core in a Playwright page: the vendored ``axe.min.js`` (tests/support/vendor/axe-core/, 4.14.1) injected
into the page as it stands, run against the whole document, and its violations returned in a form a test can
print. Only the tests load it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
VERSION = "4.14.1"
BLOCKING = ("serious", "critical")


def violations(page: Page, impacts: tuple[str, ...] = BLOCKING) -> list[dict[str, Any]]:
    """axe's violations of ``page`` whose impact is one of ``impacts``: rule id, impact, help, and the first
    few offending nodes (their selector and axe's summary of what is wrong)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    assert page.evaluate("window.axe.version") == VERSION
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await window.axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(' '), summary: n.failureSummary}))}));
        }""")
    return [v for v in found if v["impact"] in impacts]


def described(found: list[dict[str, Any]]) -> str:
    return "\n".join(f"{v['impact']} {v['id']}: {v['help']}\n" + "\n".join(
        f"    {n['target']}: {n['summary']}" for n in v["nodes"]) for v in found)
