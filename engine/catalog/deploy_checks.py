"""A report on a service's files an analyst can act on: every problem with its element's id, name and kind,
the reason in English and Arabic, and the fix where it is obvious.

``validate`` answers what a deploy would: the package is compiled (engine/bpmn/compiler.py) and its test
cases run (engine/catalog/analyst_tests.py); nothing is stored. It adds one check of its own before the compiler,
which stops at the first flow it cannot run: an exclusive or inclusive gateway with several outgoing flows
that have no condition and no default is reported once, on the gateway, with the count.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from engine.bpmn.compiler import PackageRefused, compile_package
from engine.bpmn.safe_xml import XmlRefused, parse_untrusted_xml
from engine.catalog import output_templates, processes
from engine.core.errors import Invalid
from engine.core.refusals import arabic, fix, problem_arabic, say
from engine.core.settings import Settings

_GATEWAYS = {"exclusiveGateway": "exclusive", "inclusiveGateway": "inclusive"}


def _roots(files: dict[str, bytes], settings: Settings) -> dict[str, Any]:
    out = {}
    for name, content in sorted(files.items()):
        if name.endswith((".bpmn", ".dmn")):
            try:
                out[name] = parse_untrusted_xml(content, filename=name, max_bytes=settings.max_xml_bytes)
            except XmlRefused:
                continue  # the compiler reports it
    return out


def elements(files: dict[str, bytes], settings: Settings) -> dict[str, dict[str, str | None]]:
    """Every element with an id: ``{"name", "type", "file"}``."""
    out: dict[str, dict[str, str | None]] = {}
    for name, root in _roots(files, settings).items():
        for el in root.iter():
            if isinstance(el.tag, str) and el.get("id"):
                out.setdefault(el.get("id"), {"name": el.get("name"), "type": etree.QName(el).localname,
                                              "file": name})
    return out


def gateway_problems(files: dict[str, bytes], settings: Settings) -> list[dict[str, Any]]:
    """Gateways with two or more unconditioned outgoing flows and no default flow, one problem each."""
    problems = []
    for name, root in _roots(files, settings).items():
        if not name.endswith(".bpmn"):
            continue
        for process in root.iter("{*}process", "{*}subProcess"):
            flows = [f for f in process if isinstance(f.tag, str) and etree.QName(f).localname == "sequenceFlow"]
            for gateway in process:
                kind = _GATEWAYS.get(etree.QName(gateway).localname) if isinstance(gateway.tag, str) else None
                if kind is None or gateway.get("default"):
                    continue
                bare = [f.get("id") for f in flows if f.get("sourceRef") == gateway.get("id")
                        and f.find("{*}conditionExpression") is None]
                if len(bare) >= 2:
                    problems.append({"file": name, "element_id": gateway.get("id"), "flows": bare, "message": say(
                        "deploy.exclusive_gateway_without_conditions" if kind == "exclusive"
                        else "deploy.inclusive_gateway_without_conditions",
                        gateway=gateway.get("name") or gateway.get("id"), count=len(bare))})
    return problems


def validate(files: dict[str, bytes], settings: Settings) -> list[dict[str, Any]]:
    """The report of everything that would refuse a deploy of ``files``; empty when it would be accepted."""
    found = gateway_problems(files, settings)
    try:
        compiled = compile_package(files, max_xml_bytes=settings.max_xml_bytes, default_lane=settings.default_lane,
                                   max_files=settings.max_files_per_deploy)
        processes.check_tests(compiled, files, settings)
        output_templates.check(compiled, files, budget=settings.document_template_budget)
    except (PackageRefused, Invalid) as exc:
        covered = {flow for p in found for flow in p["flows"]}
        found += [d for d in exc.details if d.get("element_id") not in covered]
    return report(found, files, settings)


def report(details: list[dict[str, Any]], files: dict[str, bytes], settings: Settings) -> list[dict[str, Any]]:
    """``details`` (a refusal's problems) with the element's name and kind, Arabic, and the fix."""
    known = elements(files, settings)
    out = []
    for problem in details:
        message: str = problem.get("message") or ""  # a Text when the catalog has its words
        element_id = problem.get("element_id")
        element = known.get(element_id) if isinstance(element_id, str) else None
        remedy = fix(message)
        out.append({"file": problem.get("file") or (element or {}).get("file"), "element_id": element_id,
                    "element_name": (element or {}).get("name"), "element_type": (element or {}).get("type"),
                    "message": message,
                    "message_ar": arabic(message) or problem.get("message_ar") or problem_arabic(message),
                    "fix": remedy[0] if remedy else None, "fix_ar": remedy[1] if remedy else None})
    return out
