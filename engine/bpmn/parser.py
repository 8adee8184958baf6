"""SpiffWorkflow's parser as Shubbak uses it (SpiffArena's extensions: forms, lanes, DMN).

Two things are added to SpiffWorkflow's own parser:

- **Messages an analyst can act on.** Every refusal names its file and, where it is about one element, that
  element; the text says what is wrong in BPMN terms and what to do, not which Python class failed.
- **BPMN that bare SpiffWorkflow refuses although BPMN gives it a clear meaning** (see ``relax``):
  several sequence flows leaving an activity or an event are a parallel split; conditional flows leaving an
  activity are an inclusive split (with the activity's default flow); a data store that no task reads or
  writes is ignored; timer values written as bare ISO 8601 (``P7D``) mean that text.
  Several flows *entering* an activity need nothing: SpiffWorkflow already runs the activity once per
  arriving token, which is BPMN's uncontrolled merge.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import EventDefinitionParser
from SpiffWorkflow.bpmn.parser.task_parsers import ConditionalGatewayParser
from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
from SpiffWorkflow.bpmn.parser.util import first
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.specs.model import HitPolicy
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser, SubWorkflowParser

from engine.bpmn.relax import TIMER_KINDS, ImplicitSplit, timer_expression
from engine.bpmn.scripts import RestrictedScriptEngine
from engine.core.refusals import Text, Words, say

EVENTS = frozenset(full_tag(t) for t in ("startEvent", "intermediateCatchEvent", "intermediateThrowEvent",
                                         "boundaryEvent"))
NO_SPLIT = frozenset(full_tag(t) for t in ("endEvent", "exclusiveGateway", "inclusiveGateway",
                                           "parallelGateway", "eventBasedGateway", "complexGateway"))
# Shubbak's script engine has no way to call outside services; a service task would fail in every case.
CAN_CALL_SERVICES = RestrictedScriptEngine.call_service is not PythonScriptEngine.call_service


# How an element uses a data reference, in both languages (a part of the data-association refusals).
_TAKES = Words(en="takes data from", ar="يأخذ البيانات من")
_PUTS = Words(en="puts data into", ar="يضع البيانات في")


def _words(tag: str) -> str:
    """``{ns}intermediateCatchEvent`` or ``bpmn:intermediateCatchEvent`` → ``intermediate catch event``."""
    local = tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]
    return re.sub(r"(?<!^)([A-Z])", r" \1", local).lower()


def _label(node: Any) -> str:
    return str(node.get("name") or node.get("id") or "?").strip()


class _Node(TaskParser):
    """What every Shubbak node parser adds: clearer data-association errors and two SpiffWorkflow fixes."""

    def parse_condition(self, sequence_flow: Any) -> str | None:
        # An empty or blank conditionExpression (tools write them) is no condition, not a syntax error.
        text = super().parse_condition(sequence_flow)
        return text if text is not None and text.strip() else None

    def raise_validation_exception(self, message: str, node: Any = None) -> None:
        # SpiffWorkflow's event parsers pass ``node=`` (an event definition), which its own signature does not
        # accept; the element the analyst drew is this one.
        raise ValidationException(message, node=self.node, file_name=self.filename)

    def _resolve_data_object_ref(self, ref: Any) -> Any:
        # SpiffWorkflow's loop steps to the parent process again and again (a hang at deploy) when a
        # sub-process refers to a data object that its parent does not hold; walk outwards instead.
        if ref is None:
            return None
        current = self.process_parser
        while current is not None:
            found = current.spec.data_objects.get(ref.get("dataObjectRef")) if current.spec else None
            if found is not None:
                return found
            current = current.parent
        return None

    def parse_incoming_data_references(self) -> Any:
        return self._explained(super().parse_incoming_data_references, "dataInputAssociation", "sourceRef", _TAKES)

    def parse_outgoing_data_references(self) -> Any:
        return self._explained(super().parse_outgoing_data_references, "dataOutputAssociation", "targetRef", _PUTS)

    def _explained(self, parse: Callable[[], Any], association: str, end: str, verb: Words) -> Any:
        """SpiffWorkflow's own parse; when it refuses, the refusal names the reference that does not resolve."""
        try:
            return parse()
        except ValidationException:
            self._data_association_problem(association, end, verb)
            raise

    def _data_association_problem(self, association: str, end: str, verb: Words) -> None:
        root = self.node.getroottree().getroot()
        for ref in self.xpath(f"./bpmn:{association}/bpmn:{end}"):
            ref_id = (ref.text or "").strip()
            found = first(root.xpath(".//*[@id=$i]", i=ref_id)) if ref_id else None
            if found is not None and self._resolves(found):
                continue
            raise ValidationException(self._data_message(found, ref_id, verb), node=self.node,
                                      file_name=self.filename)

    def _resolves(self, found: Any) -> bool:
        local = etree.QName(found).localname
        if local == "dataObjectReference":
            return self._resolve_data_object_ref(found) is not None
        if local == "dataStoreReference":
            return found.get("dataStoreRef") in self.process_parser.data_stores
        return False

    @staticmethod
    def _data_message(found: Any, ref_id: str, verb: Words) -> Text:
        if found is None:
            return say("deploy.data_ref_missing", verb=verb, ref=ref_id)
        local, label, where = etree.QName(found).localname, _label(found), found.get("id")
        if local == "dataStoreReference":
            return say("deploy.data_store", verb=verb, label=label, where=where)
        if local == "dataObjectReference":
            return say("deploy.data_object_undefined", verb=verb, label=label, where=where,
                       ref=found.get("dataObjectRef"))
        if local in ("dataInput", "dataOutput"):
            return say("deploy.process_input" if local == "dataInput" else "deploy.process_output", verb=verb,
                       label=label, where=where)
        return say("deploy.data_ref_not_data", verb=verb, label=label, where=where, kind=_words(local))


