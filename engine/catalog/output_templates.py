"""The analyst's output templates (``outputs/*.html``): rendered in Jinja's sandbox, checked before a deploy.

A template is the body of a document (engine/outputs/ wraps it in the installation's page: the center's
header, the document number, both dates, the QR code on each page). It is untrusted like the rest of the
package: the sandbox refuses attributes that start with ``_`` and unsafe calls, there is no loader (no
``include``, ``import`` or ``extends``), values are escaped, and a missing value renders empty. Jinja lives
here, in the engine, only for these templates: the pages' own templates are admin_ui's.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateError, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.bpmn.compiler import PATHS_FILE, CompiledProcess, PackageRefused
from engine.bpmn.service_info import Output
from engine.core.refusals import Text, say
from engine.core.settings import Settings


class TooCostly(SecurityError):
    """A render spent its budget (``SHUBBAK_DOCUMENT_TEMPLATE_BUDGET``): its message is a catalog sentence."""


class _Budget:
    """What one render may still spend: a round of a ``for`` loop, a call (a macro, a method, ``range``), an
    item a ``range`` or ``*`` makes, a character a join (``~``, ``+``) makes each cost one."""

    def __init__(self, limit: int) -> None:
        self.limit = self.left = limit

    def spend(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise TooCostly(say("outputs.template_too_costly", limit=self.limit))


_BUDGET: ContextVar[_Budget | None] = ContextVar("output_template_budget", default=None)
#: The budget of a render that names none (a template rendered outside :func:`render` and :func:`check`).
DEFAULT_BUDGET: int = Settings.model_fields["document_template_budget"].default
_ROUNDS = "shubbak_rounds"  # the filter every ``for`` loop's iterable goes through (see ``_parse``)
_JOINED = "shubbak_joined"  # the filter every ``~`` goes through
# A width or precision in a format (``'%0999999999d' % 1``, ``'{:>999999999}'.format(x)``): digits after ``%``
# or ``:`` and the flags; a document needs none beyond a few characters.
_WIDTH = re.compile(r"(?:%[-#0 +]*|\{[^{}]*:[^{}0-9]*)(\d+)(?:\.(\d+))?|\.(\d+)")


def _spend(units: int) -> None:
    budget = _BUDGET.get()
    if budget is None:  # pragma: no cover - every render runs under a budget (_Budgeted.render)
        raise TooCostly(say("outputs.template_too_costly", limit=0))
    budget.spend(units)


def _rounds(iterable: Any) -> Iterator[Any]:
    """A ``for`` loop's iterable, each round paid for before it runs."""
    if isinstance(iterable, Undefined):
        return
    for item in iterable:
        _spend(1)
        yield item


def _joined(value: Any) -> Any:
    _spend(len(value) if isinstance(value, str) else 1)
    return value


def _made(value: Any) -> int:
    """How many characters ``value`` puts into the text when printed: a string's length, a collection's items
    together (at least one each), keys too: ``['x' * 50000] * 20000`` is two items' work to make, but a billion
    characters to print."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(1 + _made(k) + _made(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(max(1, _made(v)) for v in value)
    return 1


def _printed(value: Any) -> Any:
    """What each ``{{ … }}`` prints is paid for, a unit a character, before it is written."""
    _spend(_made(value))
    return value


def _shape(value: Any) -> tuple[int, int]:
    """A value's items all told and its depth, as JSON lays it out one item a line."""
    if isinstance(value, dict):
        inner = [_shape(v) for v in value.values()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        inner = [_shape(v) for v in value]
    else:
        return 1, 0
    return 1 + sum(n for n, _ in inner), 1 + max((d for _, d in inner), default=0)


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple, dict, set, range)) else 1


