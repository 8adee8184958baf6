"""Exports never hand a spreadsheet a formula: text from analysts or users (step titles, lanes, usernames) that
starts with = + - @ stays text in CSV and XLSX; numbers, negative ones too, stay numbers."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from admin_ui.report_export import to_csv, to_xlsx

ROWS = [{"name": "=HYPERLINK(\"http://evil\",\"x\")", "title": "+1+cmd|' /C calc'!A0", "lane": "-2+3",
         "officer": "@SUM(A1)", "count": 3, "delta": -4, "plain": "تسجيل"}]


def test_csv_cells_that_would_be_formulas_are_neutralised() -> None:
    (row,) = list(csv.DictReader(io.StringIO(to_csv(ROWS).decode("utf-8-sig"))))
    assert row == {"name": "'=HYPERLINK(\"http://evil\",\"x\")", "title": "'+1+cmd|' /C calc'!A0",
                   "lane": "'-2+3", "officer": "'@SUM(A1)", "count": "3", "delta": "-4", "plain": "تسجيل"}


def test_xlsx_cells_that_would_be_formulas_stay_text() -> None:
    sheet = load_workbook(io.BytesIO(to_xlsx(ROWS, "steps"))).active
    assert sheet is not None
    cells = list(sheet.iter_rows(min_row=2))[0]
    assert [c.data_type for c in cells] == ["s", "s", "s", "s", "n", "n", "s"]
    assert [c.value for c in cells] == list(ROWS[0].values())
