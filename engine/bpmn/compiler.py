"""Turn a set of uploaded files into a runnable process, or a list of problems an analyst can act on.

A package is the BPMN (one or more files), its DMN tables, its JSON Schema forms and an optional
``service.toml``. Everything is checked before anything is stored: unsafe XML, scripts outside the
allowed language, missing forms, diagrams SpiffWorkflow cannot run. ``compile_package`` either returns a
``CompiledProcess`` or raises ``PackageRefused`` with every problem found, each naming its file and element.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from jsonschema import Draft202012Validator
from lxml import etree
from pydantic import ValidationError
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import ThrowingEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.bpmn.parser import ShubbakParser
from engine.bpmn.safe_xml import XmlRefused, is_bpmn, is_dmn, parse_untrusted_xml
from engine.bpmn.script_checks import check_bpmn_scripts, check_dmn_expressions
from engine.bpmn.service_info import ServiceInfo, parse_service_toml
from engine.core.errors import Invalid
from engine.core.refusals import Text, say
from forms import schema as form_schema

ALLOWED_SUFFIXES = (".bpmn", ".dmn", ".json", ".toml", ".html")


def plain_file_name(name: str) -> bool:
    """A name a package's file may have: no folder in it (neither ``/`` nor ``\\``, a folder to Windows and to
    archive tools there: the case export's ZIP holds the files by name) and a known suffix."""
    return PurePosixPath(name).name == name and "\\" not in name and name.lower().endswith(ALLOWED_SUFFIXES)


SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
#: The analyst's test cases (engine/catalog/analyst_tests.py): part of the package's content, not of the diagram.
PATHS_FILE = "paths.json"
#: A shared sub-process taken along by a package that calls it (engine/catalog/packages.py): ``shared__<id>.bpmn``.
SHARED_PREFIX = "shared__"


@dataclass(frozen=True)
class UserTaskInfo:
    """What the inbox needs to know of a user task, read from the diagram once at deploy time."""

    name: str
    title: str
    title_ar: str | None
    lane: str
    form: str | None
    sla_days: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "title_ar": self.title_ar, "lane": self.lane,
                "form": self.form, "sla_days": self.sla_days}


@dataclass(frozen=True)
class MessageCatcher:
    """An element that waits for a message (a message catch event, start event or receive task): the message's
    name, and who may send it from outside (``POST /api/cases/{id}/messages/{name}``): the roles its
    ``message_senders`` property names (comma-separated), else its lane (its pool's, for a pool without lanes);
    ``form``: the JSON Schema its ``formJsonSchemaFilename`` property names, that the payload must satisfy.

    A message with correlation properties (``correlated``) comes from another case (engine/cases/correlated.py):
    from a case of the services its ``message_from`` property names (service codes, comma-separated), else of
    the element's own service only. Nobody sends it from outside unless ``message_senders`` names them."""

    element: str
    message: str
    lane: str
    senders: tuple[str, ...] = ()
    form: str | None = None
    # Every message flow drawn into the element comes from a pool of the same case: the engine delivers it,
    # nobody sends it from outside.
    between_pools: bool = False
    correlated: bool = False
    from_services: tuple[str, ...] = ()

    def may_send(self, roles: frozenset[str]) -> bool:
        return bool(roles & (set(self.senders) or {self.lane}))

    @property
    def from_outside(self) -> bool:
        """Whether anyone may send it through the API: not a message between pools, and a message between cases
        only when the diagram names its senders."""
        return not self.between_pools and (not self.correlated or bool(self.senders))

    def takes_from(self, service_code: str, own_service: str) -> bool:
        """Whether a case of ``service_code`` may send it (a message between cases)."""
        return service_code in (self.from_services or (own_service,))


#: The message a diagram waits on for a fee to be paid (a message catch event or a receive task): reaching it
#: issues a bill (engine/cases/bills.py), paying the bill delivers it.
PAYMENT_MESSAGE = "payment_received"