class _Budgeted(Template):
    """A template whose render runs under a budget: the caller's (:func:`render`), else the default."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        if _BUDGET.get() is not None:
            return super().render(*args, **kwargs)
        token = _BUDGET.set(_Budget(DEFAULT_BUDGET))
        try:
            return super().render(*args, **kwargs)
        finally:
            _BUDGET.reset(token)


class _Strict(ImmutableSandboxedEnvironment):
    """The sandbox (lists and dicts cannot be changed, so a loop cannot double one), but an unsafe attribute is
    an error at once rather than an empty value: a template that reaches for ``__class__`` is refused at
    deploy, not quietly printed blank. Every loop round, call, made item and printed character is paid from the
    render's budget (``SHUBBAK_DOCUMENT_TEMPLATE_BUDGET``): nested loops, loops over long strings, recursive
    macros and long texts printed again and again stop with ``outputs.template_too_costly`` after a bounded
    amount of work."""

    template_class = _Budgeted
    # ``**``, ``*``, ``+`` and ``%`` are asked here rather than folded when the template compiles: ``10**10**8``
    # or ``'x' * 4000000000`` would otherwise hold a worker's CPU or memory; a document needs neither.
    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """The template's tree, with each ``for`` loop's iterable and each ``~`` passed through the budget's
        filters: the loop then pays a unit per round, the join a unit per character it makes."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _ROUNDS, [], [], None, None, lineno=loop.lineno)
        for parent in [tree, *tree.find_all(nodes.Node)]:
            _wrap_joins(parent)
        return tree

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(say("outputs.template_unsafe_attribute", attribute=attribute, kind=type(obj).__name__))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _spend(1)
        if isinstance(__obj, Macro):  # what a macro writes is paid for by its own loops, calls and joins
            return super().call(__context, __obj, *args, **kwargs)
        if isinstance(__obj, LoopContext) and args:  # ``loop(children)`` of a recursive loop: rounds paid too
            args = (_rounds(args[0]), *args[1:])
        _no_large_numbers(args, kwargs)
        if __obj is __self.globals.get("lipsum"):  # ``lipsum(n, max=...)``: n paragraphs of up to max words
            paragraphs, words = (args[0] if args else kwargs.get("n", 5)), kwargs.get("max", 100)
            if isinstance(paragraphs, int) and isinstance(words, int) and paragraphs * words * 12 > _limit():
                raise TooCostly(say("outputs.template_too_costly", limit=_limit()))
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):  # ``s.replace('', long)``, ``sep.join(items)``: refused before they are made
            _no_large_result(owner, getattr(__obj, "__name__", ""), args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, (str, list, tuple, range)):
            _spend(len(result))
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        found = super().wrap_str_format(value)
        if found is None:
            return None
        text: str = value.__self__
        _no_wide_format(text)
        formats = found

        @functools.wraps(formats)
        def bounded(*args: Any, **kwargs: Any) -> str:
            _no_large_result(text, value.__name__, args, kwargs)
            return formats(*args, **kwargs)
        return bounded

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and not (_small(left) and _small(right) and abs(right) <= 64):
            raise SecurityError(say("outputs.template_power_too_large"))
        if operator == "*":
            sized = next((_made(x) for x in (left, right) if isinstance(x, (str, list, tuple))), None)
            times = right if isinstance(left, (str, list, tuple)) else left
            if sized is not None and isinstance(times, int) and sized * max(times, 0) > _limit():
                raise TooCostly(say("outputs.template_too_costly", limit=_limit()))  # refused before it is made
            if sized is None and not (_small(left) and _small(right)):
                raise SecurityError(say("outputs.template_product_too_large"))
            if sized is not None and isinstance(times, int):
                _spend(sized * max(times, 0))
        if operator == "%" and isinstance(left, str):
            _no_wide_format(left)
            _no_large_result(left, "%", (right,), {})
        result = super().call_binop(context, operator, left, right)
        if operator == "+" and isinstance(result, (str, list, tuple)):
            _spend(_made(result))
        return result


def _wrap_joins(parent: nodes.Node) -> None:
    """Each ``~`` that ``parent`` holds (a field, or an item of a list field) passed through ``_JOINED``."""
    def wrapped(node: nodes.Concat) -> nodes.Filter:
        return nodes.Filter(node, _JOINED, [], [], None, None, lineno=node.lineno)

    for field in parent.fields:
        value = getattr(parent, field, None)
        if isinstance(value, nodes.Concat):
            setattr(parent, field, wrapped(value))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, nodes.Concat):
                    value[index] = wrapped(item)


def _limit() -> int:
    budget = _BUDGET.get()
    return budget.limit if budget is not None else DEFAULT_BUDGET


def _no_large_numbers(args: Iterable[Any], kwargs: dict[str, Any]) -> None:
    """A call's whole-number arguments stay within the budget: ``'x'.ljust(10**9)`` would make a billion
    characters before anything could count them."""
    limit = _limit()
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limit:
            raise TooCostly(say("outputs.template_too_costly", limit=limit))


def _deep(value: Any) -> int:
    """How many characters ``value`` can put into a text: a string's length, a collection's values' together."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_deep(v) for v in value.values())
    if isinstance(value, (list, tuple, set)):
        return sum(_deep(v) for v in value)
    return 24  # a number, a date, a missing value: a few characters


def _result_bound(text: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """The longest result ``text.<method>(*args)`` (or the filter of that name) can have."""
    if method == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        old, new = args[0], args[1]
        times = len(text) + 1 if old == "" else len(text) // len(old)
        count = args[2] if len(args) > 2 else kwargs.get("count")
        if isinstance(count, int) and count >= 0:
            times = min(times, count)
        return len(text) + times * len(new)
    if method == "join" and args and isinstance(args[0], (list, tuple, str, dict, set, range)):
        return _deep(list(args[0])) + len(text) * len(args[0])
    if method == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        return len(text) + text.count("\t") * (size if isinstance(size, int) else 8)
    if method in ("format", "format_map", "%"):
        return len(text) + (text.count("{") + text.count("%")) * sum(_deep(a) for a in (*args, *kwargs.values()))
    return 0


def _no_large_result(text: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A string method, filter or ``%`` whose result could pass the budget is refused before anything is made:
    a ``replace`` of the empty string puts the replacement between every two characters, ``'{0}{0}'.format(x)``
    repeats ``x``."""
    if _result_bound(text, method, args, kwargs) > _limit():
        raise TooCostly(say("outputs.template_too_costly", limit=_limit()))


