"""The restricted script engine: BPMN scripts, gateway conditions, DMN cells and timer expressions.

Diagrams are written by analysts and uploaded, so every script in them is untrusted code. Python has no
real sandbox; this module narrows what a script can *say* and what it can *reach*:

* :func:`check_script` parses the source and walks an allow-list of syntax before anything runs. It
  refuses imports, ``global``, ``while``, classes, async code, every name or attribute starting with
  ``_`` (the road to ``__class__.__subclasses__()`` and ``__globals__``), the frame and generator
  attributes that lead to other modules' globals (``gi_frame``, ``f_back``...), ``str.format`` (whose
  ``"{0.__class__}"`` fields reach attributes the checker never sees), and calls to ``eval``, ``open``,
  ``getattr`` and friends, with a message an analyst can act on.
* Code runs with ``__builtins__`` set to :data:`SAFE_BUILTINS`. SpiffWorkflow runs ``exec(script,
  task_data)``; without this key Python would slip the real builtins into the task data dict.
* :data:`HELPERS` are the only functions offered besides builtins, and no function (or any other callable)
  is left in task data afterwards: it could not be serialized and would outlive the script.

CPU and memory are bounded where scripts run (engine/bpmn/sandbox.py): every script, and every expression
that :func:`is_bounded` cannot prove cheap, runs in a child process with a memory limit and a wall-clock
limit, and gives back only JSON values (:func:`json_problem`). A script made only of lines such as
``outcome = "approved"`` computes nothing: the server sets its values itself (:func:`_constants`). Constant
exponents, shifts and repetitions over a bound are refused before anything runs, so a deploy names them.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import CodeType
from typing import Any, cast

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from engine.bpmn import sandbox
from engine.core import clock
from engine.core.refusals import Text, Words, say

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
MAX_RANGE = 100_000
MAX_EXPONENT = 10_000
MAX_SOURCE_CHARS = 100_000
# Bounds of what a constant part of a script may ask for; a deploy refuses more (see _constant_problem).
MAX_CONSTANT_BITS = 100_000  # a constant power or shift such as 2**100000 (about 30,000 digits)
MAX_REPEAT = 1_000_000  # items or characters made by repeating a literal, as in "a" * 1000000
MAX_DATA_DEPTH = 100  # how deeply lists and dicts may nest in the data a script leaves
_CACHE_LIMIT = 4096
_CACHEABLE_CHARS = 4096  # longer scripts run once per task, not millions of times; don't hold them
_CONSTANT_SCRIPT_CHARS = 4096  # a script of constant assignments set by the server itself is at most this long

FORBIDDEN_CALLS = frozenset(
    {"open", "exec", "eval", "compile", "__import__", "getattr", "setattr", "delattr", "globals", "locals"}
    | {"vars", "input", "breakpoint", "help", "memoryview", "type", "object", "super", "dir", "id"}
    | {"exit", "quit"}
)
# Attributes without a leading underscore that still lead out of the sandbox (frames hold other
# modules' globals, mro() hands out `object`) or re-open attribute access (format strings).
FORBIDDEN_ATTRIBUTES = frozenset(
    {"format", "format_map", "mro", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code"}
    | {"cr_await", "ag_frame", "ag_code", "ag_await", "f_back", "f_globals", "f_locals", "f_builtins"}
    | {"f_code", "tb_frame", "tb_next", "func_globals"}
)
_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Module, ast.Expression, ast.Expr, ast.Assign, ast.AugAssign, ast.For, ast.If,
    ast.Pass, ast.Break, ast.Continue, ast.Return, ast.Delete, ast.FunctionDef, ast.Raise,
    ast.Assert, ast.arguments, ast.arg, ast.keyword, ast.comprehension, ast.BoolOp,
    ast.NamedExpr, ast.BinOp, ast.UnaryOp, ast.Lambda, ast.IfExp, ast.Dict, ast.Set, ast.ListComp,
    ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Compare, ast.Call, ast.FormattedValue,
    ast.JoinedStr, ast.Constant, ast.Attribute, ast.Subscript, ast.Starred, ast.Name, ast.List,
    ast.Tuple, ast.Slice, ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop,
)  # fmt: skip
# What a refusal calls the sources it is about, in both languages.
_SCRIPTS = Words(en="scripts", ar="النصوص البرمجية")
_EXPRESSIONS = Words(en="expressions", ar="التعبيرات")
# The message id (engine/core/refusals.py) of each construct refused outright; ``where`` fills it in.
_REFUSED_NODES: dict[type[ast.AST], str] = {
    ast.Import: "script.imports",
    ast.ImportFrom: "script.imports",
    ast.Global: "script.global",
    ast.Nonlocal: "script.nonlocal",
    ast.While: "script.while",
    ast.ClassDef: "script.class",
    ast.AsyncFunctionDef: "script.async",
    ast.AsyncFor: "script.async",
    ast.AsyncWith: "script.async",
    ast.Await: "script.async",
    ast.Yield: "script.yield",
    ast.YieldFrom: "script.yield",
    ast.With: "script.with",
    ast.Match: "script.match",
    # A caught exception could be the worker's time limit (Celery's soft limit raises inside the code),
    # and `finally: continue` swallows one too; scripts check values with `if` instead.
    ast.Try: "script.try",
    ast.TryStar: "script.try",
    # Module-level annotations land in task data as `__annotations__`, holding classes.
    ast.AnnAssign: "script.annotation",
}


class ScriptRefused(Exception):
    """A script or expression that will not run, and why, in words an analyst can act on.

    ``message`` is a full sentence that already names the line (when there is one); ``line`` is that
    1-based line for tools that point at it. ``syntax_error`` is set when the text is not valid Python at
    all, which SpiffWorkflow's DMN engine needs to tell apart (see :meth:`RestrictedScriptEngine.validate`).
    """

    def __init__(self, message: str, line: int | None = None, *, syntax_error: bool = False) -> None:
        self.message = (say("script.at_line", message=message, line=line) if isinstance(message, Text)
                        else f"{message} (line {line})") if line else message
        super().__init__(self.message)
        self.line = line
        self.syntax_error = syntax_error


@dataclass(frozen=True, slots=True)
class _Verdict:
    """The cached outcome of checking one source: compiled code, or the reason it was refused."""

    code: CodeType | None
    may_mutate: bool = False
    bounded: bool = False
    constants: tuple[tuple[str, str | int | float | bool | None], ...] | None = None  # see _constants
    message: str = ""
    line: int | None = None
    syntax_error: bool = False


_cache: dict[tuple[str, str], _Verdict] = {}
_cache_lock = threading.Lock()


def check_script(source: str, *, mode: str = "exec") -> None:
    """Refuse ``source`` with :class:`ScriptRefused` unless it uses only the allowed Python subset.

    ``mode="exec"`` is for script tasks and pre/post scripts, ``mode="eval"`` for a single expression
    (gateway conditions, DMN cells, timer expressions). Results are cached per source.
    """
    _checked(source, mode)


def _checked(source: str, mode: str) -> _Verdict:
    """Check and compile ``source`` once (later calls with the same text are a dict lookup).

    Returns the verdict: its code, whether it could change task data (see :meth:`RestrictedEnvironment.evaluate`)
    and whether it is bounded enough to run in this process (see :func:`is_bounded`).
    """
    if mode not in ("exec", "eval"):
        raise ValueError(f"mode must be 'exec' or 'eval', not {mode!r}")
    if not isinstance(source, str):
        raise ScriptRefused(f"a script or expression must be text, not {type(source).__name__}")
    key = (mode, source)
    verdict = _cache.get(key)
    if verdict is None:
        verdict = _verdict(source, mode)
        if len(source) <= _CACHEABLE_CHARS:
            with _cache_lock:
                if len(_cache) >= _CACHE_LIMIT:
                    _cache.pop(next(iter(_cache)), None)  # oldest first: dicts keep insertion order
                _cache[key] = verdict
    if verdict.code is None:
        # A fresh exception each time: re-raising a cached one would grow its traceback forever.
        raise ScriptRefused(verdict.message, verdict.line, syntax_error=verdict.syntax_error)
    return verdict


def _verdict(source: str, mode: str) -> _Verdict:
    where = _EXPRESSIONS if mode == "eval" else _SCRIPTS
    if len(source) > MAX_SOURCE_CHARS:
        return _Verdict(None, message=say("script.too_long", where=where, limit=f"{MAX_SOURCE_CHARS:,}"))
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as err:
        return _Verdict(None, message=say("script.not_python", error=err.msg), line=err.lineno, syntax_error=True)
    except (ValueError, RecursionError, MemoryError):
        return _Verdict(None, message=say("script.not_python_nested"), syntax_error=True)
    problem = _first_problem(tree, where)
    if problem is not None:
        return _Verdict(None, message=problem[0], line=problem[1])
    try:
        # "<string>" is the name SpiffWorkflow looks for in tracebacks to report the failing line.
        code = compile(cast(ast.Module | ast.Expression, tree), "<string>", mode, dont_inherit=True)
    except SyntaxError as err:  # what only the compiler sees, e.g. 'return' outside a function
        return _Verdict(
            None, message=say("script.not_python", error=err.msg), line=err.lineno, syntax_error=True
        )
    except (ValueError, RecursionError, MemoryError) as err:
        return _Verdict(None, message=say("script.not_compiled", error=type(err).__name__), syntax_error=True)
    kinds = {type(node) for node in ast.walk(tree)}
    # Changing task data from an expression takes a method (an attribute) and a call; see evaluate().
    return _Verdict(code, may_mutate=ast.Call in kinds and ast.Attribute in kinds,
                    bounded=mode == "eval" and is_bounded(tree),
                    constants=_constants(tree) if mode == "exec" and len(source) <= _CONSTANT_SCRIPT_CHARS else None)


_Literal = str | int | float | bool | None


def _constants(tree: ast.AST) -> tuple[tuple[str, _Literal], ...] | None:
    """The ``(name, value)`` assignments of a script made only of lines such as ``outcome = "approved"``, in
    order; None for any other script.

    Such a script reads nothing and costs no more than its own text, so the server sets its values itself
    (see :meth:`RestrictedEnvironment.execute`) instead of a trip to the sandbox. Only one literal text, number,
    true/false or None per line: a list or dict would be one object shared by every case that ran the script.
    """
    assert isinstance(tree, ast.Module)
    pairs: list[tuple[str, _Literal]] = []
    for statement in tree.body:
        if isinstance(statement, ast.Pass):
            continue  # (a text on a line of its own is not passed over: the first one sets `__doc__` there)
        if not (isinstance(statement, ast.Assign) and all(isinstance(t, ast.Name) for t in statement.targets)):
            return None
        node = statement.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd) \
                and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float):
            number = cast(int | float, node.operand.value)
            value: _Literal = -number if isinstance(node.op, ast.USub) else +number
        elif isinstance(node, ast.Constant) and (node.value is None or type(node.value) in (str, int, float, bool)):
            value = cast(_Literal, node.value)
        else:
            return None
        if _value_problem(value) is not None:  # 1e999 is inf: the sandbox says why it cannot be kept
            return None
        pairs += [(cast(ast.Name, target).id, value) for target in statement.targets]
    return tuple(pairs)


def _first_problem(tree: ast.AST, where: Words) -> tuple[str, int | None] | None:
    """The earliest construct outside the allow-list, as (message, line), or None when all is allowed."""
    nodes = list(ast.walk(tree))
    operands = {id(side) for node in nodes if isinstance(node, ast.BinOp) for side in (node.left, node.right)}
    problems = [problem for node in nodes if (problem := _node_problem(node, where)) is not None]
    # Constant folding starts at the outermost operation of each expression, so each node is folded once.
    for node in nodes:
        if isinstance(node, ast.BinOp | ast.AugAssign) and id(node) not in operands:
            message = _constant_problem(node, where)
            if message is not None:
                problems.append((message, node.lineno))
    # ast.walk is breadth-first; the analyst should hear about the first offending line, not the shallowest.
    return min(problems, key=lambda problem: problem[1] or sys.maxsize, default=None)


def _node_problem(node: ast.AST, where: Words) -> tuple[str, int | None] | None:
    line = getattr(node, "lineno", None)
    refused = _REFUSED_NODES.get(type(node))
    if refused is not None:
        return say(refused, where=where), line
    if not isinstance(node, _ALLOWED_NODES):
        return say("script.construct", construct=type(node).__name__, where=where), line
    for name in _names_of(node):
        if name.startswith("_"):
            return say("script.underscore", where=where, name=name), line
    if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
        message_id = "script.format_attribute" if node.attr.startswith("format") else "script.attribute"
        return say(message_id, attribute=node.attr, where=where), line
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
        return say("script.call", function=node.func.id, where=where), line
    if isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Pow):
        exponent = node.right if isinstance(node, ast.BinOp) else node.value
        if _is_big_constant(exponent):
            return say("script.big_exponent", limit=f"{MAX_EXPONENT:,}", where=where), line
    return None


class _TooBig(Exception):
    """A constant part of a script whose value would be over a bound (the message says which)."""


_NUMBER_OPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b, ast.RShift: lambda a, b: a >> b,
}  # fmt: skip


def _constant(node: ast.AST, where: Words) -> Any:
    """The value of a constant part of a script, worked out without ever making a huge one.

    Raises _TooBig when the value would be over a bound; returns None when the part is not constant (or is
    not a plain number, text or list literal).
    """
    if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
        return node.value if isinstance(node.value, int | float | str | bytes) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _constant(node.operand, where)
        return (-value if isinstance(node.op, ast.USub) else value) if isinstance(value, int | float) else None
    if isinstance(node, ast.List | ast.Tuple):
        return [None] * len(node.elts)  # only its length matters here
    if not isinstance(node, ast.BinOp):
        return None
    left, right = _constant(node.left, where), _constant(node.right, where)
    if isinstance(node.op, ast.Mult):
        _check_repeat(left, right, where)
        _check_repeat(right, left, where)
    if left is None or right is None:
        return None
    numbers = all(isinstance(v, int | float) for v in (left, right))
    if isinstance(node.op, ast.Pow) and numbers:
        return _power(left, right, where)
    if isinstance(node.op, ast.LShift) and isinstance(left, int) and isinstance(right, int):
        if right > MAX_CONSTANT_BITS:
            raise _TooBig(say("script.big_shift", limit=f"{MAX_CONSTANT_BITS:,}", where=where))
        return left << max(right, 0)
    operation = _NUMBER_OPS.get(type(node.op))
    if operation is None or not numbers:
        return None
    try:
        return operation(left, right)
    except (ArithmeticError, ValueError):
        return None


def _power(base: int | float, exponent: int | float, where: Words) -> Any:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if math.log2(abs(base)) * exponent > MAX_CONSTANT_BITS:
            raise _TooBig(say("script.big_power", limit=f"{MAX_CONSTANT_BITS:,}", where=where))
    elif abs(exponent) > MAX_EXPONENT:
        return None  # a float power overflows or underflows at once: nothing to bound
    try:
        return base**exponent
    except (ArithmeticError, ValueError, TypeError):
        return None


def _check_repeat(sequence: Any, count: Any, where: Words) -> None:
    """Refuse ``sequence * count`` when a literal text or list would be repeated past MAX_REPEAT items."""
    literal = isinstance(sequence, str | bytes | list)
    if literal and isinstance(count, int) and max(len(sequence), 1) * count > MAX_REPEAT:
        raise _TooBig(say("script.big_repeat", limit=f"{MAX_REPEAT:,}", where=where))


def _constant_problem(node: ast.BinOp | ast.AugAssign, where: Words) -> str | None:
    """Why a constant power, shift or repetition in ``node`` is refused, or None.

    ``x **= 10**10`` and ``x <<= 10**10`` are refused like their constant forms; ``x *= 10**10`` is not, as
    ``x`` may be a number (its cost is bounded when the script runs)."""
    try:
        if isinstance(node, ast.BinOp):
            _constant(node, where)
            return None
        value = _constant(node.value, where)
        if isinstance(node.op, ast.Pow) and isinstance(value, int) and value > MAX_EXPONENT:
            return say("script.big_exponent", limit=f"{MAX_EXPONENT:,}", where=where)
        if isinstance(node.op, ast.LShift) and isinstance(value, int) and value > MAX_CONSTANT_BITS:
            return say("script.big_shift", limit=f"{MAX_CONSTANT_BITS:,}", where=where)
    except _TooBig as err:
        reason: str = err.args[0]  # a Text: kept as it is, so its Arabic stays with it
        return reason
    except RecursionError:
        return say("script.constant_too_deep", where=where)
    return None


def _names_of(node: ast.AST) -> tuple[str, ...]:
    """Every identifier a node introduces or reads, so one rule covers variables, attributes and args."""
    if isinstance(node, ast.Name):
        return (node.id,)
    if isinstance(node, ast.Attribute):
        return (node.attr,)
    if isinstance(node, ast.arg):
        return (node.arg,)
    if isinstance(node, ast.FunctionDef):
        return (node.name,)
    if isinstance(node, ast.keyword) and node.arg:
        return (node.arg,)
    return ()


def _is_big_constant(node: ast.AST) -> bool:
    if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
        return False
    return isinstance(node.value, int | float) and node.value > MAX_EXPONENT


def _safe_range(*args: int) -> range:
    """``range`` capped at :data:`MAX_RANGE` numbers, so a loop cannot be sized to run for hours."""
    numbers = range(*args)
    try:
        too_long = len(numbers) > MAX_RANGE
    except OverflowError:  # longer than sys.maxsize
        too_long = True
    if too_long:
        raise ValueError(f"range() in scripts is limited to {MAX_RANGE:,} numbers")
    return numbers


def _safe_pow(base: Any, exponent: Any, modulus: Any = None) -> Any:
    """``pow`` that refuses huge integer exponents (a modulus keeps the result small, so it is allowed)."""
    if modulus is None and isinstance(exponent, int) and abs(exponent) > MAX_EXPONENT:
        raise ValueError(f"pow() in scripts is limited to exponents up to {MAX_EXPONENT:,}")
    return pow(base, exponent) if modulus is None else pow(base, exponent, modulus)


SAFE_BUILTINS: dict[str, object] = {
    "abs": abs, "all": all, "any": any, "bool": bool, "dict": dict, "enumerate": enumerate,
    "filter": filter, "float": float, "int": int, "isinstance": isinstance, "len": len, "list": list,
    "map": map, "max": max, "min": min, "pow": _safe_pow, "range": _safe_range, "reversed": reversed,
    "round": round, "set": set, "sorted": sorted, "str": str, "sum": sum, "tuple": tuple, "zip": zip,
    "True": True, "False": False, "None": None,
}  # fmt: skip
"""The only builtins scripts see. ``isinstance`` is the real one: the only types a script can name are
the plain ones above, since ``type()`` and ``__class__`` are refused."""


def _as_datetime(value: object, helper: str) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"{helper}() needs a date like '2024-03-31', not {type(value).__name__}")
    try:
        return dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{helper}() needs a date like '2024-03-31', not {value!r}") from None


def today() -> str:
    """Today's date in UTC, as ``YYYY-MM-DD`` (the step's moment: see engine/core/clock.py)."""
    return clock.now().date().isoformat()


def now() -> str:
    """The current moment in UTC, as an ISO 8601 string with offset (the step's moment: see engine/core/clock.py)."""
    return clock.now().isoformat()


def days_between(a: str, b: str) -> int:
    """Whole calendar days from date ``a`` to date ``b`` (negative when ``b`` is earlier)."""
    return (_as_datetime(b, "days_between").date() - _as_datetime(a, "days_between").date()).days


def add_days(d: str, n: int) -> str:
    """Date ``d`` moved by ``n`` days; a date-and-time input keeps its time part."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise ValueError(f"add_days() needs a whole number of days, not {n!r}")
    moved = _as_datetime(d, "add_days") + dt.timedelta(days=n)
    has_time = any(mark in d.strip() for mark in ("T", " ", ":"))
    return moved.isoformat() if has_time else moved.date().isoformat()


def round_money(x: float) -> float:
    """``x`` rounded to 2 decimals, halves away from zero (2.675 -> 2.68, unlike ``round``)."""
    if isinstance(x, bool) or not isinstance(x, int | float | Decimal):
        raise ValueError(f"round_money() needs a number, not {type(x).__name__}")
    try:
        # str() first: the float 2.675 is really 2.67499..., but its shortest repr is what people typed.
        return float(Decimal(str(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        raise ValueError(f"round_money() needs a finite number, not {x!r}") from None


HELPERS: dict[str, Callable[..., object]] = {
    "today": today, "now": now, "days_between": days_between, "add_days": add_days,
    "round_money": round_money,
}  # fmt: skip


def _find_callable(data: Mapping[str, Any]) -> str | None:
    """The top-level key of task data under which a function (or class) is nested, if any."""
    for key, value in data.items():
        stack, seen = [value], set()
        while stack:
            item = stack.pop()
            if callable(item):
                return key
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list | tuple | set | frozenset):
                stack.extend(item)
    return None


def _refuse_callables(context: dict[str, Any]) -> None:
    key = _find_callable(context)
    if key is not None:
        context.pop(key)  # keep task data serializable even though the task fails
        raise ValueError(f"task data can only hold values, not functions: '{key}' held one and was removed")


JSON_VALUES = "text, numbers, true/false, null, and lists and dicts of them with text keys"
_MAX_INT_BITS = 14_000  # about 4,200 digits: Python will not write a longer int as text (sys.int_info)
_KIND_NAMES = {"generator": "a generator", "map": "a map(...)", "range": "a range(...)", "bytes": "bytes",
               "set": "a set", "frozenset": "a set", "filter": "a filter(...)", "zip": "a zip(...)"}


def json_problem(data: Mapping[str, Any], *, exact: bool = False) -> str | None:
    """Why ``data`` is not made of JSON values only, naming the top-level key; None when it is.

    This is what may remain in a case's data after a script: a generator, a ``range``, a set, bytes, a number
    too large to write or a list that holds itself would not survive saving the case, or would change meaning.
    ``exact`` also refuses what JSON would give back changed, so that None means ``json.loads(json.dumps(data))``
    is ``data`` as it is: a tuple (a list there) and a list or dict held twice (two copies there).
    """
    seen: set[int] | None = set() if exact else None
    for key, value in data.items():
        if type(key) is not str:
            return f"the key {key!r} is not text"
        problem = _value_problem(value, seen)
        if problem is not None:
            return f"'{key}' {problem}"
    return None


def _value_problem(value: Any, seen: set[int] | None = None) -> str | None:
    """See :func:`json_problem`; ``seen``: the lists and dicts met so far, when it is ``exact``."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if item.bit_length() > _MAX_INT_BITS:
                return "holds a number too large to keep (more than 4,000 digits)"
        elif kind is float:
            if not math.isfinite(item):
                return f"holds {item!r}, which is not a number JSON can hold"
        elif kind is list or kind is tuple or kind is dict:
            if depth >= MAX_DATA_DEPTH:
                return f"nests lists or dicts deeper than {MAX_DATA_DEPTH} levels (or holds itself)"
            if seen is not None:
                if kind is tuple:
                    return "holds a tuple, which JSON gives back as a list"
                if id(item) in seen:
                    return "holds one list or dict twice, which JSON gives back as two"
                seen.add(id(item))
            if kind is dict:
                if any(type(k) is not str for k in item):
                    return "holds a dict whose keys are not all text"
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
        else:
            what = _KIND_NAMES.get(kind.__name__, "a function" if callable(item) else kind.__name__)
            return f"holds {what}, which is not a JSON value"
    return None


def _not_json(problem: str) -> ValueError:
    return ValueError(f"only JSON values ({JSON_VALUES}) may remain in the case's data: {problem}")


def run_script(source: str, context: dict[str, Any], external: Mapping[str, Any]) -> None:
    """Run a script on ``context`` (the task's data) in this process and leave only JSON values in it.

    Used by the sandbox's child process (engine/bpmn/sandbox_child.py): in the server, scripts never run
    in-process. Functions a script defines are dropped afterwards, as SpiffWorkflow does."""
    code = _checked(source, "exec").code
    assert code is not None  # _checked raises for a refused source
    overwrites = sorted((set(HELPERS) | set(external)) & set(context))
    if overwrites:
        raise ValueError(f"the case's data has fields named like the helper functions: {', '.join(overwrites)}; "
                         "rename them")
    context.update(HELPERS)
    context.update(external)
    context["__builtins__"] = dict(SAFE_BUILTINS)
    try:
        exec(code, context)  # noqa: S102 - checked against the allow-list above
    finally:
        for key in list(context):
            value = context[key]
            if key == "__builtins__" or key in HELPERS or key in external or callable(value):
                context.pop(key)
    problem = json_problem(context)
    if problem is not None:
        raise _not_json(problem)


def run_expression(source: str, context: dict[str, Any], external: Mapping[str, Any]) -> Any:
    """Evaluate an expression over ``context`` in this process; its value must be a JSON value.

    The server calls it directly only for expressions :func:`is_bounded` proves cheap; the others run in
    the sandbox's child process."""
    verdict = _checked(source, "eval")
    scope: dict[str, Any] = dict(HELPERS)
    scope.update(external)
    scope.update(context)
    scope["__builtins__"] = dict(SAFE_BUILTINS)  # last, so task data cannot replace it
    assert verdict.code is not None
    result = eval(verdict.code, scope)  # noqa: S307 - checked against the allow-list above
    if _find_callable({"result": result}) is not None:  # DMN outputs are stored in task data
        raise ValueError("an expression must give a value, not a function")
    problem = _value_problem(result)
    if problem is not None:
        raise ValueError(f"an expression must give a JSON value ({JSON_VALUES}); this one {problem}")
    if verdict.may_mutate:  # e.g. `items.append(len)`; checked only then, as conditions run very often
        _refuse_callables(context)
        problem = json_problem(context)
        if problem is not None:
            raise _not_json(problem)
    return result


# What an expression may use to run in the server's own process: each of these costs at most about the size
# of the data it reads (no loops, no repetition, no powers, no formatting), so nothing needs to stop it.
_BOUNDED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression, ast.BoolOp, ast.Compare, ast.UnaryOp, ast.IfExp, ast.Constant, ast.Name, ast.Subscript,
    ast.Slice, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.Call, ast.Attribute, ast.BinOp, ast.Starred,
    ast.keyword, ast.expr_context, ast.boolop, ast.cmpop, ast.unaryop, ast.operator,
)  # fmt: skip
_BOUNDED_OPS = (ast.Sub, ast.Div, ast.FloorDiv, ast.BitAnd, ast.BitOr, ast.BitXor, ast.RShift)
_BOUNDED_CALLS = frozenset(
    {"len", "abs", "bool", "float", "int", "str", "min", "max", "any", "all", "isinstance", "sorted", "list"}
    | {"tuple", "set", "range", "reversed", "enumerate", "zip"} | set(HELPERS)
)
_BOUNDED_METHODS = frozenset(
    {"get", "lower", "upper", "casefold", "strip", "lstrip", "rstrip", "startswith", "endswith", "keys"}
    | {"values", "items", "count", "index", "isdigit", "isalpha", "isalnum"}
)


