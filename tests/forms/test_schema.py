"""Loading a form (forms/schema.py): what a deploy and the modeler's preview both refuse, and why."""

from __future__ import annotations

import pytest

from forms import schema


def test_a_json_schema_object_loads() -> None:
    loaded = schema.load(b'{"type": "object", "properties": {"area": {"type": "number"}}}')
    assert loaded == {"type": "object", "properties": {"area": {"type": "number"}}}
    assert schema.validator(loaded).is_valid({"area": 3}) and not schema.validator(loaded).is_valid({"area": "x"})


@pytest.mark.parametrize(("content", "kind", "where"), [
    (b"{", "not_json", None),
    (b"\xff\xfe", "not_json", None),
    (b"[1, 2]", "not_object", None),
    (b'{"type": "objekt"}', "not_schema", "type"),
    (b'{"properties": {"a": {"minimum": "ten"}}}', "not_schema", "properties/a/minimum"),
    (b"[" * 100_000 + b"]" * 100_000, "not_json", None),  # nested past what the parser follows
])
def test_what_is_not_a_form_says_why(content: bytes, kind: str, where: str | None) -> None:
    with pytest.raises(schema.NotAForm) as refused:
        schema.load(content)
    assert refused.value.kind == kind and refused.value.where == where


def test_a_schema_nested_too_deeply_to_check_is_refused() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(5000):
        node["not"] = {}
        node = node["not"]  # type: ignore[assignment]
    with pytest.raises(schema.NotAForm) as refused:
        schema.checked(deep)
    assert refused.value.kind == "too_deep"


def test_the_deploy_words_each_reason_in_english_and_arabic() -> None:
    from engine.bpmn.compiler import _load_form

    forms: dict[str, dict[str, object]] = {}
    problem = _load_form("review.json", b'{"type": "objekt"}', forms)
    assert problem is not None and forms == {}
    assert problem["file"] == "review.json" and problem["element_id"] == "type"
    assert problem["message"].startswith("not a valid JSON Schema: 'objekt' is not valid")
    assert problem["message"].ar.startswith("النموذج ليس JSON Schema صالحًا: ")
    assert _load_form("ok.json", b'{"type": "object"}', forms) is None and forms == {"ok.json": {"type": "object"}}
