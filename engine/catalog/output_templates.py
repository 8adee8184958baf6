"""The analyst's output templates (``outputs/*.html``): rendered in Jinja's sandbox, checked before a deploy.

A template is the body of a document (engine/outputs/ wraps it in the installation's page: the center's
header, the document number, both dates, the QR code on each page). It is untrusted like the rest of the
package: the sandbox refuses attributes that start with ``_`` and unsafe calls, there is no loader (no
``include``, ``import`` or ``extends``), values are escaped, and a missing value renders empty. Jinja lives
here, in the engine, only for these templates: the pages' own templates are admin_ui's.
"""

from __future__ import annotations

from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from engine.bpmn.compiler import CompiledProcess, PackageRefused
from engine.bpmn.service_info import Output
from engine.core.refusals import say

_env = SandboxedEnvironment(autoescape=True, undefined=ChainableUndefined, loader=None)

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


def render(process: CompiledProcess, output: Output, context: dict[str, Any]) -> str:
    """The body HTML of ``output`` for ``context``; TemplateError (and the sandbox's SecurityError) go up."""
    return _env.from_string(process.templates[output.template]).render(context)


def check(process: CompiledProcess) -> None:
    """Render every output of the package with ``SAMPLE``: a template that fails refuses the deploy."""
    problems = []
    for output in process.service.outputs:
        try:
            render(process, output, {**SAMPLE, "data": {**SAMPLE["data"]}, "outcome": output.on[0]})
        except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
            problems.append({"file": output.template, "element_id": output.kind,
                             "message": say("deploy.output_template_fails", error=f"{type(exc).__name__}: {exc}")})
    if problems:
        raise PackageRefused("deploy.output_templates_fail", problems, count=len(problems))