class _Splits(_Node):
    """Activities and events: several outgoing flows are a split, as BPMN defines it."""

    def handles_multiple_outgoing(self) -> bool:
        return True

    def _conditional_flows(self) -> list[Any]:
        default = self.node.get("default")
        return [flow for flow in self.process_parser.get_outgoing_sequence_flows(self.bpmn_id)
                if flow.get("id") != default and self.parse_condition(flow) is not None]

    def connect_outgoing(self, outgoing_task: Any, sequence_flow_node: Any, is_default: bool) -> None:
        conditional = self._conditional_flows()
        if not conditional:  # unconditioned flows: a parallel split (a single flow is the plain case)
            super().connect_outgoing(outgoing_task, sequence_flow_node, is_default)
            return
        if self.node.tag in EVENTS:
            raise ValidationException(say("deploy.condition_after_event"), node=conditional[0],
                                      file_name=self.filename)
        split = getattr(self, "_implicit_split", None)
        if split is None:
            split = ImplicitSplit(self.spec, f"{self.bpmn_id}.ImplicitSplit", source_id=self.bpmn_id,
                                  source_name=self.node.get("name"), lane=self.lane)
            self.task.connect(split)
            self._implicit_split = split
        if is_default:
            split.connect_default(outgoing_task)
        else:
            split.connect_condition(self.parse_condition(sequence_flow_node), outgoing_task)


class _Gateway(_Node):
    def connect_outgoing(self, outgoing_task: Any, sequence_flow_node: Any, is_default: bool) -> None:
        if not is_default and self.parse_condition(sequence_flow_node) is None:
            message_id = "deploy.exclusive_flow_without_condition" if isinstance(self.task, ExclusiveGateway) \
                else "deploy.inclusive_flow_without_condition"
            raise ValidationException(say(message_id, gateway=_label(self.node)), node=sequence_flow_node,
                                      file_name=self.filename)
        super().connect_outgoing(outgoing_task, sequence_flow_node, is_default)


_TIMERS: tuple[tuple[str, type], ...] = (
    ("timeDate", TimeDateEventDefinition),
    ("timeDuration", DurationTimerEventDefinition),
    ("timeCycle", CycleTimerEventDefinition),
)


class _Timers(EventDefinitionParser):
    def parse_timer_event(self, event: Any) -> Any:
        for kind, definition in _TIMERS:  # noqa: B007 - both are used after the loop
            value = first(event.xpath(f"./bpmn:{kind}", namespaces=self.nsmap))
            if value is not None:
                break
        else:
            raise ValidationException(say("deploy.timer_without_time"), node=self.node, file_name=self.filename)
        text = (value.text or "").strip()
        if not text:
            what, example = TIMER_KINDS[kind]
            raise ValidationException(say("deploy.timer_empty", what=what, example=example), node=self.node,
                                      file_name=self.filename)
        expression, problem = timer_expression(kind, text)
        if problem is not None:
            raise ValidationException(problem, node=self.node, file_name=self.filename)
        return definition(self.node.get("name", self.node.get("id")), expression,
                          description=self.get_event_description(event))


