"""Forms as page fields (forms/fields.py): a schema becomes fields, a page's post becomes data, and the
problems become one message per field in the reader's language."""

from __future__ import annotations

import ast
from pathlib import Path

from admin_ui.i18n import Lang
from forms import fields
from forms.schema import validator
from forms.validation import checked

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = {
    "type": "object", "required": ["area", "purpose"],
    "properties": {
        "area": {"type": "number", "title": "Area (m²)", "x-title-ar": "المساحة (م²)", "minimum": 1},
        "purpose": {"type": "string", "title": "Purpose", "maxLength": 200, "examples": ["Family home"]},
        "kind": {"type": "string", "enum": ["new", "extension"], "x-enum-titles": {"ar": ["جديد", "توسعة"]}},
        "urgent": {"type": "boolean", "title": "Urgent"},
        "reference": {"type": "string", "readOnly": True},
    },
}


def test_a_schema_becomes_fields_in_the_readers_language() -> None:
    drawn = {f.name: f for f in fields.schema_fields(SCHEMA, Lang("ar"), case_data={"reference": "R-1"})}
    assert list(drawn) == ["data.area", "data.purpose", "data.kind", "data.urgent", "data.reference"]
    area = drawn["data.area"]
    assert (area.label, area.label_other, area.widget, area.required) == ("المساحة (م²)", "Area (m²)", "number", True)
    assert area.attrs == {"inputmode": "decimal", "min": "1", "step": "any"}
    assert drawn["data.kind"].options == [("new", "جديد"), ("extension", "توسعة")]
    assert drawn["data.urgent"].widget == "checkbox"
    assert drawn["data.purpose"].attrs == {"maxlength": "200", "placeholder": "Family home"}
    assert drawn["data.reference"].read_only and drawn["data.reference"].value == "R-1"
    assert [f.label for f in fields.schema_fields(SCHEMA, Lang("en"))][:2] == ["Area (m²)", "Purpose"]


def test_a_post_becomes_data_with_arabic_digits_and_foreign_fields_kept_for_the_engine_to_refuse() -> None:
    post = {"data.area": "١٢٠٫٥", "data.purpose": "  بيت  ", "data.urgent": "on", "data.reference": "forged",
            "data.fee": "0", "csrf": "x"}
    data, raw = fields.parse(SCHEMA, post)
    assert data == {"area": 120.5, "purpose": "بيت", "urgent": True, "reference": "forged", "fee": "0"}
    assert raw == {"area": "١٢٠٫٥", "purpose": "بيت", "kind": "", "urgent": "true"}
    empty, _raw = fields.parse(SCHEMA, {"data.area": "", "data.urgent": ""})
    assert empty == {"urgent": False}  # absent, not empty: "required" is what the reader understands


def test_problems_become_one_message_per_field_in_either_language() -> None:
    data, problems = checked(validator(SCHEMA), {"area": 0, "urgent": False})
    assert data == {"area": 0, "urgent": False}
    assert fields.messages(problems, SCHEMA, Lang("ar")) == {
        "area": "يجب ألا تقل القيمة عن 1", "purpose": "هذا الحقل مطلوب"}
    assert fields.messages(problems, SCHEMA, Lang("en")) == {
        "area": "Must be at least 1", "purpose": "This field is required"}


def test_labels_and_values_as_a_person_reads_them() -> None:
    summary = fields.summary({"area": 1500, "kind": "extension", "urgent": True, "other": "x"}, {"f": SCHEMA},
                             Lang("ar"))
    assert summary == [("المساحة (م²)", "1,500"), ("kind", "توسعة"), ("Urgent", "نعم")]


def test_forms_imports_neither_a_face_nor_the_engine() -> None:
    imported = set()
    for path in (ROOT / "forms").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert imported & {"admin_ui", "api", "cli", "engine", "storage"} == set()
