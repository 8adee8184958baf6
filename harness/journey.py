"""The center's day in a real browser, for the browser test and for the README's screenshots.

A clerk registers a building permit with its scans and prints the receipt; the engineer finds it in the
inbox, opens the PDF and approves; the cashier takes the fee the approval billed; the clerk hands the permit
over; the citizen's tracking page says it is done. Each page is checked for what it shows (Playwright's
``expect``) and saved as a screenshot.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlmodel import Session, select

from admin_ui.i18n import ltr
from api.app import create_app
from engine.core.settings import Settings
from harness.pages import PASSWORD, add_user, deploy
from harness.scans import pdf
from harness.server import serving
from storage.db import engine_for
from storage.models.catalog import ProcessVersion

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]
DESKTOP = {"width": 1366, "height": 768}
TABLET = {"width": 820, "height": 1180}
CITIZEN = {"national_id": "29001011234567", "full_name": "سارة أحمد محمود", "phone": "+201001234567"}
PERMIT = {"مساحة قطعة الأرض": "240", "عدد الأدوار": "4", "عنوان قطعة الأرض": "12 شارع التحرير، الدقي، الجيزة",
          "رقم سند الملكية": "1532/2019", "رقم قيد المهندس بالنقابة": "104578"}


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def center(settings: Settings, root: Path, prepare: Callable[[Settings], None] | None = None) -> Iterator[str]:
    """The real app on a loopback port, with the building permit deployed and the center's people."""
    deploy(settings, root / "processes" / "building_permit")
    add_user(settings, "front_desk", username="clerk", full_name="منى إبراهيم")
    add_user(settings, "engineering", username="engineer", full_name="م. كريم عادل")
    add_user(settings, "cashier", username="cashier", full_name="أمين الخزينة")
    if prepare is not None:
        prepare(settings)
    with serving(create_app(settings)) as url:
        yield url


