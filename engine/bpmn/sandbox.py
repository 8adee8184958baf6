"""Run untrusted scripts in child processes bounded in time and memory.

Python offers no way to stop a single C-level operation (``10**10**10``, ``"a" * 10**10``) in the thread
that runs it, nor to cap the memory of one piece of code. So the server hands every BPMN script (but one made
only of constant assignments, see ``scripts._constants``), and every expression that ``scripts.is_bounded`` cannot
prove cheap, to a child process:

* the child (engine/bpmn/sandbox_child.py) runs with an address-space limit (``RLIMIT_AS``) of its
  starting size plus ``script_memory_mib``; an allocation beyond it fails there, never in the server;
* the server waits at most ``script_seconds`` of wall-clock time for the answer, then kills the child (a
  CPU limit in the child is a second guard, should the server itself stop) and starts a fresh one when the
  next script needs it;
* data goes in and comes back as JSON, so only JSON values can remain in a case's data.

Children are long-lived and reused: one per script running at the same moment, at most
``script_sandboxes`` per server process; the threads serving other requests are never blocked by a child
that is stuck. The limits for the running command are set with :func:`bounded` (engine/bpmn/runner.py).
"""

from __future__ import annotations

import atexit
import builtins
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core import clock

ROOT = Path(__file__).resolve().parents[2]
_HEADER = struct.Struct(">I")
SPAWN_GRACE_SECONDS = 0.05  # how long a script waits for a busy sandbox before starting another
_START = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
          "from engine.bpmn.sandbox_child import main; main()")


@dataclass(frozen=True)
class Bounds:
    """The limits one script runs under (from the settings; see runner.limits)."""

    seconds: float = 2.0
    memory_mib: int = 256
    sandboxes: int = 8


DEFAULT_BOUNDS = Bounds()
_bounds: ContextVar[Bounds] = ContextVar("shubbak_script_bounds", default=DEFAULT_BOUNDS)  # noqa: B039 - frozen


@contextmanager
def bounded(bounds: Bounds) -> Iterator[Bounds]:
    """Run the block's scripts under ``bounds`` (per context: other requests keep their own)."""
    token = _bounds.set(bounds)
    try:
        yield bounds
    finally:
        _bounds.reset(token)


