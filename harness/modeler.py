"""The analyst's walk through the web modeler in headless Chromium: the building permit opened, a bad gateway
marked on the diagram, a user task added (through bpmn-js's modeling service), the draft saved and published with
the page's own buttons, then two open cases dry-run and migrated onto the new version. Each step checks what the
page shows. tests/admin_ui/test_modeler_browser.py runs it as a test; docs/screenshots/modeler.py runs it to make
the analyst guide's pictures.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from api.app import create_app
from engine.core.settings import Settings
from harness import journey
from harness.api import Api
from harness.pages import add_user
from harness.settings import ROOT
from storage.db import engine_for
from storage.models.audit import AuditEvent
from storage.models.cases import Case
from storage.models.catalog import ProcessVersion
from storage.models.drafts import ServiceDraft

ADD_TASK = """() => {
  // A new user task dropped on the flow from "Hand over permit" to the end: bpmn-js splits the flow around it.
  const modeler = window.shubbakModeler;
  const registry = modeler.get("elementRegistry");
  modeler.get("modeling").moveElements([registry.get("permit_issued")], { x: 130, y: 0 });  // room for it
  const flow = registry.get("Flow_handover_end");
  const [from, to] = [flow.waypoints[0], flow.waypoints[flow.waypoints.length - 1]];
  const shape = modeler.get("elementFactory").createShape({ type: "bpmn:UserTask" });
  const made = modeler.get("modeling").createShape(shape, { x: (from.x + to.x) / 2, y: (from.y + to.y) / 2 }, flow);
  modeler.get("modeling").updateProperties(made, { id: "archive_copy", name: "Archive a copy" });
  return made.id;
}"""
DROP_CONDITIONS = """() => {
  const modeler = window.shubbakModeler;
  const registry = modeler.get("elementRegistry");
  for (const id of ["Flow_return", "Flow_reject"]) {
    modeler.get("modeling").updateProperties(registry.get(id), { conditionExpression: undefined });
  }
}"""
# Said on the console by the browser (the page has no favicon; failed loads are caught by status below) and
# by dmn-js's bundled Inferno, whose production build still prints its development notice.
QUIET = ("Failed to load resource", "It looks like you're using a minified copy of the development build of Inferno")
ANNOTATE_RULE = """() => {
  // The fee table's first rule gets an annotation (its description): the table is edited, the fees are not.
  const viewer = window.shubbakDmn.getActiveViewer();
  const row = viewer.get("sheet").getRoot().rows[0];
  viewer.get("modeling").updateProperties(row, { description: "Reviewed in 2026" });
  return row.businessObject.id;
}"""
UNDO_TWICE = """() => { const stack = window.shubbakModeler.get("commandStack"); stack.undo(); stack.undo(); }"""


PATHS: list[dict[str, Any]] = json.loads((ROOT / "processes" / "building_permit" / "paths.json").read_text("utf-8"))


def _with_archive_step(paths: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The test cases with the new task done right after the hand-over."""
    out = []
    for path in paths:
        steps = []
        for step in path["steps"]:
            steps.append(step)
            if step.get("task") == "hand_over":
                steps.append({"task": "archive_copy", "lane": "front_desk", "data": {}})
        out.append({**path, "steps": steps})
    return out


def _open_two_cases(settings: Settings, found: dict[str, Any]) -> None:
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        clerk = api.user("front_desk")
        for _ in range(2):
            r = api.open_case("building_permit", clerk, citizen=journey.CITIZEN)
            assert r.status_code == 201, r.text
            found.setdefault("cases", []).append(r.json()["id"])
    add_user(settings, "analyst", username="analyst", full_name="أمل المحللة")


def _problems(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "#bpmn-canvas .djs-element.has-problem", "els => els.map(e => e.getAttribute('data-element-id'))")
    return ids


