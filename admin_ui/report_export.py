"""A report's table as a file: CSV (UTF-8 with a byte-order mark, so spreadsheet programs read Arabic) or XLSX."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


#: A text cell starting with one of these is a formula to a spreadsheet program (CSV/formula injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A value as a CSV cell: text a spreadsheet would run as a formula gets a leading apostrophe; numbers
    stay."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(rows[0]) if rows else []


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    names = columns(rows)
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if row[n] is None else cell(row[n]) for n in names])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(rows: list[dict[str, Any]], title: str) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    names = columns(rows)
    sheet.append(names)
    for row in rows:
        sheet.append([row[n] for n in names])
    for line in sheet.iter_rows():
        for item in line:
            if item.data_type == "f":  # openpyxl takes text starting with "=" for a formula: keep it text
                item.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