class ScriptLimitExceeded(Exception):
    """A script went over one of its limits: ``limit`` is "time", "memory" or "depth" (or "busy" when every
    sandbox was taken for longer than the time limit). ``element_id`` is the BPMN element that ran it."""

    def __init__(self, limit: str, message: str, element_id: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.message = message
        self.element_id = element_id

    def at_element(self, element_id: str) -> ScriptLimitExceeded:
        if self.element_id is None:
            self.element_id = element_id
        return self


def limit_in(exc: BaseException | None) -> ScriptLimitExceeded | None:
    """The ScriptLimitExceeded among ``exc`` and the exceptions it was raised from or while handling."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ScriptLimitExceeded):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _error(reply: Mapping[str, Any]) -> Exception:
    """The exception a script raised in the child, rebuilt here with its type when it is a builtin one."""
    name = str(reply.get("error") or "Exception")
    kind = getattr(builtins, name, None)
    if not (isinstance(kind, type) and issubclass(kind, Exception)) or issubclass(kind, OSError):
        kind = ScriptError
    try:
        err = kind(reply.get("arg", ""))
    except Exception:  # noqa: BLE001 - a builtin that wants other arguments (UnicodeDecodeError...)
        err = ScriptError(f"{name}: {reply.get('arg', '')}")
    err.script_line = reply.get("line")  # type: ignore[attr-defined]
    return err


class ScriptError(Exception):
    """A script failed in the sandbox with an exception that is not one of Python's builtin ones."""


class _Stuck(Exception):
    pass


class _Child:
    """One sandbox process and the pipes to it; used by one thread at a time."""

    def __init__(self, memory_mib: int) -> None:
        self.memory_mib = memory_mib
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, "-I", "-c", _START, str(memory_mib)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
            start_new_session=True,  # a Ctrl-C in the server's terminal is the server's, not the child's
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin.fileno()
        self.stdout = self.proc.stdout.fileno()
        self.owner = os.getpid()

    def call(self, payload: bytes, seconds: float) -> bytes:
        deadline = time.monotonic() + seconds
        try:
            os.write(self.stdin, _HEADER.pack(len(payload)))
            view = memoryview(payload)
            while view:
                # A child that stops reading (stuck on the previous part) must not hold this thread.
                if not select.select([], [self.stdin], [], max(deadline - time.monotonic(), 0))[1]:
                    raise _Stuck
                view = view[os.write(self.stdin, view[:65536]):]
        except (BrokenPipeError, ConnectionResetError, OSError) as exc:
            raise EOFError from exc
        header = self._read(_HEADER.size, deadline)
        return self._read(_HEADER.unpack(header)[0], deadline)

    def _read(self, size: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        while size:
            if not select.select([self.stdout], [], [], max(deadline - time.monotonic(), 0))[0]:
                raise _Stuck
            chunk = os.read(self.stdout, min(size, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def kill(self) -> None:
        with suppress(ProcessLookupError):
            self.proc.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with suppress(OSError):
                    stream.close()
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


@dataclass
class _Pool:
    """Idle children per memory limit, and how many are lent out, for this process (not its forks)."""

    idle: dict[int, list[_Child]] = field(default_factory=dict)
    lent: int = 0
    owner: int = field(default_factory=os.getpid)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def take(self, bounds: Bounds) -> _Child:
        """An idle child, or a new one. A script waits briefly for a busy child to come back before a new one
        is started (most scripts take well under a millisecond, a new child about 50 ms and 20 MB), and at most
        its time limit when ``bounds.sandboxes`` children are lent out (then "busy")."""
        started = time.monotonic()
        deadline, grace_end = started + bounds.seconds, started + SPAWN_GRACE_SECONDS
        with self.cond:
            if self.owner != os.getpid():  # forked (a worker pool): the parent's pipes are not ours
                self.idle, self.lent, self.owner = {}, 0, os.getpid()
            while True:
                now = time.monotonic()
                if self.lent >= bounds.sandboxes:
                    if now >= deadline:
                        raise ScriptLimitExceeded(
                            "busy", f"all {bounds.sandboxes} script sandboxes of this server were busy for "
                            f"{bounds.seconds:g} s; try again")
                    self.cond.wait(deadline - now)
                    continue
                ready = self.idle.get(bounds.memory_mib)
                if ready:
                    child: _Child | None = ready.pop()
                    break
                if self.lent == 0 or now >= grace_end:
                    child = None
                    break
                self.cond.wait(grace_end - now)
            self.lent += 1
        if child is not None and child.proc.poll() is None:
            return child
        if child is not None:
            child.kill()  # it died while idle (killed from outside): reap it, start another
        try:
            return _Child(bounds.memory_mib)
        except BaseException:
            self.give_back(None)
            raise

    def give_back(self, child: _Child | None) -> None:
        with self.cond:
            if child is not None and child.owner == os.getpid() == self.owner:
                self.idle.setdefault(child.memory_mib, []).append(child)
            self.lent = max(self.lent - 1, 0)
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            children = [child for ready in self.idle.values() for child in ready if child.owner == os.getpid()]
            self.idle = {}
        for child in children:
            child.kill()


_pool = _Pool()
atexit.register(_pool.close)


def run(mode: str, source: str, context: Mapping[str, Any], external: Mapping[str, Any], *,
        want_context: bool) -> tuple[Any, dict[str, Any] | None]:
    """Run ``source`` ("exec" or "eval") over ``context`` in a sandbox; returns (value, the new context).

    The new context is None unless ``want_context``. Raises :class:`ScriptLimitExceeded` when a limit is hit,
    the script's own exception (rebuilt) when it failed, ValueError when the data cannot be sent as JSON."""
    bounds = _bounds.get()
    try:
        payload = json.dumps({"mode": mode, "source": source, "context": context, "external": external,
                              "moment": clock.now().isoformat(), "seconds": bounds.seconds,
                              "want_context": want_context}, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the case's data holds a value that is not JSON, which scripts cannot read: {exc}") from exc
    child = _pool.take(bounds)
    try:
        raw = child.call(payload, bounds.seconds)
    except _Stuck:
        child.kill()
        _pool.give_back(None)
        raise ScriptLimitExceeded("time", f"the script ran longer than its limit of {bounds.seconds:g} s "
                                  "(SHUBBAK_SCRIPT_SECONDS)") from None
    except EOFError:
        child.kill()
        _pool.give_back(None)
        raise ScriptLimitExceeded("memory", f"the script stopped its sandbox; it most likely went over its "
                                  f"memory limit of {bounds.memory_mib} MiB (SHUBBAK_SCRIPT_MEMORY_MIB)") from None
    except BaseException:
        child.kill()
        _pool.give_back(None)
        raise
    reply = json.loads(raw)
    limit = reply.get("limit")
    if limit is not None:
        child.kill()  # a child that ran out of memory or stack is not reused
        _pool.give_back(None)
        what = {"memory": f"its memory limit of {bounds.memory_mib} MiB (SHUBBAK_SCRIPT_MEMORY_MIB)",
                "depth": "the depth of nested calls Python allows (it probably recurses without end)"}
        raise ScriptLimitExceeded(str(limit), f"the script went over {what.get(limit, limit)}")
    _pool.give_back(child)
    if not reply.get("ok"):
        raise _error(reply)
    return reply.get("value"), reply.get("context")
