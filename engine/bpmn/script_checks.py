"""Find every script and expression in a BPMN or DMN document and check it before anything is stored.

``check_bpmn_scripts`` and ``check_dmn_expressions`` walk a parsed (untrusted) document and return
``(element_id, message)`` for each source the restricted engine (``engine/bpmn/scripts.py``) would refuse, so a
deploy names the element and the reason instead of failing later in a running case.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from engine.bpmn.relax import TIMER_KINDS, timer_expression
from engine.bpmn.safe_xml import BPMN_NS, DMN_NAMESPACES
from engine.bpmn.scripts import FORBIDDEN_CALLS, SPIFF_NS, ScriptRefused, check_script
from engine.core.refusals import Words, say

_SCRIPT, _CONDITION = Words("script", "النص البرمجي"), Words("condition", "الشرط")
_TIMER = Words("timer expression", "تعبير المؤقت")
_BPMN_SOURCES: dict[str, tuple[Words, str]] = {
    f"{{{BPMN_NS}}}script": (_SCRIPT, "exec"),
    f"{{{BPMN_NS}}}conditionExpression": (_CONDITION, "eval"),
    f"{{{SPIFF_NS}}}preScript": (Words("pre-script", "النص البرمجي السابق"), "exec"),
    f"{{{SPIFF_NS}}}postScript": (Words("post-script", "النص البرمجي اللاحق"), "exec"),
    f"{{{BPMN_NS}}}timeDuration": (_TIMER, "eval"),
    f"{{{BPMN_NS}}}timeDate": (_TIMER, "eval"),
    f"{{{BPMN_NS}}}timeCycle": (_TIMER, "eval"),
    f"{{{BPMN_NS}}}loopCardinality": (Words("loop cardinality", "عدد مرات التكرار"), "eval"),
    f"{{{BPMN_NS}}}completionCondition": (Words("completion condition", "شرط الإكمال"), "eval"),
    f"{{{BPMN_NS}}}condition": (_CONDITION, "eval"),
}
# The DMN cells checked, by the element that holds the text.
_DMN_CELLS = {"inputExpression": Words("input expression", "تعبير المدخل"),
              "inputEntry": Words("input entry", "قيمة المدخل"), "outputEntry": Words("output entry", "قيمة المخرج")}
# Where each kind of source must sit to be run by SpiffWorkflow; elsewhere it is inert.
_BPMN_PARENTS: dict[str, str] = {
    "script": "scriptTask",
    "timeDuration": "timerEventDefinition",
    "timeDate": "timerEventDefinition",
    "timeCycle": "timerEventDefinition",
    "condition": "conditionalEventDefinition",
}
# Wrappers between a source and the flow node that owns it.
_WRAPPERS = frozenset(
    {"extensionElements", "multiInstanceLoopCharacteristics", "standardLoopCharacteristics"}
)
_DMN_LENIENT = re.compile(r"\bimport\b|__|\b(?:" + "|".join(sorted(FORBIDDEN_CALLS)) + r")\s*\(")
_DMN_QUESTION_MARK = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")  # as SpiffWorkflow's DMNEngine


def _local(element: Any) -> str:
    tag = getattr(element, "tag", None)
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _owner_id(element: Any) -> str:
    """The id of the flow node or sequence flow a source belongs to (or of the nearest element with one)."""
    for ancestor in element.iterancestors():
        local = _local(ancestor)
        if local in _WRAPPERS or local.endswith("EventDefinition"):
            continue
        owner = ancestor.get("id")
        if owner:
            return str(owner)
    return ""


def _problem(source: str, mode: str) -> str | None:
    try:
        check_script(source, mode=mode)
    except ScriptRefused as err:
        return err.message
    return None


def check_bpmn_scripts(root: Any) -> list[tuple[str, str]]:
    """Every refused script or expression in a parsed BPMN document, as ``(element_id, message)``.

    Checks script tasks, sequence-flow conditions, SpiffWorkflow pre/post scripts, timer expressions and
    multi-instance expressions. Empty sources are not problems; odd input gives ``[]``, never an error.
    """
    problems: list[tuple[str, str]] = []
    for element in root.iter() if isinstance(root, etree._Element) else ():
        kind = _BPMN_SOURCES.get(element.tag) if isinstance(element.tag, str) else None
        parent = element.getparent()
        required = _BPMN_PARENTS.get(_local(element))
        if kind is None or (required is not None and (parent is None or _local(parent) != required)):
            continue
        text = (element.text or "").strip()
        local = _local(element)
        if text and local in TIMER_KINDS:
            text, _ = timer_expression(local, text)  # bare ISO 8601 text is a literal, not an expression
        message = _problem(text, kind[1]) if text else None
        if message is not None:
            problems.append((_owner_id(element), _describe(kind[0], text, message) if kind[1] == "eval"
                             else say("deploy.script_refused", kind=kind[0], reason=message)))
    return problems


_JUEL = re.compile(r"^\s*[#$]\{(?P<body>.*)\}\s*$", re.DOTALL)
_FEEL = re.compile(r"^\s*=|\bthen\b|\b(?:date|time|duration)\s*\(\s*\"|\[\s*\S+\s*\.\.\s*\S+\s*\]"
                   r"|(?<![<>!=])=(?!=)")
# Word-for-word rewrites that make a simple JUEL or FEEL condition Python (tried in order).
_JUEL_TO_PYTHON = ((r"&&", " and "), (r"\|\|", " or "), (r"!(?!=)", " not "), (r"\beq\b", "=="),
                   (r"\bne\b", "!="), (r"\bgt\b", ">"), (r"\bge\b", ">="), (r"\blt\b", "<"), (r"\ble\b", "<="),
                   (r"\bempty\s+", "not "))
_FEEL_TO_PYTHON = ((r"^\s*=\s*", ""), (r"(?<![<>!=])=(?!=)", "=="))
_LITERALS = ((r"\btrue\b", "True"), (r"\bfalse\b", "False"), (r"\bnull\b", "None"))


def foreign_language(text: str) -> str | None:
    """``JUEL`` for a Camunda/Activiti ``${...}`` or ``#{...}`` expression, ``FEEL`` for a DMN/Zeebe FEEL one
    (``= x > 1``, ``if ... then ... else``, ``date("...")``, ranges, ``=`` as comparison), else None."""
    if _JUEL.match(text):
        return "JUEL"
    if _FEEL.search(text):
        return "FEEL"
    return None


def as_python(text: str, language: str) -> str | None:
    """The Python a simple JUEL or FEEL condition means, when a word-for-word rewrite gives an expression
    Shubbak accepts; None otherwise (the refusal then shows a general example)."""
    match = _JUEL.match(text)
    body = match.group("body") if match else text
    for pattern, replacement in (_JUEL_TO_PYTHON if language == "JUEL" else _FEEL_TO_PYTHON) + _LITERALS:
        body = re.sub(pattern, replacement, body)
    body = re.sub(r"\s+", " ", body).strip()
    if not body or body == text.strip() or _problem(body, "eval") is not None:
        return None
    return body


def _describe(kind: Words, text: str, message: str) -> str:
    """Quote the refused expression, and name its language when it is written in another engine's expression
    language (JUEL or FEEL), with the Python it means where a word-for-word rewrite gives one."""
    shown = text if len(text) <= 80 else text[:77] + "..."
    language = foreign_language(text)  # refused as Python: a sign of another language is taken as meant
    if language is None:
        return say("deploy.expression_refused", kind=kind, source=shown, reason=message)
    python = as_python(text, language)
    if python is not None:
        return say("deploy.expression_in_language", kind=kind, source=shown, language=language, python=python)
    return say("deploy.expression_foreign", kind=kind, source=shown, reason=message, language=language)


def check_dmn_expressions(root: Any) -> list[tuple[str, str]]:
    """Every refused expression in a parsed DMN document, as ``(element_id, message)``.

    Input expressions and output entries are checked strictly. Input entries are unary tests that
    SpiffWorkflow rewrites before running (``< 200`` becomes ``x < 200``, ``-`` means "any"); they are
    checked strictly in the forms SpiffWorkflow would run them, and when neither parses, only for
    imports, dunders and forbidden calls. The id is the entry's own, else its rule's.
    """
    problems: list[tuple[str, str]] = []
    for element in root.iter() if isinstance(root, etree._Element) else ():
        tag = element.tag if isinstance(element.tag, str) else ""
        namespace, _, local = tag.lstrip("{").partition("}")
        parent = element.getparent()
        if namespace not in DMN_NAMESPACES or local != "text" or parent is None:
            continue
        text = (element.text or "").strip()
        kind = _local(parent)
        if not text or kind not in ("inputExpression", "inputEntry", "outputEntry"):
            continue
        message = _input_entry_problem(text) if kind == "inputEntry" else _problem(text, "eval")
        if message is not None:
            owner = parent.get("id") or _owner_id(parent)
            problems.append((str(owner), say("deploy.script_refused", kind=_DMN_CELLS[kind], reason=message)))
    return problems


def _input_entry_problem(text: str) -> str | None:
    if text == "-":
        return None
    expression = _DMN_QUESTION_MARK.sub("dmninputexpr", text)
    for candidate in (expression, f"v {expression}"):
        try:
            check_script(candidate, mode="eval")
            return None
        except ScriptRefused as err:
            if not err.syntax_error:
                return err.message
    if _DMN_LENIENT.search(text):
        return say("script.dmn_lenient")
    return None
