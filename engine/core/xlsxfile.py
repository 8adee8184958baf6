"""A table as an XLSX workbook for spreadsheet programs: numbers (ints, exact Decimals) stay numbers, text that a
spreadsheet would run as a formula stays text. The performance reports' export (admin_ui/report_export.py) and
the collections export (engine/payments/ledger.py) both write with it; CSV is engine/core/csvfile.py."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from engine.core.csvfile import columns

#: The media type of an XLSX file.
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def to_xlsx(rows: list[dict[str, Any]], title: str, names: list[str] | None = None,
            headers: dict[str, str] | None = None, right_to_left: bool = False) -> bytes:
    """``rows`` on one sheet called ``title``, under a header row of ``names`` (the first row's keys when not
    given), each shown as ``headers[name]`` when given. Decimals are written as numbers with two places."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = _cell(title)[:31]
    if right_to_left:
        sheet.sheet_view.rightToLeft = True
    names = names if names is not None else columns(rows)
    sheet.append([_cell((headers or {}).get(n, n)) for n in names])
    for row in rows:
        sheet.append([_cell(row[n]) for n in names])
    for line in sheet.iter_rows():
        for item in line:
            if item.data_type == "f":  # openpyxl takes text starting with "=" for a formula: keep it text
                item.data_type = "s"
            elif isinstance(item.value, Decimal):
                item.number_format = "0.00"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    """A value as a cell takes it: text loses the control characters XML cannot carry (a name typed with one
    would otherwise fail the whole export)."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value