class _ServiceTask(ServiceTaskParser):
    def create_task(self) -> Any:
        operator = self.parse_extensions().get("serviceTaskOperator")
        if operator is None:
            raise ValidationException(say("deploy.service_task_without_call"), node=self.node,
                                      file_name=self.filename)
        if not CAN_CALL_SERVICES:
            raise ValidationException(say("deploy.service_task_calls", name=operator.get("name")), node=self.node,
                                      file_name=self.filename)
        return super().create_task()


class _SubProcess(SubWorkflowParser):
    def create_task(self) -> Any:
        parser = self.process_parser.parser
        steps = [child for child in self.node if parser._get_parser_class(child.tag)[0] is not None]
        starts, ends = self.xpath("./bpmn:startEvent"), self.xpath("./bpmn:endEvent")
        problem = None
        if not steps:
            problem = say("deploy.subprocess_empty")
        elif not starts:
            problem = say("deploy.subprocess_no_start")
        elif len(starts) != 1:
            problem = say("deploy.subprocess_starts", count=len(starts))
        elif not ends:
            problem = say("deploy.subprocess_no_end")
        if problem is not None:
            raise ValidationException(problem, node=self.node, file_name=self.filename)
        return super().create_task()


def _parser_classes() -> dict[str, tuple[type, type]]:
    """Every element SpiffWorkflow (with SpiffArena's extensions) parses, with Shubbak's parser for it."""
    classes: dict[str, tuple[type, type]] = {**BpmnParser.PARSER_CLASSES,
                                             **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES}
    out: dict[str, tuple[type, type]] = {}
    for tag, (parser_class, spec_class) in classes.items():
        if issubclass(parser_class, ConditionalGatewayParser):
            bases: tuple[type, ...] = (_Gateway,)
        elif tag in NO_SPLIT:
            bases = (_Node,)
        else:
            bases = (_Splits,)
        if issubclass(parser_class, EventDefinitionParser):
            bases += (_Timers,)
        if issubclass(parser_class, ServiceTaskParser):
            bases += (_ServiceTask,)
        if issubclass(parser_class, SubWorkflowParser):
            bases += (_SubProcess,)
        out[tag] = (type(f"Shubbak{parser_class.__name__}", (*bases, parser_class), {}), spec_class)
    return out


# SpiffWorkflow's own messages, reworded: (pattern, message id, names of the pattern's groups). ``tag``, the
# element's kind in words, is given to every message. Tried in order; the first match wins.
_REWORDED: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = tuple(
    (re.compile(p, re.DOTALL), i, g) for p, i, g in (
        (r"No start event found", "deploy.no_start_event", ()),
        (r"Multiple outgoing flows are not supported", "deploy.end_event_outgoing", ()),
        (r"A multiinstance task must specify a cardinality or a loop input data reference",
         "deploy.multi_instance_neither", ()),
        (r"A multiinstance task must specify exactly one of", "deploy.multi_instance_both", ()),
        (r"The loop (input|output) data reference is missing", "deploy.multi_instance_loop_data", ("which",)),
        (r"A loopMaximum or loopCondition must be specified", "deploy.loop_never_stops", ()),
        (r'No "calledElement" attribute', "deploy.call_activity_without_process", ()),
        (r"There is no support implemented for this task type", "deploy.cannot_run_kind", ()),
        (r"The process '(.*)' was not found", "deploy.called_process_missing", ("process",)),
        (r"Process (.*) is not executable", "deploy.called_process_not_executable", ("process",)),
        (r"When looking for a task spec, we found two items.*\((.*)\)", "deploy.flow_leaves_pool", ("target",)),
        (r"Duplicate process ID: (.*)", "deploy.duplicate_process_id", ("id",)),
        (r"KeyError\('Duplicate task spec name: (.*)'\)", "deploy.duplicate_element_id", ("id",)),
        (r"NotImplementedError\(\('Unsupported Catch Event", "deploy.boundary_catches_nothing", ()),
        (r"Expected an? ([Mm]essage|[Ss]ignal|[Ee]scalation|[Ee]rror) node", "deploy.undefined_reference",
         ("what",)),
        (r"Cancel Events may only be used with transactions", "deploy.cancel_outside_transaction", ()),
        (r"Conditional event definition with missing condition", "deploy.conditional_without_condition", ()),
        (r"Ad hoc subprocesses may not contain start or end events", "deploy.ad_hoc_with_events", ()),
        (r"Sequential ordering for ad hoc subprocesses not supported", "deploy.ad_hoc_sequential", ()),
        (r"^(\w+(?:Error|Exception))\((.*)\)$", "deploy.element_unreadable", ("error", "detail")),
    ))


