"""The analyst's preview of an output template: a draft's files rendered with one of its own test paths.

Nothing is stored, numbered or signed: the PDF says PREVIEW where the number goes. The same compile and the
same sandbox as a deploy, so what the preview shows is what a case will issue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import TemplateError

from engine.bpmn.compiler import PackageRefused, compile_package
from engine.bpmn.service_info import Output, parse_service_toml
from engine.catalog import output_templates
from engine.core import clock
from engine.core.errors import Invalid, NotFound
from engine.core.refusals import say
from engine.core.settings import Settings
from engine.outputs import issue, pdf

NUMBER = "PREVIEW"


def render(*, files: dict[str, bytes], kind: str, path: str | None, settings: Settings,
           at: datetime | None = None) -> bytes:
    """The unsigned PDF of the draft's output ``kind`` for the data of its test path named ``path`` (the first
    path that reaches the output's element when None)."""
    process = compile_package(files, max_xml_bytes=settings.max_xml_bytes, default_lane=settings.default_lane,
                              max_files=settings.max_files_per_deploy)
    output = next((o for o in process.service.outputs if o.kind == kind), None)
    if output is None:
        raise NotFound("outputs.unknown_kind", kind=kind)
    data = _data(files, path, output.on)
    try:
        page, body = issue.compose(process, output, number=NUMBER, data=data, tracking_number="0000-0000-0000",
                                   center={"ar": "مركز الخدمات", "en": "Service center"},
                                   moment=at or clock.now(), outcome=output.on[0], settings=settings)
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
        raise Invalid("deploy.output_templates_fail", [{
            "file": output.template, "element_id": output.kind,
            "message": say("deploy.output_template_fails", error=output_templates.reason(exc))}], count=1) from exc
    return pdf.render(page, body)


def _data(files: dict[str, bytes], name: str | None, elements: list[str]) -> dict[str, Any]:
    """A test path's case data (its start data and every step's, merged): the one named, else the first whose
    steps reach one of ``elements``, else the first; an empty case when the draft has none."""
    paths = output_templates.paths_of(files)
    if name is not None:
        chosen = [p for p in paths if p.get("name") == name]
        if not chosen:
            raise NotFound("outputs.unknown_path", path=name)
    else:
        chosen = [p for p in paths if any(s.get("task") in elements for s in p.get("steps") or []
                                          if isinstance(s, dict)) or p.get("end_event") in elements] or paths
    return output_templates.merged(chosen[0]) if chosen else {}


def outputs_of(files: dict[str, bytes]) -> list[Output]:
    """The documents a draft's ``service.toml`` declares; none while it does not parse (the modeler's
    validate names that problem)."""
    try:
        return list(parse_service_toml(files.get("service.toml", b"").decode("utf-8")).outputs)
    except (Invalid, UnicodeDecodeError):
        return []


def output_of(files: dict[str, bytes], kind: str) -> Output:
    """The draft's output ``kind`` (NotFound when the draft declares none of that kind)."""
    found = next((o for o in outputs_of(files) if o.kind == kind), None)
    if found is None:
        raise NotFound("outputs.unknown_kind", kind=kind)
    return found


def with_template(files: dict[str, bytes], kind: str, text: str) -> dict[str, bytes]:
    """The draft's files with the template of its output ``kind`` replaced by ``text``."""
    return {**files, output_of(files, kind).template: text.replace("\r\n", "\n").encode("utf-8")}


def template_problems(files: dict[str, bytes], settings: Settings) -> list[dict[str, Any]]:
    """What a deploy would refuse about the draft's documents (every template rendered with every test path's
    data, engine/catalog/output_templates.py), and any problem that stops the package from compiling first."""
    try:
        process = compile_package(files, max_xml_bytes=settings.max_xml_bytes, default_lane=settings.default_lane,
                                  max_files=settings.max_files_per_deploy)
        output_templates.check(process, files, budget=settings.document_template_budget)
    except (PackageRefused, Invalid) as exc:
        return list(exc.details)
    return []