class Walk:
    """One journey: the site's address, where screenshots go, and what was learnt on the way."""

    def __init__(self, browser: Browser, url: str, shots: Path) -> None:
        self.browser, self.url, self.shots = browser, url, shots
        self.shots.mkdir(parents=True, exist_ok=True)
        self.saved: list[Path] = []
        self.number = ""

    def context(self, viewport: dict[str, int] = DESKTOP) -> BrowserContext:
        return self.browser.new_context(viewport=viewport, locale="ar-EG", timezone_id="Africa/Cairo",  # type: ignore[arg-type]
                                        base_url=self.url)

    def shot(self, page: Page, name: str, full_page: bool = False) -> None:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.saved.append(path)
        fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert fits, f"{name}: the page is wider than the window"

    def sign_in(self, page: Page, username: str) -> None:
        """By keyboard alone: the username field has the focus, Tab to the password, Enter to send."""
        page.goto("/login")
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        expect(page.get_by_label("اسم المستخدم")).to_be_focused()
        page.keyboard.type(username)
        page.keyboard.press("Tab")
        expect(page.get_by_label("كلمة المرور")).to_be_focused()
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name="تسجيل الخروج")).to_be_visible()

    def register(self, papers: list[tuple[str, str]]) -> None:
        clerk = self.context()
        page = clerk.new_page()
        page.goto("/login")
        page.get_by_label("اسم المستخدم").fill("clerk")
        page.get_by_label("كلمة المرور").fill("not the password")
        page.get_by_role("button", name="تسجيل الدخول").click()
        expect(page.get_by_role("alert")).to_contain_text("اسم المستخدم أو كلمة المرور غير صحيحة")
        self.shot(page, "01-sign-in")
        self.sign_in(page, "clerk")
        expect(page.get_by_role("heading", name="الشباك", exact=True)).to_be_visible()
        page.get_by_label("الرقم القومي").fill(CITIZEN["national_id"])
        page.get_by_label("الرقم القومي").press("Enter")
        expect(page.get_by_text("لا توجد طلبات سابقة بهذا الرقم القومي")).to_be_visible()
        page.get_by_label("ابحث عن الخدمة باسمها").fill("بناء")
        page.get_by_label("ابحث عن الخدمة باسمها").press("Enter")
        expect(page.locator(".services li")).to_have_count(1)
        self.shot(page, "02-front-desk")
        page.get_by_role("link", name=re.compile("ترخيص بناء")).click()
        expect(page.get_by_role("heading", name="طلب جديد: ترخيص بناء")).to_be_visible()
        expect(page.get_by_role("textbox", name="الرقم القومي", exact=True)).to_have_value(CITIZEN["national_id"])
        page.get_by_label("الاسم بالكامل").fill(CITIZEN["full_name"])
        page.get_by_label("رقم الهاتف المحمول").fill(CITIZEN["phone"])
        page.get_by_label("مساحة قطعة الأرض").fill("12")  # under the minimum: the server says so beside it
        page.get_by_role("button", name="احسب الرسوم").click()
        expect(page.locator("#f-data-plot_area_m2-error")).to_have_text("يجب ألا تقل القيمة عن 20")
        for label, value in PERMIT.items():
            page.get_by_role("textbox", name=label).fill(value)
        page.get_by_label("سكني").check()
        page.get_by_role("button", name="احسب الرسوم").click()
        expect(page.locator("#fee-amount")).to_contain_text("3,000.00")
        for kind, label in papers:
            page.locator(f"#scan-{kind}").set_input_files(
                {"name": f"{kind}.pdf", "mimeType": "application/pdf", "buffer": pdf(label)})
        self.shot(page, "03-intake", full_page=True)
        page.get_by_role("button", name="تسجيل الطلب", exact=True).click()
        expect(page.get_by_role("heading", name="إيصال استلام طلب")).to_be_visible()
        self.number = page.locator("#tracking-number").inner_text()
        assert re.fullmatch(r"\d{4}-\d{4}-\d{3}", self.number)
        expect(page.locator("p.flash[role=status]")).to_have_text(f"تم تسجيل الطلب: {ltr(self.number)}")
        expect(page.locator("#service-name")).to_have_text("ترخيص بناء")
        expect(page.locator("#fee")).to_contain_text("3,000.00")
        expect(page.locator("#expected")).to_contain_text("هـ")  # the Hijri date beside the Gregorian one
        expect(page.locator("#papers li strong", has_text="مستلم")).to_have_count(len(papers))
        expect(page.locator(".qr svg")).to_be_visible()
        expect(page.locator(".qr figcaption")).to_contain_text(f"/track?number={self.number}")
        self.shot(page, "04-receipt")
        clerk.close()

    def review(self) -> None:
        context = self.context()
        page = context.new_page()
        self.sign_in(page, "engineer")
        expect(page).to_have_url(re.compile(r"/inbox$"))
        row = page.locator("table.inbox tbody tr", has_text=self.number)
        expect(row).to_contain_text("المراجعة الهندسية")
        expect(row).to_contain_text("ترخيص بناء")
        self.shot(page, "05-inbox")
        row.get_by_role("button", name="استلام").click()
        expect(page.locator("p.flash[role=status]")).to_have_text(f"استلمت الطلب {ltr(self.number)}.")
        page.locator("table.inbox tbody tr", has_text=self.number).get_by_role("link", name=self.number).click()
        expect(page.get_by_role("heading", name=re.compile("المراجعة الهندسية"))).to_be_visible()
        expect(page.get_by_text("مساحة قطعة الأرض (م²)").first).to_be_visible()
        expect(page.locator(".papers li strong", has_text="مستلم")).to_have_count(7)
        survey = page.locator(".papers").get_by_role("link", name="الرفع المساحي المعتمد لقطعة الأرض")
        with page.expect_response(lambda r: r.url.endswith(str(survey.get_attribute("href")))) as opened:
            survey.click()  # into the page's viewer
        shown = opened.value
        assert shown.status == 200 and shown.headers["content-type"] == "application/pdf"
        # The viewer shows the PDF through the browser's own viewer; the bytes it was given, fetched again:
        scan = context.request.get(shown.url)
        assert scan.body().startswith(b"%PDF-") and b"Certified survey of the plot" in scan.body()
        expect(page.locator("iframe.viewer")).to_be_in_viewport()
        page.get_by_label("موافقة").check()
        page.get_by_label("ملاحظات المراجعة").fill("الرسومات مطابقة لاشتراطات الارتفاع والردود")
        page.wait_for_timeout(1500)  # the browser's PDF viewer draws its page: only the screenshot needs it
        self.shot(page, "06-task")
        page.get_by_role("button", name="إنجاز هذه المرحلة").click()
        expect(page).to_have_url(re.compile(r"/inbox$"))
        expect(page.locator("p.flash[role=status]")).to_have_text(f"تم: «المراجعة الهندسية» للطلب {ltr(self.number)}.")
        expect(page.locator("table.inbox tbody tr", has_text=self.number)).to_have_count(0)
        context.close()

    def pay_at_counter(self) -> str:
        """The approved permit's fee is billed; the cashier, on the cash desk page, opens a drawer with a float typed
        in Arabic-Indic digits, finds the bill by the tracking number, takes more than is due in cash (the change is
        shown), prints the receipt (an audited PDF) and closes the drawer by counting it; the case moves on to the
        hand-over. The receipt number checks out on the public receipt check."""
        context = self.context()
        page = context.new_page()
        self.sign_in(page, "cashier")
        page.goto("/counter")
        page.get_by_label("العهدة النقدية").fill("٢٠٠")
        page.get_by_role("button", name="فتح الخزينة").click()
        expect(page.locator("p.flash[role=status]")).to_have_text("تم فتح الخزينة.")
        page.get_by_label("رقم المتابعة أو التذكرة").fill(self.number)
        page.get_by_role("button", name="ابحث عن الفاتورة").click()
        form = page.locator("form.pay-form")
        due = str(form.get_attribute("data-due"))
        whole = int(due.split(".")[0]) + 50  # a 50 note more than due: the change is 50
        form.get_by_label("المبلغ المسلَّم").fill(f"{whole}.{due.split('.')[1]}")
        expect(form.locator(".change")).to_have_text("50.00")
        form.get_by_role("button", name="تحصيل المبلغ").click()
        expect(page.locator("p.flash[role=status]")).to_contain_text("تم السداد: الإيصال")
        expect(page.locator("#change-given")).to_contain_text("50.00")
        receipt = page.locator("ul.receipts li .num").first.inner_text().strip()
        item = page.locator("ul.receipts li").first
        printing = item.locator("form.inline")  # the receipt's print form (a refund's form is beside it)
        action = str(printing.get_attribute("action"))
        token = str(printing.locator("input[name=csrf_token]").get_attribute("value"))
        printed = page.request.post(action, form={"csrf_token": token})
        assert printed.ok and printed.headers["content-type"] == "application/pdf", printed.status
        assert printed.headers["x-print-copy"] == "0"
        counted = int(due.split(".")[0]) + 200
        page.get_by_label("النقد المعدود").fill(f"{counted}.{due.split('.')[1]}")
        page.get_by_role("button", name="إغلاق الخزينة").click()
        expect(page.locator("p.flash[role=status]")).to_have_text("تم إغلاق الخزينة.")
        expect(page.locator('#count-table tr[data-method="cash"] td[data-difference]')).to_have_text("0.00")
        check = context.request.get(f"/api/public/receipts/{receipt}").json()
        assert (check["amount"], check["status"]) == (due, "valid"), check
        context.close()
        return receipt

    def complete_hand_over(self, page: Page) -> None:
        """From the signed-in clerk's inbox: the hand-over step of the walk's case, filled in and completed."""
        page.goto("/inbox")
        page.locator("table.inbox tbody tr", has_text=self.number).get_by_role("link", name="تسليم الترخيص").click()
        page.get_by_label("رقم الترخيص").fill("152/2025")
        page.get_by_label("تم تسليم الترخيص للمواطن").check()
        page.get_by_role("button", name="إنجاز هذه المرحلة").click()

    def hand_over(self) -> None:
        context = self.context()
        page = context.new_page()
        self.sign_in(page, "clerk")
        self.complete_hand_over(page)
        expect(page.locator("p.flash[role=status]")).to_have_text(f"تم: «تسليم الترخيص» للطلب {ltr(self.number)}.")
        page.goto(f"/cases?q={self.number}")
        page.get_by_role("link", name=self.number).click()
        expect(page.locator("#case-status")).to_have_text("مكتمل")
        timeline = page.locator("#timeline")
        expect(timeline).to_contain_text("منى إبراهيم سجّل الطلب")
        expect(timeline).to_contain_text("منى إبراهيم أرفق صورة «الرفع المساحي المعتمد لقطعة الأرض»")
        expect(timeline).to_contain_text("م. كريم عادل أنجز «المراجعة الهندسية»")
        expect(timeline).to_contain_text("أُغلق الطلب")
        expect(page.locator("#diagram")).to_have_attribute("data-ready", "true")
        for step in ("register_request", "engineering_review", "hand_over", "permit_issued"):
            expect(page.locator(f'.djs-element.done[data-element-id="{step}"]')).to_have_count(1)
        self.shot(page, "07-case", full_page=True)
        tablet = self.context(TABLET)
        small = tablet.new_page()
        self.sign_in(small, "clerk")
        small.goto(page.url)
        expect(small.locator("#diagram")).to_have_attribute("data-ready", "true")
        self.shot(small, "08-case-tablet")
        tablet.close()
        context.close()

    def track(self) -> None:
        citizen = self.context()
        page = citizen.new_page()
        page.goto(f"/track?number={self.number}")  # where the receipt's QR code leads
        expect(page.get_by_label("رقم المتابعة")).to_have_value(self.number)
        page.get_by_label("آخر أربعة أرقام من هاتفك").fill(CITIZEN["phone"][-4:])
        page.get_by_role("button", name="عرض الحالة").click()
        expect(page.locator("#track-status")).to_have_text("تم الانتهاء من طلبك")
        expect(page.get_by_role("heading", name="ترخيص بناء")).to_be_visible()
        shown = page.content()
        for secret in (CITIZEN["national_id"], CITIZEN["full_name"], CITIZEN["phone"], "12 شارع التحرير"):
            assert secret not in shown
        self.shot(page, "09-tracking")
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("dir", "ltr")
        page.get_by_label("Tracking number").fill(self.number.replace("-", ""))  # typed as read, no dashes
        page.get_by_label("Last four digits of your phone").fill(CITIZEN["phone"][-4:])
        page.get_by_role("button", name="Show the status").click()
        expect(page.locator("#track-status")).to_have_text("Your request is complete")
        citizen.close()


