"""A DMN decision table as a citizen reads it: one row per rule, conditions in words, "any" for a blank.

The service page shows the fee rule of a service (``[fee] decision`` in ``service.toml``) this way. Only the
table's own text is read (labels, entries, descriptions); the XML is parsed with the safe parser.
"""

from __future__ import annotations

import re
from typing import Any

from engine.bpmn.safe_xml import XmlRefused, parse_untrusted_xml

_RANGE = re.compile(r"^\s*(-?[\d.]+)\s*(<=|<)\s*\?\s*(<=|<)\s*(-?[\d.]+)\s*$")
_COMPARE = re.compile(r"^\s*(<=|>=|<|>)\s*(-?[\d.]+)\s*$")
_INTERVAL = re.compile(r"^\s*([\[\]])\s*(-?[\d.]+)\s*\.\.\s*(-?[\d.]+)\s*([\[\]])\s*$")
_WORDS = {"<": ("under", "أقل من"), "<=": ("up to", "حتى"), ">": ("over", "أكثر من"), ">=": ("from", "من")}


def _number(text: str) -> str:
    return text[:-2] if text.endswith(".0") else text


def readable(entry: str) -> dict[str, Any]:
    """An input or output entry of a rule in English and Arabic words (``values``: the strings it lists, which
    the caller may name better, e.g. by a form's titles)."""
    text = " ".join(entry.split())
    if text in ("", "-"):
        return {"en": "any", "ar": "أي"}
    found = _RANGE.match(text)
    if found:
        low, op1, op2, high = found.groups()
        low_en = "from" if op1 == "<=" else "over"
        high_en = "under" if op2 == "<" else "up to"
        return {"en": f"{low_en} {_number(low)}, {high_en} {_number(high)}",
                "ar": f"{'من' if op1 == '<=' else 'أكثر من'} {_number(low)} "
                      f"{'إلى أقل من' if op2 == '<' else 'حتى'} {_number(high)}"}
    found = _INTERVAL.match(text)
    if found:
        _o, low, high, _c = found.groups()
        return {"en": f"{_number(low)} to {_number(high)}", "ar": f"من {_number(low)} إلى {_number(high)}"}
    found = _COMPARE.match(text)
    if found:
        op, value = found.groups()
        en, ar = _WORDS[op]
        return {"en": f"{en} {_number(value)}", "ar": f"{ar} {_number(value)}"}
    values = [v.strip() for v in text.split(",")]
    if all(len(v) >= 2 and v[0] == v[-1] == '"' for v in values):
        said = ", ".join(v[1:-1].replace("_", " ") for v in values)
        return {"en": said, "ar": said, "values": [v[1:-1] for v in values]}
    if text.lower() in ("true", "false"):
        yes = text.lower() == "true"
        return {"en": "yes" if yes else "no", "ar": "نعم" if yes else "لا"}
    # A formula (``350.0 * renewal_years``): its numbers without ".0", its names in words, "×" for "*".
    rounded = re.fullmatch(r"round\((.*),\s*\d+\)", text)  # rounding to the piastre is no news to a reader
    text = rounded.group(1) if rounded else text
    said = re.sub(r"(\d)\.0\b", r"\1", text).replace("*", "×").replace("_", " ")
    return {"en": said, "ar": said}


def decision_table(files: dict[str, bytes], decision_id: str, *, max_xml_bytes: int) -> dict[str, Any] | None:
    """The decision ``decision_id`` of the package's DMN files as ``{"title", "inputs", "outputs", "input_names",
    "output_names", "rows"}`` (the columns' labels and the variables they read or set; each row
    ``{"description", "when": [...], "then": [...]}``, every cell in both languages); None when no file of the
    package holds it as a decision table."""
    for name, content in sorted(files.items()):
        if not name.endswith(".dmn"):
            continue
        try:
            root = parse_untrusted_xml(content, filename=name, max_bytes=max_xml_bytes)
        except XmlRefused:
            continue
        for decision in root.iter("{*}decision"):
            if decision.get("id") != decision_id:
                continue
            table = next(decision.iter("{*}decisionTable"), None)
            if table is None:
                return None
            names = [_text(i.find("{*}inputExpression")).strip() for i in table.findall("{*}input")]
            inputs = [i.get("label") or n for i, n in zip(table.findall("{*}input"), names, strict=True)]
            output_names = [o.get("name") or "" for o in table.findall("{*}output")]
            outputs = [o.get("label") or o.get("name") or "" for o in table.findall("{*}output")]
            rows = []
            for rule in table.findall("{*}rule"):
                description = rule.findtext("{*}description") or ""
                rows.append({"description": description.strip(),
                             "when": [readable(_text(e)) for e in rule.findall("{*}inputEntry")],
                             "then": [readable(_text(e)) for e in rule.findall("{*}outputEntry")]})
            return {"title": decision.get("name") or decision_id, "inputs": inputs, "outputs": outputs,
                    "input_names": names, "output_names": output_names, "rows": rows}
    return None


def _text(element: Any) -> str:
    if element is None:
        return ""
    return str(element.findtext("{*}text") or "")