@dataclass
class CompiledProcess:
    process_id: str
    service: ServiceInfo
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    user_tasks: dict[str, UserTaskInfo]
    forms: dict[str, dict[str, Any]]
    sha256: str
    has_layout: bool
    start_lanes: frozenset[str] = frozenset()
    # The user tasks a new case reaches first (the front desk's intake): past them, papers must be complete.
    intake_tasks: frozenset[str] = frozenset()
    version: int = 0
    validators: dict[str, Draft202012Validator] = field(default_factory=dict)
    # The output templates (``outputs/*.html``) by file name: rendered by engine/outputs, checked at deploy.
    templates: dict[str, str] = field(default_factory=dict)
    # Whether the diagram waits for the message payment_received anywhere: its fee is billed and paid at the
    # cash desk (engine/cases/bills.py), not at registration.
    takes_payment: bool = False
    # A collaboration of several executable pools run as one case: the collaboration's id (``process_id`` is it
    # then), its pools (process id -> the pool's name as drawn), and the pool a new case starts in.
    collaboration: str | None = None
    pools: dict[str, str] = field(default_factory=dict)
    starting_pool: str | None = None
    # Every element that waits for a message, by element id (see MessageCatcher).
    message_catchers: dict[str, MessageCatcher] = field(default_factory=dict)
    # The shared sub-processes the package took along (engine/catalog/packages.py): process id -> the SHA-256 of
    # its BPMN and the forms its user tasks name, the version it is pinned to.
    shared: dict[str, str] = field(default_factory=dict)

    @property
    def lanes(self) -> list[str]:
        return sorted({t.lane for t in self.user_tasks.values()})

    def meta(self) -> dict[str, Any]:
        out = {"user_tasks": {k: v.as_dict() for k, v in self.user_tasks.items()},
               "lanes": self.lanes, "start_lanes": sorted(self.start_lanes), "has_layout": self.has_layout}
        senders = sorted({r for c in self.message_catchers.values() if c.from_outside
                          for r in (c.senders or (c.lane,))})
        if senders:
            out["message_senders"] = senders
        if self.shared:
            out["shared"] = dict(self.shared)
        if self.collaboration is not None:
            out["pools"] = dict(self.pools)
            out["starting_pool"] = self.starting_pool
        return out

    def validator(self, form: str) -> Draft202012Validator:
        found = self.validators.get(form)
        if found is None:
            found = self.validators[form] = form_schema.validator(self.forms[form])
        return found


class PackageRefused(Invalid):
    """A package that cannot run; ``details`` lists ``{"file", "element_id", "message"}`` entries."""


def content_hash(files: dict[str, bytes]) -> str:
    """Hash of the names and contents: the same files give the same version, whatever their order."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode("utf-8") + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def _problem(file: str | None, element_id: str | None, message: str) -> dict[str, Any]:
    """One problem of a package; ``message`` is a Text (engine/core/refusals.py) where the words are the catalog's."""
    return {"file": file, "element_id": element_id or None, "message": message}