def marked(page: Page, marker: str) -> list[str]:
    """The ids of the diagram's elements the case page marks with ``marker`` (done, current, waiting), sorted."""
    ids: list[str] = page.eval_on_selector_all(
        f"#diagram .djs-element.{marker}", "els => els.map(e => e.getAttribute('data-element-id'))")
    return sorted(ids)


def papers_of(settings: Settings) -> list[tuple[str, str]]:
    """The building permit's required papers: (kind, English name) from its deployed service.toml."""
    with Session(engine_for(settings.database_url)) as session:
        row = session.exec(select(ProcessVersion).where(ProcessVersion.service_code == "building_permit")).one()
        docs: list[dict[str, Any]] = row.service.get("documents", [])
    return [(d["kind"], d["en"]) for d in docs if d.get("required", True)]


def walk(settings: Settings, root: Path, shots: Path, prepare: Callable[[Settings], None] | None = None) -> Walk:
    """The whole journey; returns it with its tracking number and the screenshots it saved. ``prepare`` runs
    once the service and the people are in place (the README's screenshots add earlier cases with it)."""
    with chromium() as browser, center(settings, root, prepare) as url:
        journey = Walk(browser, url, shots)
        journey.register(papers_of(settings))
        journey.review()
        journey.pay_at_counter()
        journey.hand_over()
        journey.track()
    return journey