def _no_wide_format(text: str) -> None:
    limit = _limit()
    for match in _WIDTH.finditer(text):
        if any(group and int(group) > limit for group in match.groups()):
            raise TooCostly(say("outputs.template_too_costly", limit=limit))


def _filters_within_budget(filters: dict[str, Any]) -> dict[str, Any]:
    """Jinja's filters, each paying for what it makes and refusing whole-number arguments above the budget
    (``'x'|center(10**9)``, ``range(10**5)|join``); Jinja's own ``pass_context`` marks are kept."""
    def wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        skip = 2 if getattr(function, "jinja_pass_arg", None) is not None else 1  # the context, the value

        @functools.wraps(function)
        def paid(*args: Any, **kwargs: Any) -> Any:
            _no_large_numbers(args[skip:], kwargs)
            value = args[skip - 1] if len(args) >= skip else None
            if name == "format" and isinstance(value, str):  # ``'%0999999999d'|format(1)``
                _no_wide_format(value)
                _no_large_result(value, "%", args[skip:], kwargs)
            if name == "replace" and isinstance(value, str):  # ``text|replace('', long)``, as ``str.replace``
                _no_large_result(value, "replace", args[skip:], kwargs)
            if name == "join" and value is not None and not isinstance(value, (str, Undefined)):
                # ``items|join(long)``, and ``items|join`` of items long enough when printed together
                items = value if isinstance(value, (list, tuple)) else list(value)
                args = (*args[:skip - 1], items, *args[skip:])
                separator = args[skip] if len(args) > skip else kwargs.get("d", "")
                _no_large_result(separator if isinstance(separator, str) else "", "join", (items,), {})
            if name == "indent" and isinstance(value, str):  # ``text|indent(99999)``: the width on every line
                width = args[skip] if len(args) > skip else kwargs.get("width", 4)
                wide = len(width) if isinstance(width, str) else width if isinstance(width, int) else 4
                if len(value) + (value.count("\n") + 1) * wide > _limit():
                    raise TooCostly(say("outputs.template_too_costly", limit=_limit()))
            if name == "tojson":  # ``data|tojson(indent=99999)``: the indent on every line, once per level
                indent = args[skip] if len(args) > skip else kwargs.get("indent")
                lines, depth = _shape(value)
                if isinstance(indent, int) and _made(value) + lines * depth * indent > _limit():
                    raise TooCostly(say("outputs.template_too_costly", limit=_limit()))
            _spend(1)
            result = function(*args, **kwargs)
            if isinstance(result, (str, list, tuple)):
                _spend(len(result))
            return result
        return paid
    return {name: wrap(name, f) for name, f in filters.items()}


def _small(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 10**18


_env = _Strict(autoescape=True, undefined=ChainableUndefined, loader=None, finalize=_printed)
_env.filters = {**_filters_within_budget(_env.filters), _ROUNDS: _rounds, _JOINED: _joined}


def reason(exc: Exception) -> str:
    """What a failed render says: the sandbox's own sentence (in both languages), else the error and its type."""
    if isinstance(exc, SecurityError) and exc.args and isinstance(exc.args[0], Text):
        return exc.args[0]
    return f"{type(exc).__name__}: {exc}"


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


def render(process: CompiledProcess, output: Output, context: dict[str, Any], *, budget: int) -> str:
    """The body HTML of ``output`` for ``context``, spending at most ``budget`` units of work (loop rounds,
    calls, made items); TemplateError (the sandbox's SecurityError, TooCostly) goes up."""
    return render_text(process.templates[output.template], context, budget=budget)


def render_text(source: str, context: dict[str, Any], *, budget: int) -> str:
    """A template's text rendered in the sandbox under a budget of its own."""
    token = _BUDGET.set(_Budget(budget))
    try:
        return _env.from_string(source).render(context)
    except RecursionError as exc:  # a macro calling itself: Python's own depth ran out before the budget
        raise TooCostly(say("outputs.template_too_costly", limit=budget)) from exc
    finally:
        _BUDGET.reset(token)


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


def check(process: CompiledProcess, files: dict[str, bytes] | None = None, *, budget: int) -> None:
    """Render every output of the package with each path's data (``SAMPLE`` for the rest): a template that
    fails refuses the deploy, naming the template and the reason."""
    problems = []
    for output in process.service.outputs:
        for data in sample_data(files or {}):
            citizen = data.get("citizen") if isinstance(data.get("citizen"), dict) else SAMPLE["citizen"]
            try:
                render(process, output, {**SAMPLE, "data": data, "citizen": citizen, "outcome": output.on[0],
                                         "labels": labels_for(process, data, output.language)}, budget=budget)
            except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
                problems.append({"file": output.template, "element_id": output.kind, "message": say(
                    "deploy.output_template_fails", error=reason(exc))})
                break
    if problems:
        raise PackageRefused("deploy.output_templates_fail", problems, count=len(problems))
