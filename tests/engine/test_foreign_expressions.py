"""A condition written in another engine's expression language is refused naming that language (JUEL, FEEL), in
English and Arabic, on its element, with the Python it means where a word-for-word rewrite gives one."""

from __future__ import annotations

from typing import Any

import pytest

from engine.bpmn.compiler import PackageRefused, compile_package
from engine.bpmn.script_checks import as_python, foreign_language
from engine.catalog.packages import read_package
from engine.core.refusals import in_language
from harness.settings import TEST_PROCESSES


def _refusal(condition: str) -> dict[str, Any]:
    files = read_package(TEST_PROCESSES / "test_permit")
    files["test_permit.bpmn"] = files["test_permit.bpmn"].replace(
        b'decision == "approve"', condition.replace("&", "&amp;").replace("<", "&lt;").encode())
    with pytest.raises(PackageRefused) as refused:
        compile_package(files, max_xml_bytes=1_000_000, default_lane="front_desk")
    [problem] = refused.value.details
    return problem


@pytest.mark.parametrize(("condition", "language", "python"), [
    ("${decision == 'approve'}", "JUEL", "decision == 'approve'"),
    ("#{decision eq 'approve' && !late}", "JUEL", "decision == 'approve' and not late"),
    ('= decision = "approve"', "FEEL", 'decision == "approve"'),
    ('decision = "approve"', "FEEL", 'decision == "approve"'),
])
def test_the_language_is_named_with_the_python_it_means(condition: str, language: str, python: str) -> None:
    problem = _refusal(condition)
    assert problem["element_id"] == "f_approve"
    english, arabic = in_language(problem["message"], "en"), in_language(problem["message"], "ar")
    assert f"written in {language}" in english and f"e.g. {python}" in english and condition in english
    assert f"بلغة {language}" in arabic and python in arabic and condition in arabic


def test_a_feel_expression_with_no_word_for_word_python_gets_a_general_example() -> None:
    problem = _refusal('if decision = "approve" then true else false')
    english = in_language(problem["message"], "en")
    assert "written in FEEL" in english and "e.g. amount > 100" in english
    assert problem["element_id"] == "f_approve"


def test_plain_python_mistakes_are_not_called_another_language() -> None:
    assert foreign_language("decision == 'approve' and") is None
    assert foreign_language("amount >= 100") is None
    assert as_python("decision == 'approve'", "FEEL") is None  # nothing to rewrite: no suggestion