def walk_the_modeler(sqlite_settings: Settings, shots: Path) -> list[Path]:
    """The analyst's walk; returns the screenshots taken."""
    found: dict[str, Any] = {}
    with journey.chromium() as browser, journey.center(sqlite_settings, ROOT,
                                                       lambda s: _open_two_cases(s, found)) as url:
        walk = journey.Walk(browser, url, shots)
        page = walk.context(viewport={"width": 1366, "height": 900}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and not msg.text.startswith(
            QUIET) else None)
        refused: list[str] = []
        page.on("response", lambda r: refused.append(f"{r.status} {r.url.split('/', 3)[3]}") if r.status >= 400
                else None)
        walk.sign_in(page, "analyst")
        page.get_by_role("link", name="الخدمات").click()
        page.get_by_role("link", name="ترخيص بناء").click()
        expect(page.locator("#versions tbody tr")).to_have_count(1)
        page.get_by_role("link", name="فتح في محرر النماذج").click()
        expect(page.locator("#modeler")).to_have_attribute("data-ready", "true")
        expect(page.locator("#bpmn-canvas .djs-element[data-element-id='gw_review_decision']")).to_be_visible()
        expect(page.locator("#modeler")).to_have_attribute("data-dmn-ready", "true")
        expect(page.locator("#dmn-canvas .tjs-table")).to_be_visible()

        # The form's JSON and its live preview, drawn as the intake page draws it.
        page.get_by_label("الملف (النماذج، service.toml، paths.json)").select_option("engineering_review.json")
        expect(page.locator("#form-preview")).to_contain_text("ملاحظات المراجعة")
        text = page.locator("#text-content").input_value()
        page.locator("#text-content").fill(text.replace("ملاحظات المراجعة", "ملاحظات المهندس المراجع"))
        expect(page.locator("#form-preview")).to_contain_text("ملاحظات المهندس المراجع")
        page.locator("#text-content").fill(text)  # back as it was: the publish below changes the diagram only
        expect(page.locator("#form-preview")).to_contain_text("ملاحظات المراجعة")

        # A gateway left with two flows without conditions: marked on the diagram, listed with the fix.
        page.evaluate(DROP_CONDITIONS)
        page.get_by_role("button", name="تحقّق").click()
        expect(page.locator("#outcome")).to_have_text("المشكلات المكتشفة: 1")
        item = page.locator("#problems li").first
        expect(item).to_contain_text("بوابة حصرية “Review decision?” (gw_review_decision)")
        expect(item).to_contain_text("أضف شرطًا لكل مسار خارج، أو اجعل أحدها المسار الافتراضي للبوابة")
        assert _problems(page) == ["gw_review_decision"]
        expect(page.locator(".problem-badge")).to_have_count(1)
        page.evaluate("window.scrollTo(0, 0)")
        walk.shot(page, "modeler-problem")
        page.evaluate(UNDO_TWICE)

        assert page.evaluate(ADD_TASK) == "archive_copy"
        rule = page.evaluate(ANNOTATE_RULE)
        page.get_by_role("button", name="نشر").click()
        expect(page.locator("#outcome")).to_have_text("احفظ المسودة قبل النشر.")
        page.get_by_role("button", name="حفظ المسودة").click()
        expect(page.locator("#outcome")).to_have_text("حُفظت المسودة (المراجعة 1).")
        # The analyst's test cases still end at hand-over: the publish is refused, each failing case named.
        handed_over = [p["name"] for p in PATHS if any(s.get("task") == "hand_over" for s in p["steps"])]
        assert len(handed_over) >= 2
        page.get_by_role("button", name="نشر").click()
        expect(page.locator("#outcome")).to_have_text(
            f"لم يتم النشر: المشكلات المكتشفة: {len(handed_over)} (مذكورة أدناه).")
        expect(page.locator("#problems li")).to_have_count(len(handed_over))
        for number, name in enumerate(handed_over):
            expect(page.locator("#problems li").nth(number)).to_contain_text(f"({name}) — paths.json")
        expect(page.locator("#problems li").first).to_contain_text("لم تنتهِ الحالة بعد الخطوة الأخيرة")
        page.evaluate("window.scrollTo(0, 0)")
        walk.shot(page, "modeler-refused")
        page.get_by_label("الملف (النماذج، service.toml، paths.json)").select_option("paths.json")
        page.locator("#text-content").fill(json.dumps(_with_archive_step(PATHS), ensure_ascii=False, indent=2))
        page.get_by_role("button", name="تحقّق").click()
        expect(page.locator("#outcome")).to_have_text("لا مشكلات: يمكن نشر الخدمة.")
        assert _problems(page) == []
        page.get_by_role("button", name="حفظ المسودة").click()
        expect(page.locator("#outcome")).to_have_text("حُفظت المسودة (المراجعة 2).")
        page.get_by_role("button", name="نشر").click()
        expect(page.locator("#outcome")).to_contain_text("نُشر بوصفه الإصدار 2.")
        page.evaluate("window.scrollTo(0, 0)")
        walk.shot(page, "modeler")

        page.get_by_role("link", name="نقل الطلبات المفتوحة إلى الإصدار الجديد").click()
        expect(page.locator("#dry-run-summary")).to_have_text(
            "تجربة دون تنفيذ: يمكن نقل 2 من 2 من الطلبات المفتوحة؛ لم يتغير شيء.")
        for case_id in found["cases"]:
            expect(page.locator(f'#moves tr[data-case="{case_id}"] td').nth(2)).to_have_text("نعم")
        walk.shot(page, "migration-dry-run")
        page.get_by_role("button", name=re.compile("نقل كل الطلبات القابلة للنقل")).click()
        expect(page.locator("#migration-result")).to_have_text("نُقل من الطلبات: 2 من 2.")
        walk.shot(page, "migration-done")
        page.goto("/services/building_permit?a=1&b=2")
        expect(page.locator("#diff tr.added", has_text="archive_copy")).to_contain_text("Archive a copy")
        # Only what was edited changed: the forms went back byte for byte.
        expect(page.locator("#diff tr.changed", has_text=rule)).to_contain_text("content")
        expect(page.locator("#diff tr.changed td[colspan]")).to_have_text(
            ["building_permit.bpmn", "building_permit_fee.dmn", "paths.json"])
        expect(page.locator("#versions tbody tr")).to_have_count(2)
        assert errors == [], errors
        assert refused == ["422 services/building_permit/draft/publish"]  # the refused publish, nothing else

    with Session(engine_for(sqlite_settings.database_url)) as session:
        v2 = session.exec(select(ProcessVersion).where(ProcessVersion.service_code == "building_permit",
                                                       ProcessVersion.version == 2)).one()
        assert v2.created_by == "analyst"
        assert v2.meta["user_tasks"]["archive_copy"]["lane"] == "front_desk"
        assert "Reviewed in 2026" in v2.files["building_permit_fee.dmn"]
        assert session.exec(select(ServiceDraft)).one().saved_by == "analyst"
        for case_id in found["cases"]:
            case = session.get(Case, case_id)
            assert case is not None and case.process_version_id == v2.id
        moved = session.exec(select(AuditEvent.case_id).where(AuditEvent.kind == "case_migrated")
                             .order_by(col(AuditEvent.case_id))).all()
        assert list(moved) == sorted(found["cases"])
    return walk.saved
