"""The analyst's output templates (``outputs/*.html``): rendered in Jinja's sandbox, checked before a deploy.

A template is the body of a document (engine/outputs/ wraps it in the installation's page: the center's
header, the document number, both dates, the QR code on each page). It is untrusted like the rest of the
package: the sandbox refuses attributes that start with ``_`` and unsafe calls, there is no loader (no
``include``, ``import`` or ``extends``), values are escaped, and a missing value renders empty. Jinja lives
here, in the engine, only for these templates: the pages' own templates are admin_ui's.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from engine.bpmn.compiler import PATHS_FILE, CompiledProcess, PackageRefused
from engine.bpmn.service_info import Output
from engine.core.refusals import say


class _Strict(SandboxedEnvironment):
    """The sandbox, but an unsafe attribute is an error at once rather than an empty value: a template that
    reaches for ``__class__`` is refused at deploy, not quietly printed blank."""

    # ``**`` and ``*`` are asked here rather than folded when the template compiles: ``10**10**8`` or
    # ``'x' * 4000000000`` would otherwise hold a worker's CPU or memory; a document needs neither.
    intercepted_binops = frozenset({"**", "*"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__} object is unsafe")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and not (_small(left) and _small(right) and abs(right) <= 64):
            raise SecurityError("a power in a template is limited to small numbers")
        if operator == "*":
            sized = next((len(x) for x in (left, right) if isinstance(x, (str, list, tuple))), None)
            times = right if isinstance(left, (str, list, tuple)) else left
            if sized is not None and isinstance(times, int) and sized * max(times, 0) > _MAX_REPEAT:
                raise SecurityError("a repetition in a template is limited in size")
            if sized is None and not (_small(left) and _small(right)):
                raise SecurityError("a product in a template is limited to numbers below 10**18")
        return super().call_binop(context, operator, left, right)


_MAX_REPEAT = 100_000  # characters or items a ``*`` may make


def _small(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 10**18


_env = _Strict(autoescape=True, undefined=ChainableUndefined, loader=None)

#: What a deploy renders each template with: every name a template may use, with invented values.
SAMPLE: dict[str, Any] = {
    "citizen": {"full_name": "محمد أحمد علي", "national_id": "29001011234567", "phone": "01000000000"},
    "data": {},
    "case": {"tracking_number": "SHB-2026-000001", "service": {"ar": "خدمة", "en": "Service"}},
    "document": {"number": "D-2026-SAMPLE", "title": {"ar": "مستند", "en": "Document"}, "kind": "sample",
                 "issued_on": "1 يناير 2026", "issued_on_hijri": "12 رجب 1447 هـ"},
    "center": {"ar": "مركز الخدمات", "en": "Service center"},
    "department": {"ar": "الإدارة", "en": "Department"},
    "outcome": "approved",
}


def labels_for(process: CompiledProcess, data: dict[str, Any], language: str) -> dict[str, str]:
    """The words of the case's coded values in ``language``, by field: a form's ``enum`` with its
    ``x-enum-titles`` (``data.occupancy_purpose`` is ``kiosk``, ``labels.occupancy_purpose`` is "كشك أو فاترينة")."""
    found: dict[str, str] = {}
    for schema in process.forms.values():
        for name, prop in (schema.get("properties") or {}).items():
            if not isinstance(prop, dict) or name not in data or name in found:
                continue
            values, titles = prop.get("enum"), (prop.get("x-enum-titles") or {}).get(language)
            if isinstance(values, list) and isinstance(titles, list) and data[name] in values:
                index = values.index(data[name])
                if index < len(titles):
                    found[name] = str(titles[index])
    return found


def render(process: CompiledProcess, output: Output, context: dict[str, Any]) -> str:
    """The body HTML of ``output`` for ``context``; TemplateError (and the sandbox's SecurityError) go up."""
    return _env.from_string(process.templates[output.template]).render(context)


def paths_of(files: dict[str, bytes]) -> list[dict[str, Any]]:
    """The analyst's test paths (``paths.json``), the ones that are objects; none when unreadable."""
    try:
        paths = json.loads(files.get(PATHS_FILE, b"[]"))
    except ValueError:
        return []
    return [p for p in paths if isinstance(p, dict)] if isinstance(paths, list) else []


def merged(path: dict[str, Any]) -> dict[str, Any]:
    """A path's case data at its end: the start data, then each step's, merged."""
    data: dict[str, Any] = dict(path.get("start_data") or {})
    for step in path.get("steps") or []:
        if isinstance(step, dict) and isinstance(step.get("data"), dict):
            data.update(step["data"])
    return data


def sample_data(files: dict[str, bytes]) -> list[dict[str, Any]]:
    """The case data of each of the analyst's paths, or one empty case when the package has none: what a
    deploy renders the templates with."""
    return [merged(path) for path in paths_of(files)] or [{}]


def check(process: CompiledProcess, files: dict[str, bytes] | None = None) -> None:
    """Render every output of the package with each path's data (``SAMPLE`` for the rest): a template that
    fails refuses the deploy, naming the template and the reason."""
    problems = []
    for output in process.service.outputs:
        for data in sample_data(files or {}):
            citizen = data.get("citizen") if isinstance(data.get("citizen"), dict) else SAMPLE["citizen"]
            try:
                render(process, output, {**SAMPLE, "data": data, "citizen": citizen, "outcome": output.on[0],
                                         "labels": labels_for(process, data, output.language)})
            except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
                problems.append({"file": output.template, "element_id": output.kind, "message": say(
                    "deploy.output_template_fails", error=f"{type(exc).__name__}: {exc}")})
                break
    if problems:
        raise PackageRefused("deploy.output_templates_fail", problems, count=len(problems))
