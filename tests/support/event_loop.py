"""Find the blocking work an ``async def`` route would do on the event loop.

FastAPI runs a plain ``def`` endpoint (and plain ``def`` dependencies) in a worker thread, but an ``async def``
one on the event loop itself: while it calls the database, the engine or the document store, no other request
of that process is answered (a deploy once held ``/healthz`` for 4 s). :func:`blocking_calls` reads an async
function's source and lists the calls it makes on the loop that reach:

* a function or class of ``engine`` or ``storage`` (the database, SpiffWorkflow, the document store), unless
  :data:`NOT_BLOCKING` names it with the reason it does not block;
* a method of a parameter whose type comes from ``engine``, ``storage``, ``sqlalchemy`` or ``sqlmodel`` (a
  session, a document store).

Calls handed to a thread (``run_in_threadpool``, ``anyio.to_thread.run_sync``, ``asyncio.to_thread``) are not
counted. Functions of the faces (``api``, ``admin_ui``) that the route calls directly, and functions it defines
inside itself and calls, are read the same way, a few levels deep.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import typing
from collections.abc import Callable
from types import ModuleType
from typing import Any

from fastapi.routing import APIRoute

BLOCKING_MODULES = ("engine", "storage", "sqlalchemy", "sqlmodel")
FACE_MODULES = ("api", "admin_ui")
THREAD_HELPERS = frozenset({"run_in_threadpool", "run_sync", "to_thread", "run_in_executor"})
# Functions of the blocking modules that an async route may call, each with why it cannot block the loop.
NOT_BLOCKING: dict[str, str] = {
    "engine.core.errors.DomainError": "builds an exception: no I/O",
    "engine.core.errors.Invalid": "builds an exception: no I/O",
    "engine.core.errors.TooLarge": "builds an exception: no I/O",
    "engine.core.errors.Conflict": "builds an exception: no I/O",
    "engine.core.errors.Forbidden": "builds an exception: no I/O",
    "engine.core.errors.NotFound": "builds an exception: no I/O",
    "engine.core.errors.Unauthorized": "builds an exception: no I/O",
    "engine.citizen.signin.phone_from_token": "checks a citizen token's signature with a key derived from the "
                                              "settings' secret: no I/O",
    "engine.citizen.signin.who_from_token": "checks a citizen token's signature with a key derived from the "
                                            "settings' secret: no I/O",
    "engine.core.client_address.client_address": "compares the socket's peer and the X-Forwarded-For values "
                                                 "already read with the trusted proxies setting: no I/O",
    "engine.core.refusals.say": "fills a sentence of the refusals' catalogs, read when the app is made "
                                "(api/errors.install): no I/O",
    "engine.core.refusals.problem": "fills a sentence of the refusals' catalogs, read when the app is made: no I/O",
    "engine.core.refusals.arabic_or_general": "fills a sentence of the refusals' catalogs, read when the app is "
                                              "made: no I/O",
    "engine.core.files.detect": "compares an upload's first bytes (already read) with known magic numbers: no I/O",
    "engine.people.policy.may": "compares the actor's roles with the policy table in memory: no I/O",
    "storage.db.engine_for": "returns the process's engine for the URL, made once (create_engine opens no "
                             "connection)",
    "storage.db.session_for": "makes a session on the process's engine: no connection until first used (as "
                              "Session below)",
    "sqlmodel.orm.session.Session": "making a session opens no connection: it connects when first used, in the "
                                    "endpoint's thread (api/deps.get_session closes a connected one in a thread)",
}


def _dotted(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def _module_of(value: Any) -> str:
    if isinstance(value, ModuleType):
        return value.__name__
    return str(getattr(value, "__module__", "") or "")


def _is_under(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def _parameter_types(func: Callable[..., Any]) -> dict[str, set[str]]:
    """Each parameter's type's modules (of ``Annotated`` and unions too), by name."""
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:  # noqa: BLE001 - a hint that cannot be resolved is treated as unknown
        hints = {}
    out: dict[str, set[str]] = {}
    for name, hint in hints.items():
        modules: set[str] = set()
        stack = [hint]
        while stack:
            item = stack.pop()
            modules.add(_module_of(item))
            stack.extend(typing.get_args(item))
            origin = typing.get_origin(item)
            if origin is typing.Annotated:
                stack.append(item.__origin__)
        out[name] = modules
    return out


class _Reader(ast.NodeVisitor):
    def __init__(self, func: Callable[..., Any], found: list[str], depth: int, seen: set[int]) -> None:
        self.func = func
        self.found = found
        self.depth = depth
        self.seen = seen
        self.globals: dict[str, Any] = getattr(func, "__globals__", {})
        self.params = _parameter_types(func)
        self.local_defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.where = f"{func.__module__}.{func.__qualname__}"

    def read(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.local_defs.update({n.name: n for n in ast.walk(node)
                                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n is not node})
        for statement in node.body:
            self.visit(statement)

    # Bodies of functions defined inside are read only when they are called directly (visit_Call).
    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        return None

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        return None

    def visit_Lambda(self, node: ast.Lambda) -> None:
        return None

    def visit_Call(self, node: ast.Call) -> None:
        path = _dotted(node.func)
        if path is not None and path[-1] in THREAD_HELPERS:
            return  # the callee and its arguments run in a worker thread
        if path is not None:
            self._judge(path, node)
        self.generic_visit(node)

    def _judge(self, path: list[str], node: ast.Call) -> None:
        root = path[0]
        if len(path) == 1 and root in self.local_defs:
            inner = self.local_defs[root]
            if id(inner) not in self.seen:
                self.seen.add(id(inner))
                self.read(inner)
            return
        if root in self.params:
            modules = self.params[root]
            if any(_is_under(m, BLOCKING_MODULES) for m in modules) and len(path) > 1:
                self.found.append(f"{self.where}: {'.'.join(path)}() on a {'/'.join(sorted(modules))} object "
                                  f"(line {node.lineno})")
            return
        value: Any = self.globals.get(root, getattr(__builtins__, root, None) if not isinstance(
            __builtins__, dict) else __builtins__.get(root))
        for part in path[1:]:
            if value is None:
                break
            value = getattr(value, part, None)
        if value is None:
            return
        target = getattr(value, "__wrapped__", value)
        module = _module_of(target)
        name = f"{module}.{getattr(target, '__qualname__', path[-1])}"
        if _is_under(module, BLOCKING_MODULES):
            if name not in NOT_BLOCKING:
                self.found.append(f"{self.where}: {'.'.join(path)}() reaches {name} (line {node.lineno})")
        elif _is_under(module, FACE_MODULES) and inspect.isfunction(target) and self.depth < 4:
            self.found.extend(blocking_calls(target, depth=self.depth + 1, seen=self.seen))


def blocking_calls(func: Callable[..., Any], *, depth: int = 0, seen: set[int] | None = None) -> list[str]:
    """What ``func`` (an endpoint or a dependency, async or a helper it calls) does on the event loop that
    blocks it, one line each; empty when nothing does."""
    seen = seen if seen is not None else set()
    func = inspect.unwrap(func)
    if id(func) in seen:
        return []
    seen.add(id(func))
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return []
    tree = ast.parse(source)
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return []
    found: list[str] = []
    _Reader(func, found, depth, seen).read(node)
    return found


def _calls(dependant: Any) -> list[Callable[..., Any]]:
    out = [dependant.call] if dependant.call is not None else []
    for sub in dependant.dependencies:
        out.extend(_calls(sub))
    return out


def route_table(routes: list[Any]) -> list[APIRoute]:
    """Every API route of an app's route table, those of included routers too (FastAPI keeps them nested)."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):  # fastapi.routing._IncludedRouter
            out.extend(route_table(list(route.original_router.routes)))
        elif hasattr(route, "routes") and not hasattr(route, "app"):
            out.extend(route_table(list(route.routes)))
    return out


def async_blocking(routes: list[Any]) -> dict[str, list[str]]:
    """For every route whose endpoint or dependency is a coroutine function (run on the loop), what blocks."""
    out: dict[str, list[str]] = {}
    for route in route_table(routes):
        for call in _calls(route.dependant):
            target = inspect.unwrap(call)
            if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target) or (
                    inspect.iscoroutinefunction(getattr(target, "__call__", None))
                    and not inspect.isfunction(target)):
                func = target if inspect.isfunction(target) else target.__call__
                found = blocking_calls(func)
                if found:
                    key = f"{sorted(route.methods or [])} {route.path}"
                    out.setdefault(key, []).extend(found)
    return out
