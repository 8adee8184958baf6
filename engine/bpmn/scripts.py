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

What is *not* protected: CPU and memory. ``range`` is capped, ``pow`` and constant ``**`` exponents are
capped, but ``x ** y`` on variables, ``"a" * 10**9``, nested ``for`` loops and recursion can still burn a
worker; that must be bounded where scripts run (a time limit on the task, a memory limit on the worker).
"""

from __future__ import annotations

import ast
import datetime as dt
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import CodeType
from typing import Any, cast

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from engine import clock

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
MAX_RANGE = 100_000
MAX_EXPONENT = 10_000
MAX_SOURCE_CHARS = 100_000
_CACHE_LIMIT = 4096
_CACHEABLE_CHARS = 4096  # longer scripts run once per task, not millions of times; don't hold them

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
_REFUSED_NODES: dict[type[ast.AST], str] = {
    ast.Import: "imports are not allowed in {where}",
    ast.ImportFrom: "imports are not allowed in {where}",
    ast.Global: "'global' is not allowed in {where}",
    ast.Nonlocal: "'nonlocal' is not allowed in {where}",
    ast.While: "'while' loops are not allowed in {where} (loop with 'for' over a list or a range)",
    ast.ClassDef: "class definitions are not allowed in {where}",
    ast.AsyncFunctionDef: "async code is not allowed in {where}",
    ast.AsyncFor: "async code is not allowed in {where}",
    ast.AsyncWith: "async code is not allowed in {where}",
    ast.Await: "async code is not allowed in {where}",
    ast.Yield: "'yield' is not allowed in {where}",
    ast.YieldFrom: "'yield' is not allowed in {where}",
    ast.With: "'with' is not allowed in {where}",
    ast.Match: "'match' is not allowed in {where}",
    # A caught exception could be the worker's time limit (Celery's soft limit raises inside the code),
    # and `finally: continue` swallows one too; scripts check values with `if` instead.
    ast.Try: "'try' is not allowed in {where} (check values with 'if' instead)",
    ast.TryStar: "'try' is not allowed in {where} (check values with 'if' instead)",
    # Module-level annotations land in task data as `__annotations__`, holding classes.
    ast.AnnAssign: "type annotations on variables are not allowed in {where}",
}


class ScriptRefused(Exception):
    """A script or expression that will not run, and why, in words an analyst can act on.

    ``message`` is a full sentence that already names the line (when there is one); ``line`` is that
    1-based line for tools that point at it. ``syntax_error`` is set when the text is not valid Python at
    all, which SpiffWorkflow's DMN engine needs to tell apart (see :meth:`RestrictedScriptEngine.validate`).
    """

    def __init__(self, message: str, line: int | None = None, *, syntax_error: bool = False) -> None:
        self.message = f"{message} (line {line})" if line else message
        super().__init__(self.message)
        self.line = line
        self.syntax_error = syntax_error


@dataclass(frozen=True, slots=True)
class _Verdict:
    """The cached outcome of checking one source: compiled code, or the reason it was refused."""

    code: CodeType | None
    may_mutate: bool = False
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


def _checked(source: str, mode: str) -> tuple[CodeType, bool]:
    """Check and compile ``source`` once (later calls with the same text are a dict lookup).

    Returns the code and whether it could change task data (see :meth:`RestrictedEnvironment.evaluate`).
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
    return verdict.code, verdict.may_mutate


def _verdict(source: str, mode: str) -> _Verdict:
    where = "expressions" if mode == "eval" else "scripts"
    if len(source) > MAX_SOURCE_CHARS:
        return _Verdict(None, message=f"{where} are limited to {MAX_SOURCE_CHARS:,} characters")
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as err:
        message = f"this is not valid Python: {err.msg}"
        return _Verdict(None, message=message, line=err.lineno, syntax_error=True)
    except (ValueError, RecursionError, MemoryError):
        message = "this is not valid Python (too deeply nested, or contains NUL characters)"
        return _Verdict(None, message=message, syntax_error=True)
    problem = _first_problem(tree, where)
    if problem is not None:
        return _Verdict(None, message=problem[0], line=problem[1])
    try:
        # "<string>" is the name SpiffWorkflow looks for in tracebacks to report the failing line.
        code = compile(cast(ast.Module | ast.Expression, tree), "<string>", mode, dont_inherit=True)
    except SyntaxError as err:  # what only the compiler sees, e.g. 'return' outside a function
        return _Verdict(
            None, message=f"this is not valid Python: {err.msg}", line=err.lineno, syntax_error=True
        )
    except (ValueError, RecursionError, MemoryError) as err:
        return _Verdict(None, message=f"this could not be compiled ({type(err).__name__})", syntax_error=True)
    kinds = {type(node) for node in ast.walk(tree)}
    # Changing task data from an expression takes a method (an attribute) and a call; see evaluate().
    return _Verdict(code, may_mutate=ast.Call in kinds and ast.Attribute in kinds)


