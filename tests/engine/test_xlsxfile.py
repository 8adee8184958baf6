"""The XLSX writer from the side of what users type: a control character in a name, a formula, amounts."""

from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import load_workbook

from engine.core.xlsxfile import to_xlsx


def test_control_characters_formulas_and_amounts() -> None:
    rows = [{"name": "سارة\x01 أحمد\x1f", "note": "=HYPERLINK(\"http://x\")", "amount": Decimal("150.50"), "n": 3}]
    sheet = load_workbook(io.BytesIO(to_xlsx(rows, "المحصلات\x02"))).active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == ["name", "note", "amount", "n"]
    name, note, amount, n = sheet[2]
    assert name.value == "سارة أحمد"  # the name kept, without the characters XML cannot carry
    assert note.data_type == "s" and note.value == "=HYPERLINK(\"http://x\")"
    assert amount.value == 150.5 and amount.data_type == "n" and n.value == 3