def compile_package(files: dict[str, bytes], *, max_xml_bytes: int, default_lane: str,
                    max_files: int = 50) -> CompiledProcess:
    problems: list[dict[str, Any]] = []
    if not files:
        raise PackageRefused("deploy.no_files", [_problem(None, None, say("deploy.send_a_bpmn_file"))])
    if len(files) > max_files:
        raise PackageRefused("deploy.too_many_files",
                             [_problem(None, None, say("deploy.at_most_files", max_files=max_files))])
    for name in files:
        if not plain_file_name(name):
            problems.append(_problem(name, None, say("deploy.file_names")))
    if problems:
        raise PackageRefused("deploy.unacceptable_files", problems)

    service: ServiceInfo | None = None
    bpmn_roots: dict[str, etree._Element] = {}
    dmn_roots: dict[str, etree._Element] = {}
    forms: dict[str, dict[str, Any]] = {}
    templates: dict[str, str] = {}
    for name, content in sorted(files.items()):
        lower = name.lower()
        if lower.endswith(".html"):
            try:
                templates[name] = _text(content, name)
            except Invalid as exc:
                problems.extend(exc.details)
            continue
        if lower.endswith(".toml"):
            if name != "service.toml":
                problems.append(_problem(name, None, say("deploy.only_service_toml")))
                continue
            try:
                service = parse_service_toml(_text(content, name), name)
            except Invalid as exc:
                problems.extend(exc.details)
            continue
        if name == PATHS_FILE:
            continue  # run by deploy (engine/catalog/analyst_tests.py), never read as a form
        if lower.endswith(".json"):
            forms_problem = _load_form(name, content, forms)
            if forms_problem:
                problems.append(forms_problem)
            continue
        try:
            root = parse_untrusted_xml(content, filename=name, max_bytes=max_xml_bytes)
        except XmlRefused as exc:
            problems.append(_problem(name, None, exc.message))
            continue
        if lower.endswith(".bpmn"):
            if not is_bpmn(root):
                problems.append(_problem(name, None, say("deploy.not_bpmn")))
                continue
            bpmn_roots[name] = root
            problems.extend(_problem(name, eid, msg) for eid, msg in check_bpmn_scripts(root))
        else:
            if not is_dmn(root):
                problems.append(_problem(name, None, say("deploy.not_dmn")))
                continue
            dmn_roots[name] = root
            problems.extend(_problem(name, eid, msg) for eid, msg in check_dmn_expressions(root))
    if not bpmn_roots and not problems:
        problems.append(_problem(None, None, say("deploy.no_bpmn_file")))
    if service is not None:
        problems.extend(_output_problems(service, templates, bpmn_roots, forms))
    if problems:
        raise PackageRefused("deploy.cannot_be_deployed", problems)
    compiled = _build(files, service, bpmn_roots, dmn_roots, forms, default_lane)
    compiled.templates = templates
    compiled.shared = _shared_pins(files, compiled)
    return compiled


def _shared_pins(files: dict[str, bytes], compiled: CompiledProcess) -> dict[str, str]:
    """The hash of every shared sub-process the package holds: its BPMN and the forms its user tasks name."""
    pins = {}
    for name in sorted(files):
        if not (name.startswith(SHARED_PREFIX) and name.endswith(".bpmn")):
            continue
        process_id = name[len(SHARED_PREFIX):-len(".bpmn")]
        spec = compiled.subprocess_specs.get(process_id)
        forms = {str(props.get("formJsonSchemaFilename"))
                 for task_spec in (spec.task_specs.values() if spec is not None else ())
                 for props in [((getattr(task_spec, "extensions", None) or {}).get("properties") or {})]
                 if props.get("formJsonSchemaFilename") in files}
        pins[process_id] = content_hash({name: files[name], **{f: files[f] for f in forms}})
    return pins