def _reworded(exc: ValidationException, file_name: str | None) -> ValidationException:
    message: str = exc.args[0] if exc.args and isinstance(exc.args[0], str) else (
        str(exc.args[0]) if exc.args else "")
    if not isinstance(message, Text):
        for pattern, message_id, names in _REWORDED:
            match = pattern.search(message)
            if match:
                message = say(message_id, **dict(zip(names, match.groups(), strict=True)),
                              tag=_words(exc.tag) if exc.tag else "element of this kind")
                break
    out = ValidationException(message, file_name=exc.file_name or file_name, id=exc.id, name=exc.name,
                              tag=exc.tag, line_number=exc.line_number)
    out.notes = list(getattr(exc, "notes", []))
    return out


class NoMatchingRule(ValueError):
    """A decision table (hit policy UNIQUE or FIRST) none of whose rules matches the case's data."""


class _StrictDMNEngine(DMNEngine):
    """SpiffWorkflow's DMN engine, except that a table none of whose rules matches is a failure of the step
    (an incident, reason ``no_rule``: engine/cases/incidents.py), not an empty answer that lets the case go on
    without the decision's outputs. A COLLECT table that matches nothing still answers nothing, as the DMN
    standard has it."""

    def result(self, task: Any) -> Any:
        if self.decision_table.hit_policy == HitPolicy.COLLECT.value:
            return super().result(task)
        matched = self.decide(task)
        if not matched:
            table = self.decision_table.name or self.decision_table.id
            raise NoMatchingRule(say("decision.no_matching_rule", table=table))
        return matched[0].output_as_dict(task)


class ShubbakParser(SpiffBpmnParser):
    """No XSD validation here: the XML was parsed safely before, and the checks that matter for running
    (scripts, forms, lanes, executable process) are made by ``compiler`` with element-level messages."""

    OVERRIDE_PARSER_CLASSES = _parser_classes()
    DATA_STORE_CLASSES: dict[str, Any] = {}

    def add_bpmn_xml(self, bpmn: Any, filename: str | None = None) -> None:
        try:
            super().add_bpmn_xml(bpmn, filename)
        except ValidationException as exc:
            raise _reworded(exc, filename) from exc
        except (KeyError, AttributeError, TypeError, ValueError, IndexError) as exc:
            raise ValidationException(say("deploy.unreadable", error=f"{type(exc).__name__}: {exc}"),
                                      file_name=filename) from exc

    def _add_data_stores(self, bpmn: Any) -> None:
        """Data stores Shubbak can use become specs; the others are left out. A data store that no task reads
        or writes has no effect on a case (BPMN), so the diagram runs; a task that does use one is refused
        when it is parsed, naming the task and the store."""
        for data_store in bpmn.xpath(".//bpmn:dataStore", namespaces=self.namespaces):
            store_id, name = data_store.get("id"), data_store.get("name")
            if store_id is None or name not in self.DATA_STORE_CLASSES:
                continue
            self.data_stores[store_id] = self.DATA_STORE_CLASSES[name](
                store_id, name, data_store.get("capacity"), data_store.get("isUnlimited"))

    def get_engine(self, decision_ref: Any, node: Any) -> DMNEngine:
        """The decision table's engine, strict about a table that matches no rule (see ``_StrictDMNEngine``)."""
        engine = super().get_engine(decision_ref, node)
        return _StrictDMNEngine(engine.decision_table)

    def get_spec(self, process_id: str, required: bool = True) -> Any:
        parser = self.process_parsers.get(process_id)
        file_name = getattr(parser, "filename", None)
        try:
            return super().get_spec(process_id, required=required)
        except ValidationException as exc:
            raise _reworded(exc, file_name) from exc
        except SpiffWorkflowException as exc:
            message = str(exc.args[0]) if exc.args else str(exc)
            raise ValidationException(message, file_name=file_name) from exc
        except (KeyError, AttributeError, TypeError, ValueError, IndexError) as exc:
            raise ValidationException(say("deploy.unreadable", error=f"{type(exc).__name__}: {exc}"),
                                      file_name=file_name) from exc
