"""The display board in headless Chromium: a counter's call reaches the open board by server-sent events,
without a reload, and is spoken in Arabic through the browser's speech synthesis (stubbed to record it).

Skipped, with the reason shown, when the machine has no Chromium and CI is not set; under CI=true a missing
Chromium is a failure.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from api.app import create_app
from engine.core.settings import Settings
from engine.people.users import Actor
from engine.queue import calls, tickets
from harness import journey
from harness.server import serving
from harness.settings import make_settings
from storage.db import engine_for
from tests.support.browser import need_chromium

CLERK = Actor("clerk", frozenset({"front_desk"}), "Clerk")

# Record what the page asks the browser to say, instead of saying it (the count also on <html>, for expect:
# the pages' CSP forbids the eval that wait_for_function needs).
SPEECH_STUB = """
window.__spoken = [];
// speechSynthesis is a read-only accessor of Window: plain assignment is ignored, so redefine it.
Object.defineProperty(window, "speechSynthesis", {configurable: true, value: {
  speak: function (u) {
    window.__spoken.push({text: u.text, lang: u.lang});
    document.documentElement.setAttribute("data-spoken", String(window.__spoken.length));
  },
  cancel: function () {}, getVoices: function () { return []; }
}});
if (typeof window.SpeechSynthesisUtterance !== "function") {
  window.SpeechSynthesisUtterance = function (text) { this.text = text; };
}
"""


@pytest.mark.slow
def test_the_board_shows_and_speaks_each_call_without_reloading(sqlite_url: str, tmp_path: object) -> None:
    need_chromium()
    settings: Settings = make_settings(sqlite_url, tmp_path, queue_board_poll_ms=100)  # type: ignore[arg-type]
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        first = tickets.issue(session=session, category_code="permits", priority="normal", settings=settings)
        second = tickets.issue(session=session, category_code="traffic", priority="elderly", settings=settings)
    with serving(create_app(settings)) as url, journey.chromium() as browser:
        context = browser.new_context(base_url=url, locale="ar-EG")
        context.add_init_script(SPEECH_STUB)
        page = context.new_page()
        page.goto("/queue/board")
        expect(page.locator("#calls-h")).to_have_text("النداء الآن")
        page.evaluate("window.__same_page = true")  # gone if the page reloads
        with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
            calls.call_next(session=session, counter_number=1, actor=CLERK, settings=settings)
        expect(page.locator('[data-counter="1"]')).to_have_text(first.number)
        expect(page.locator("#calls tr").first).to_have_text(f"{first.number}1")
        expect(page.locator("html")).to_have_attribute("data-spoken", "1")
        with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
            calls.call_next(session=session, counter_number=2, actor=CLERK, settings=settings)
            calls.recall(session=session, number=first.number, actor=CLERK, settings=settings)
        expect(page.locator("html")).to_have_attribute("data-spoken", "3")
        spoken = page.evaluate("window.__spoken")
        assert spoken == [{"text": "التذكرة رقم P 1 إلى الشباك رقم 1", "lang": "ar-EG"},
                          {"text": "التذكرة رقم T 1 إلى الشباك رقم 2", "lang": "ar-EG"},
                          {"text": "التذكرة رقم P 1 إلى الشباك رقم 1", "lang": "ar-EG"}]
        expect(page.locator('[data-counter="2"]')).to_have_text(second.number)
        assert page.evaluate("window.__same_page") is True
        context.close()