def _first_problem(tree: ast.AST, where: str) -> tuple[str, int | None] | None:
    """The earliest construct outside the allow-list, as (message, line), or None when all is allowed."""
    problems = (problem for node in ast.walk(tree) if (problem := _node_problem(node, where)) is not None)
    # ast.walk is breadth-first; the analyst should hear about the first offending line, not the shallowest.
    return min(problems, key=lambda problem: problem[1] or sys.maxsize, default=None)


def _node_problem(node: ast.AST, where: str) -> tuple[str, int | None] | None:
    line = getattr(node, "lineno", None)
    refused = _REFUSED_NODES.get(type(node))
    if refused is not None:
        return refused.format(where=where), line
    if not isinstance(node, _ALLOWED_NODES):
        return f"'{type(node).__name__}' is not allowed in {where}", line
    for name in _names_of(node):
        if name.startswith("_"):
            return f"names starting with '_' are not allowed in {where} ('{name}')", line
    if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
        hint = " (use an f-string instead)" if node.attr.startswith("format") else ""
        return f"'.{node.attr}' cannot be used in {where}{hint}", line
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
        return f"'{node.func.id}()' cannot be used in {where}", line
    if isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Pow):
        exponent = node.right if isinstance(node, ast.BinOp) else node.value
        if _is_big_constant(exponent):
            return f"exponents above {MAX_EXPONENT:,} are not allowed in {where}", line
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
    """Today's date in UTC, as ``YYYY-MM-DD`` (the step's moment: see engine/clock.py)."""
    return clock.now().date().isoformat()


def now() -> str:
    """The current moment in UTC, as an ISO 8601 string with offset (the step's moment: see engine/clock.py)."""
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


class RestrictedEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's task-data environment, with every source checked and restricted builtins."""

    def __init__(self) -> None:
        super().__init__(dict(HELPERS))

    def _scope(self, external_context: Mapping[str, Any] | None) -> dict[str, Any]:
        scope: dict[str, Any] = dict(self.globals)
        scope.update(external_context or {})
        return scope

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> Any:
        code, may_mutate = _checked(expression, "eval")
        self._prepare_context(context)
        scope = self._scope(external_context)
        scope.update(context)
        scope["__builtins__"] = dict(SAFE_BUILTINS)  # last, so task data cannot replace it
        result = eval(code, scope)  # noqa: S307 - checked against the allow-list above
        if _find_callable({"result": result}) is not None:  # DMN outputs are stored in task data
            raise ValueError("an expression must give a value, not a function")
        if may_mutate:  # e.g. `items.append(len)`; checked only then, as conditions run very often
            _refuse_callables(context)
        return result

    def execute(
        self, script: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> bool:
        code, _ = _checked(script, "exec")  # before touching task data: a refused script runs no line
        self.check_for_overwrite(context, external_context or {})
        self._prepare_context(context)
        context.update(self._scope(external_context))
        context["__builtins__"] = dict(SAFE_BUILTINS)
        try:
            exec(code, context)  # noqa: S102 - checked against the allow-list above
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
            context.pop("__builtins__", None)
        _refuse_callables(context)
        return True


class RestrictedScriptEngine(PythonScriptEngine):
    """The script engine every Shubbak workflow runs with.

    A refused script or expression becomes a ``WorkflowTaskException`` naming the problem and its line,
    before any of it runs; errors while running are wrapped by SpiffWorkflow the same way.
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
        return super().evaluate(task, expression, external_context)

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> Any:
        self._refuse(task, script, "exec")
        return super().execute(task, script, external_context)

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
