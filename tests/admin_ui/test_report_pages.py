"""The dashboard page: who may open it, filters kept in the URL, the charts' numbers, and the exports read back
(CSV and XLSX), each against the seeded timeline (tests/support/reports.py)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from tests.support import reports as data
from tests.support.pages import Pages
from tests.support.reports import BASE, NOW, Dataset, seed

QUERY = f"from={BASE.date().isoformat()}&to={NOW.date().isoformat()}"


@pytest.fixture
def dataset(pages: Pages) -> Dataset:
    return seed(pages.settings)


def _bar(html: str, chart: str, key: str) -> str:
    svg = html[html.index(f'id="{chart}"'):]
    svg = svg[:svg.index("</svg>")]
    found = re.search(rf'<g class="bar" data-key="{key}" data-value="([^"]+)">', svg)
    assert found is not None, f"no bar {key} in {chart}"
    return found.group(1)


def test_only_supervisors_and_admins_open_the_dashboard(pages: Pages) -> None:
    assert pages.client.get("/reports").status_code == 303  # to the sign-in page
    pages.as_user("front_desk")
    assert pages.client.get("/reports").status_code == 403
    pages.sign_out()
    pages.as_user("supervisor")
    page = pages.client.get("/reports")
    assert page.status_code == 200
    assert 'href="/reports"' in page.text  # in the navigation


def test_the_dashboard_shows_the_timeline_figures_with_its_filters_in_the_url(pages: Pages,
                                                                              dataset: Dataset) -> None:
    pages.as_user("supervisor")
    html = pages.client.get(f"/reports?{QUERY}&center=CITY-A&service=test_permit").text
    wanted = {dataset.centers["CITY-A"]}
    sla = data.expected_sla(dataset, BASE.date(), NOW.date(), wanted, now=datetime.now(UTC))
    row = re.search(r'<tr data-service="test_permit">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))
    arabic = str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")
    numbers = [c.translate(arabic) for c in cells]
    assert numbers[:5] == [str(sla[k]) for k in ("opened", "completed", "rejected", "on_time", "breached")]
    departments = data.expected_departments(dataset, BASE.date(), NOW.date(), wanted,
                                            now=datetime.now(UTC))
    for lane, expected in departments.items():
        assert float(_bar(html, "backlog-chart", lane)) == expected["backlog"]
        share = round(expected["on_time"] / expected["completed"] * 100, 1) if expected["completed"] else 0
        assert float(_bar(html, "compliance-chart", lane)) == share
    daily = data.expected_throughput(dataset, BASE.date(), NOW.date(), wanted)
    points = dict(re.findall(r'<circle [^>]*data-day="([^"]+)" data-value="([^"]+)"', html))
    assert {day: int(v) for day, v in points.items()} == {day: v["completed"] for day, v in daily.items()}
    # The filters stay in the URL of every export and in the form.
    assert f"/reports/export/sla.csv?{QUERY.replace('&', '&amp;')}&amp;center=CITY-A&amp;service=test_permit" in html
    assert 'value="CITY-A" selected' in html and 'value="test_permit" selected' in html
    assert '<tr data-step="review">' in html


def test_exports_read_back_as_the_report(pages: Pages, dataset: Dataset) -> None:
    pages.as_user("admin")
    want = data.expected_officers(dataset, BASE.date(), NOW.date())
    got = pages.client.get(f"/reports/export/officers.csv?{QUERY}")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert {r["officer"]: int(r["completed"]) for r in rows} == {k: v["completed"] for k, v in want.items()}
    book = pages.client.get(f"/reports/export/officers.xlsx?{QUERY}")
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("officer", "completed", "avg_seconds", "median_seconds")
    assert {r[0]: r[1] for r in values[1:]} == {k: v["completed"] for k, v in want.items()}
    sla = list(csv.DictReader(io.StringIO(pages.client.get(f"/reports/export/sla.csv?{QUERY}").content
                                          .decode("utf-8-sig"))))
    assert [(r["service_code"], int(r["opened"])) for r in sla] == [
        ("test_permit", data.expected_sla(dataset, BASE.date(), NOW.date())["opened"])]


def test_bad_filters_and_unknown_exports_are_refused(pages: Pages) -> None:
    pages.as_user("supervisor")
    assert pages.client.get("/reports?from=31-03-2026").status_code == 422
    assert pages.client.get("/reports?from=2026-03-10&to=2026-03-01").status_code == 422
    assert pages.client.get("/reports/export/secrets.csv").status_code == 404
    assert pages.client.get("/reports/export/sla.pdf").status_code == 404


def test_a_city_supervisor_is_offered_only_the_centers_they_see(pages: Pages, dataset: Dataset) -> None:
    from sqlmodel import Session

    from engine import centers
    from storage.db import engine_for

    name = pages.user("supervisor")
    with Session(engine_for(pages.settings.database_url)) as session:
        centers.set_user_center(session=session, username=name, center_code="CITY-A")
    pages.sign_out()
    assert pages.sign_in(name).status_code == 303
    page = pages.client.get(f"/reports?{QUERY}")
    assert page.status_code == 200
    offered = set(re.findall(r'<option value="([^"]+)"', page.text[page.text.index('name="center"'):
                                                                    page.text.index('name="service"')]))
    assert offered == {"CITY-A"}
    assert pages.client.get(f"/reports?{QUERY}&center=CITY-B").status_code == 403


def test_the_dashboard_says_how_fresh_the_figures_are(pages: Pages) -> None:
    """The figures are counted after each step (engine/reports/projector.py): the page says up to when."""
    from engine.reports.projector import catch_up

    pages.as_user("supervisor")
    html = pages.client.get("/reports").text
    fresh = html[html.index('id="freshness"'):]
    fresh = fresh[:fresh.index("</p>")]
    assert "لم تُحسب الأرقام بعد" in fresh  # the default language; nothing counted yet
    catch_up(pages.settings)
    html = pages.client.get("/reports").text
    fresh = html[html.index('id="freshness"'):]
    fresh = fresh[:fresh.index("</p>")]
    assert "محسوبة حتى" in fresh and "UTC" in fresh
