"""A report's table as a file: CSV (UTF-8 with a byte-order mark, so spreadsheet programs read Arabic) or XLSX."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook

from engine.core.csvfile import FORMULA_START, cell, columns, to_csv

__all__ = ["FORMULA_START", "XLSX_TYPE", "cell", "columns", "to_csv", "to_xlsx"]

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