def _output_problems(service: ServiceInfo, templates: dict[str, str], bpmn_roots: dict[str, etree._Element],
                     forms: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each output names a template of the package and elements of its diagrams, and its condition (``when``)
    a yes/no field of its forms."""
    ids = {str(el.get("id")) for root in bpmn_roots.values() for el in root.iter() if el.get("id")}
    flags = {name for schema in forms.values() for name, prop in (schema.get("properties") or {}).items()
             if isinstance(prop, dict) and prop.get("type") == "boolean"}
    problems = []
    for output in service.outputs:
        if output.when is not None and output.when not in flags:
            problems.append(_problem("service.toml", output.kind,
                                     say("deploy.output_condition_unknown", field=output.when)))
        if output.template not in templates:
            problems.append(_problem("service.toml", output.kind,
                                     say("deploy.output_template_missing", template=output.template)))
        for element in output.on:
            if element not in ids:
                problems.append(_problem("service.toml", output.kind,
                                         say("deploy.output_element_unknown", element=element)))
    return problems


def _text(content: bytes, name: str) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid("deploy.not_utf8_text", [_problem(name, None, say("deploy.file_not_utf8"))]) from exc


def _load_form(name: str, content: bytes, forms: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    try:
        forms[name] = form_schema.load(content)
    except form_schema.NotAForm as exc:
        said = say("deploy.form_not_json", error=exc.detail) if exc.kind == "not_json" else \
            say("deploy.form_not_schema", reason=exc.detail) if exc.kind == "not_schema" else \
            say("deploy.form_not_object") if exc.kind == "not_object" else say("deploy.form_too_deep")
        return _problem(name, exc.where, said)
    return None


def _build(files: dict[str, bytes], service: ServiceInfo | None, bpmn_roots: dict[str, etree._Element],
           dmn_roots: dict[str, etree._Element], forms: dict[str, dict[str, Any]],
           default_lane: str) -> CompiledProcess:
    parser = ShubbakParser()
    try:
        for name, root in bpmn_roots.items():
            parser.add_bpmn_xml(root, filename=name)
        for name, root in dmn_roots.items():
            parser.add_dmn_xml(root, filename=name)
        choice = _choose_process(parser, service, bpmn_roots)
        if choice.collaboration is not None:
            spec, subprocess_specs = parser.get_collaboration(choice.collaboration)
            _wire_message_started_pools(spec)
        else:
            spec = parser.get_spec(choice.process_id)
            subprocess_specs = parser.get_subprocess_specs(choice.process_id)
    except ValidationException as exc:
        raise PackageRefused("deploy.cannot_run", [_validation_problem(exc)]) from exc
    except SpiffWorkflowException as exc:
        raise PackageRefused("deploy.cannot_run", [_problem(None, None, str(exc))]) from exc
    except (KeyError, AttributeError, TypeError, ValueError, IndexError) as exc:
        # SpiffWorkflow's parser assumes well-formed BPMN in places; a descriptive diagram from another
        # tool can trip those assumptions. The analyst still deserves an answer, not a crash.
        raise PackageRefused("deploy.cannot_run",
                             [_problem(None, None, say("deploy.unreadable", error=f"{type(exc).__name__}: {exc}"))]
                             ) from exc
    process_id = choice.collaboration or choice.process_id
    if service is None:
        try:
            service = ServiceInfo(code=choice.process_id)
        except ValidationError as exc:
            raise PackageRefused("deploy.process_id_not_a_code", [_problem(
                _file_of(choice.process_id, bpmn_roots), choice.process_id,
                say("deploy.process_id_not_a_code_detail", process_id=choice.process_id))]) from exc
    pool_lanes = {pool: pool_lane(name, default_lane) for pool, name in choice.pools.items()}
    user_tasks, problems = _user_tasks(spec, subprocess_specs, forms, service, default_lane, bpmn_roots, pool_lanes)
    catchers = _message_catchers(spec, subprocess_specs, forms, default_lane, bpmn_roots, pool_lanes, problems,
                                 _inner_flows(bpmn_roots, list(choice.pools) or [choice.process_id]))
    if problems:
        raise PackageRefused("deploy.cannot_run", problems)
    has_layout = any(root.find(".//{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape") is not None
                     for root in bpmn_roots.values())
    # A collaboration's own spec only starts its pools; the case's first steps are those of the starting pool.
    first = subprocess_specs[choice.process_id] if choice.collaboration is not None else spec
    others = {pool: subprocess_specs[pool] for pool in choice.pools if pool != choice.process_id}
    return CompiledProcess(process_id=process_id, service=service, spec=spec, subprocess_specs=subprocess_specs,
                           user_tasks=user_tasks, forms=forms, sha256=content_hash(files), has_layout=has_layout,
                           start_lanes=_first_lanes(first, user_tasks, default_lane, others),
                           intake_tasks=_first_user_tasks(first, user_tasks, others),
                           takes_payment=_catches(spec, subprocess_specs, PAYMENT_MESSAGE),
                           collaboration=choice.collaboration, pools=dict(choice.pools),
                           starting_pool=choice.process_id if choice.collaboration is not None else None,
                           message_catchers=catchers)


def _message_catchers(spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec],
                      forms: dict[str, dict[str, Any]], default_lane: str, bpmn_roots: dict[str, etree._Element],
                      pool_lanes: dict[str, str], problems: list[dict[str, Any]],
                      inner: set[str]) -> dict[str, MessageCatcher]:
    """Every element that waits for a message, with who may send it and the form its payload must satisfy."""
    out: dict[str, MessageCatcher] = {}
    for spec_name, process_spec in [(None, spec), *subprocess_specs.items()]:
        fallback = pool_lanes.get(spec_name, default_lane) if spec_name is not None else default_lane
        for task_spec in process_spec.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            if not isinstance(definition, MessageEventDefinition) or isinstance(task_spec, ThrowingEvent):
                continue
            element = str(task_spec.bpmn_id or task_spec.name)
            props = (getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {}
            form = props.get("formJsonSchemaFilename")
            if form and form not in forms:
                problems.append(_problem(_file_of(element, bpmn_roots), element,
                                         say("deploy.form_not_sent", form=form)))
            senders = tuple(sorted({r.strip() for r in str(props.get("message_senders") or "").split(",")
                                    if r.strip()}))
            services = tuple(sorted({c.strip() for c in str(props.get("message_from") or "").split(",")
                                     if c.strip()}))
            out[element] = MessageCatcher(element=element, message=str(definition.name),
                                          lane=(task_spec.lane or fallback).strip()[:100], senders=senders,
                                          form=form or None, between_pools=element in inner,
                                          correlated=bool(definition.correlation_properties),
                                          from_services=services)
    return out


def _inner_flows(bpmn_roots: dict[str, etree._Element], processes: list[str]) -> set[str]:
    """The elements every message flow drawn into comes from an element of ``processes`` (the case's pools)."""
    inside: set[str] = set()
    for root in bpmn_roots.values():
        for process in root.iter(f"{{{BPMN_NS}}}process"):
            if process.get("id") in processes:
                inside.update(str(el.get("id")) for el in process.iter() if el.get("id"))
    sources: dict[str, list[str]] = {}
    for root in bpmn_roots.values():
        for flow in root.iter(f"{{{BPMN_NS}}}messageFlow"):
            sources.setdefault(str(flow.get("targetRef")), []).append(str(flow.get("sourceRef")))
    return {target for target, froms in sources.items() if all(f in inside for f in froms)}


def _wire_message_started_pools(spec: BpmnProcessSpec) -> None:
    """Wire once, at compile time, what SpiffWorkflow wires into the shared spec the first time a message starts
    a pool (``BpmnStartTask.trigger_wf`` connects the collaboration's start to the pool and the pool to the end):
    the pool leads to the end, and the start counts as its input, so ``trigger_wf`` finds nothing to rewire.
    The start does not lead to the pool: a new case does not start it before its message comes. Without this,
    the first case that starts such a pool changes the spec every later case and every replay runs on."""
    start = spec.start
    for name in getattr(start, "trigger_specs", []):
        participant = spec.task_specs[name]
        if spec.end not in participant.outputs:
            participant.connect(spec.end)
        if start.name not in participant._inputs:  # noqa: SLF001 - ``inputs`` is a copy; connect() would add an output
            participant._inputs.append(start.name)  # noqa: SLF001


#: Roles every installation has that are not lanes: a pool named so does not give its tasks to that role.
_NOT_LANES = frozenset({"admin", "analyst", "supervisor", "auditor", "cashier"})
_ROLE_NAME = re.compile(r"^[^\s,][^,]{0,99}$")  # engine/people/users.py's rule for a role's name


def pool_lane(pool_name: str | None, default_lane: str) -> str:
    """The lane of the user tasks of a pool drawn without lanes: the pool's name when it can be a role (a
    lane name, as the installation's roles are; not a built-in role), else the installation's default lane."""
    name = (pool_name or "").strip()
    return name if name and _ROLE_NAME.match(name) and name not in _NOT_LANES else default_lane


def _catches(spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec], message: str) -> bool:
    """Whether any element of the process or its sub-processes catches ``message``."""
    for one in (spec, *subprocess_specs.values()):
        for task_spec in one.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            if isinstance(definition, MessageEventDefinition) and definition.name == message:
                return True
    return False


def _first_user_tasks(spec: BpmnProcessSpec, user_tasks: dict[str, UserTaskInfo],
                      pools: dict[str, BpmnProcessSpec] | None = None) -> frozenset[str]:
    """Names of the user tasks a new case can reach before any other user task: the intake.

    In a collaboration (``pools``: the other pools' specs) a message thrown on the way starts the pools whose
    start event catches it, and their first user tasks are reached too."""
    seen: set[str] = set()
    found: set[str] = set()
    todo = [spec.start]
    while todo:
        task_spec = todo.pop()
        key = f"{id(task_spec)}"
        if key in seen:
            continue
        seen.add(key)
        if getattr(task_spec, "manual", False) and task_spec.bpmn_id in user_tasks:
            found.add(task_spec.bpmn_id)
            continue
        todo.extend(task_spec.outputs)
        definition = getattr(task_spec, "event_definition", None)
        if pools and isinstance(task_spec, ThrowingEvent) and isinstance(definition, MessageEventDefinition):
            todo.extend(start for pool in pools.values() for start in pool.bpmn_start_events
                        if getattr(start, "event_definition", None) == definition)
    return frozenset(found)


def _first_lanes(spec: BpmnProcessSpec, user_tasks: dict[str, UserTaskInfo], default_lane: str,
                 pools: dict[str, BpmnProcessSpec] | None = None) -> frozenset[str]:
    """Lanes of the user tasks a new case can reach before any other user task: who registers requests."""
    lanes = {user_tasks[name].lane for name in _first_user_tasks(spec, user_tasks, pools)}
    return frozenset(lanes or {default_lane})


def _validation_problem(exc: ValidationException) -> dict[str, Any]:
    # The parser's own refusals are Texts (engine/core/refusals.py); SpiffWorkflow's unmatched ones stay English.
    message: str = exc.args[0] if exc.args and isinstance(exc.args[0], Text) else (
        str(exc.args[0]) if exc.args else str(exc))
    name = getattr(exc, "name", "") or ""
    if name:
        message = say("deploy.at_element", message=message, name=name) if isinstance(message, Text) \
            else f"{message} (element '{name}')"
    return _problem(getattr(exc, "file_name", None) or None, getattr(exc, "id", None) or None, message)


@dataclass(frozen=True)
class _Choice:
    """What a package runs: one process, or a collaboration of several executable pools starting in one."""

    process_id: str  # the process run, or the collaboration's starting pool
    collaboration: str | None = None
    pools: dict[str, str] = field(default_factory=dict)  # executable pool's process id -> the pool's name


def _choose_process(parser: SpiffBpmnParser, service: ServiceInfo | None,
                    bpmn_roots: dict[str, etree._Element]) -> _Choice:
    # A process that a call activity of the package calls is a sub-process, not a candidate to run.
    called = {str(el.get("calledElement")) for root in bpmn_roots.values()
              for el in root.iter(f"{{{BPMN_NS}}}callActivity") if el.get("calledElement")}
    executable = [p for p in parser.get_process_ids() if p not in called]
    # Collaborations with several executable pools: run as one case (SpiffWorkflow's collaboration spec).
    collaborations = {cid: [p for p in refs if p in executable]
                      for cid, refs in sorted(parser.collaborations.items())}
    collaborations = {cid: pools for cid, pools in collaborations.items() if len(pools) > 1}
    named = service.process_id if service is not None and service.process_id else None
    if named is not None and named in collaborations:
        return _collaboration(named, collaborations[named], None, bpmn_roots)
    if named is not None:
        if named not in parser.process_parsers:
            raise ValidationException(say("deploy.service_toml_process_missing", process_id=named),
                                      file_name="service.toml", id=named)
        return _in_collaboration(named, collaborations, bpmn_roots) or _Choice(named)
    if service is not None and service.code in executable:
        return _in_collaboration(service.code, collaborations, bpmn_roots) or _Choice(service.code)
    if len(executable) == 1:
        return _Choice(str(executable[0]))
    file = next(iter(bpmn_roots), None)
    if not executable:
        raise ValidationException(say("deploy.no_executable_process"), file_name=file)
    if len(collaborations) == 1:
        cid, pools = next(iter(collaborations.items()))
        if set(pools) == set(executable):
            return _collaboration(cid, pools, None, bpmn_roots)
    raise ValidationException(say("deploy.several_executable_processes", count=len(executable),
                                  ids=", ".join(sorted(executable))), file_name=file)


def _in_collaboration(process_id: str, collaborations: dict[str, list[str]],
                      bpmn_roots: dict[str, etree._Element]) -> _Choice | None:
    for cid, pools in collaborations.items():
        if process_id in pools:
            return _collaboration(cid, pools, process_id, bpmn_roots)
    return None


def _collaboration(cid: str, pools: list[str], starting: str | None,
                   bpmn_roots: dict[str, etree._Element]) -> _Choice:
    """The collaboration ``cid`` of executable ``pools``; the starting pool is ``starting`` when service.toml
    names it, else the first pool (in the collaboration's order) with a start event that no message starts (not
    a message start event, no message flow into it), else the first pool."""
    names: dict[str, str] = {}
    message_targets: set[str] = set()
    starts: dict[str, list[etree._Element]] = {}
    for root in bpmn_roots.values():
        for collaboration in root.iter(f"{{{BPMN_NS}}}collaboration"):
            if collaboration.get("id") != cid:
                continue
            for participant in collaboration.iter(f"{{{BPMN_NS}}}participant"):
                if participant.get("processRef") in pools:
                    names[str(participant.get("processRef"))] = str(participant.get("name") or "")
            message_targets.update(str(flow.get("targetRef")) for flow in
                                   collaboration.iter(f"{{{BPMN_NS}}}messageFlow"))
        for process in root.iter(f"{{{BPMN_NS}}}process"):
            if process.get("id") in pools:
                starts[str(process.get("id"))] = list(process.findall(f"{{{BPMN_NS}}}startEvent"))
    if starting is None:
        plain = [pool for pool in pools if any(
            start.get("id") not in message_targets and start.find(f"{{{BPMN_NS}}}messageEventDefinition") is None
            for start in starts.get(pool, []))]
        starting = (plain or pools)[0]
    return _Choice(starting, cid, {pool: names.get(pool, "") for pool in pools})


def _user_tasks(spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec],
                forms: dict[str, dict[str, Any]], service: ServiceInfo, default_lane: str,
                bpmn_roots: dict[str, etree._Element], pool_lanes: dict[str, str] | None = None,
                ) -> tuple[dict[str, UserTaskInfo], list[dict[str, Any]]]:
    tasks: dict[str, UserTaskInfo] = {}
    problems: list[dict[str, Any]] = []
    pool_lanes = pool_lanes or {}
    for spec_name, process_spec in [(None, spec), *subprocess_specs.items()]:
        # A collaboration's pool drawn without lanes gives its tasks the pool's lane (see ``pool_lane``).
        fallback = pool_lanes.get(spec_name, default_lane) if spec_name is not None else default_lane
        for task_spec in process_spec.task_specs.values():
            if not getattr(task_spec, "manual", False):
                continue
            bpmn_id = task_spec.bpmn_id or task_spec.name
            props = (getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {}
            form = props.get("formJsonSchemaFilename")
            file = _file_of(bpmn_id, bpmn_roots)
            if form and form not in forms:
                problems.append(_problem(file, bpmn_id, say("deploy.form_not_sent", form=form)))
            task_settings = service.tasks.get(bpmn_id)
            sla = task_settings.sla_days if task_settings is not None else None
            # service.toml's [tasks.<id>] sla_days wins over the diagram's spiff:property (sla_days or slaDays).
            prop = next((p for p in ("sla_days", "slaDays") if props.get(p)), None)
            if sla is None and prop is not None:
                sla = _positive_number(props[prop])
                if sla is None:
                    problems.append(_problem(file, bpmn_id, say("deploy.sla_not_a_number", prop=prop)))
                    sla = None
            tasks[bpmn_id] = UserTaskInfo(
                name=bpmn_id, title=(task_spec.bpmn_name or bpmn_id).strip()[:255],
                title_ar=props.get("title_ar"), lane=(task_spec.lane or fallback).strip()[:100],
                form=form, sla_days=sla)
    # service.toml's [assignment] names steps and lanes of this diagram: a typo would silently assign nothing.
    for name in service.assignment.four_eyes:
        if name not in tasks:
            problems.append(_problem("service.toml", "assignment.four_eyes", say("deploy.four_eyes_not_a_task",
                                                                                 task=name)))
    lanes = {info.lane for info in tasks.values()}
    for lane in service.assignment.lanes:
        if lane not in lanes:
            problems.append(_problem("service.toml", "assignment.lanes", say("deploy.assignment_lane_unknown",
                                                                             lane=lane)))
    return tasks, problems


def _positive_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _file_of(element_id: str, roots: dict[str, etree._Element]) -> str | None:
    for name, root in roots.items():
        if root.xpath("//*[@id=$i]", i=element_id):
            return name
    return next(iter(roots), None)