def is_bounded(tree: ast.AST) -> bool:
    """Whether an (already allowed) expression is cheap enough to run in the server's process.

    Conditions and DMN cells are mostly comparisons of the case's fields; they skip the sandbox's round trip.
    Anything with a loop (comprehensions), a lambda, a power, a repetition, a ``%`` or an f-string, or a call
    outside a short list of linear functions, runs in the sandbox."""
    nodes = list(ast.walk(tree))
    methods = {id(node.func) for node in nodes if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    for node in nodes:
        if not isinstance(node, _BOUNDED_NODES):
            return False
        if isinstance(node, ast.BinOp) and not (isinstance(node.op, _BOUNDED_OPS) or _numeric_step(node)):
            return False
        if isinstance(node, ast.Attribute) and (id(node) not in methods or node.attr not in _BOUNDED_METHODS):
            return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                node.func.id not in _BOUNDED_CALLS or (node.func.id in ("min", "max", "sorted") and node.keywords)):
            return False
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name | ast.Attribute):
            return False
    return True


def _numeric_step(node: ast.BinOp) -> bool:
    """``x + 1`` or ``price * 1.15``: a number constant on one side keeps the result as small as ``x``."""
    sides = (node.left, node.right)
    if isinstance(node.op, ast.Add):
        return any(isinstance(s, ast.Constant) and type(s.value) in (int, float) for s in sides)
    if isinstance(node.op, ast.Mult):
        return any(isinstance(s, ast.Constant) and type(s.value) is float for s in sides)
    return False


class RestrictedEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's task-data environment: every source checked, scripts run in the sandbox.

    Scripts and expressions that :func:`is_bounded` cannot prove cheap run in a child process bounded in
    time and memory (engine/bpmn/sandbox.py); what they leave in the data comes back as JSON."""

    def __init__(self) -> None:
        super().__init__(dict(HELPERS))

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> Any:
        verdict = _checked(expression, "eval")
        if verdict.bounded:
            return run_expression(expression, context, external_context or {})
        sent = {key: value for key, value in context.items() if key != "__builtins__"}
        result, changed = sandbox.run("eval", expression, sent, external_context or {},
                                      want_context=verdict.may_mutate)
        if changed is not None:
            context.clear()
            context.update(changed)
        return result

    def execute(
        self, script: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> bool:
        verdict = _checked(script, "exec")  # before touching task data: a refused script runs no line
        context.pop("__builtins__", None)  # SpiffWorkflow's exec() may have left the real ones in older data
        if verdict.constants is not None and _sets_here(verdict.constants, context, external_context or {}):
            return True
        _, changed = sandbox.run("exec", script, context, external_context or {}, want_context=True)
        assert changed is not None
        context.clear()
        context.update(changed)
        return True


def _sets_here(constants: tuple[tuple[str, Any], ...], context: dict[str, Any], external: Mapping[str, Any]) -> bool:
    """Set a constant script's values in ``context`` as the sandbox would leave them; False, touching nothing, when
    the sandbox's answer could differ, so the script goes there.

    The sandbox sends the data as JSON and takes it back: that is the same data only when the data is plain JSON
    (no tuple, no object held twice, nothing JSON refuses) and no name is a helper's or the step's own
    (``run_script`` refuses or drops those). The step's own values are sent too: one JSON refuses is refused
    there, so it goes there."""
    reserved = HELPERS.keys() | external.keys()
    if any(name in reserved for name, _ in constants) or not reserved.isdisjoint(context) \
            or json_problem(context, exact=True) is not None or json_problem(external, exact=True) is not None:
        return False
    for name, value in constants:
        context[name] = value
    return True


class RestrictedScriptEngine(PythonScriptEngine):
    """The script engine every Shubbak workflow runs with.

    A refused script or expression becomes a ``WorkflowTaskException`` naming the problem and its line,
    before any of it runs; errors while running are wrapped by SpiffWorkflow the same way. A script over
    its time or memory limit raises :class:`sandbox.ScriptLimitExceeded` naming its element, unwrapped, so
    the command can record the incident.
    """

    def __init__(self, environment: RestrictedEnvironment | None = None) -> None:
        super().__init__(environment=environment or RestrictedEnvironment())

    def validate(self, expression: str) -> None:
        """Check an expression. Invalid Python raises ``SyntaxError``, as SpiffWorkflow's DMN engine
        expects (it retries ``< 200`` as ``v < 200``); disallowed Python raises ScriptRefused."""
        try:
            check_script(expression, mode="eval")
        except ScriptRefused as err:
            if err.syntax_error:
                raise SyntaxError(err.message) from None
            raise

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        self._refuse(task, expression, "eval")
        try:
            return super().evaluate(task, expression, external_context)
        except WorkflowTaskException as exc:
            limit = _limit_of(exc, task)
            if limit is None:
                raise
            raise limit from None

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> Any:
        self._refuse(task, script, "exec")
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except sandbox.ScriptLimitExceeded as exc:
            raise exc.at_element(_element(task)) from None
        except Exception as err:  # noqa: BLE001 - wrapped as SpiffWorkflow does, with the sandbox's line
            line = getattr(err, "script_line", None)
            if not line:
                raise self.create_task_exec_exception(task, script, err) from err
            lines = script.splitlines()
            error_line = lines[line - 1] if line <= len(lines) else ""
            detail = type(err).__name__ + (f":{err.args[0]}" if err.args else "")
            raise WorkflowTaskException(detail, task=task, exception=err, line_number=line,
                                        error_line=error_line) from err

    @staticmethod
    def _refuse(task: Any, source: str, mode: str) -> None:
        try:
            check_script(source, mode=mode)
        except ScriptRefused as err:
            lines = source.splitlines() if isinstance(source, str) else []
            error_line = lines[err.line - 1] if err.line and err.line <= len(lines) else ""
            what = "Script" if mode == "exec" else f"Expression '{source}'"
            raise WorkflowTaskException(
                f"{what} was refused: {err.message}",
                task=task,
                exception=err,
                line_number=err.line,
                error_line=error_line,
            ) from err


def _element(task: Any) -> str:
    spec = task.task_spec
    return str(spec.bpmn_id or spec.name)


def _limit_of(exc: BaseException, task: Any) -> sandbox.ScriptLimitExceeded | None:
    """The limit breach behind a wrapped exception, tied to ``task``'s element, if there is one."""
    found = sandbox.limit_in(exc)
    return found.at_element(_element(task)) if found is not None else None
