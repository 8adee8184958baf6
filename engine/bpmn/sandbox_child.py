"""The sandbox's child process: read a script and its data as JSON, run it, answer as JSON, and repeat.

Started by engine/bpmn/sandbox.py with its memory limit in MiB as the only argument. It imports what scripts
need, then caps its own address space at its size so far plus that limit (``RLIMIT_AS``), so an allocation
over the limit fails here with a MemoryError. Before each script it also sets a CPU-time limit a little
above the script's time limit: should the server stop without killing it, the kernel does.

Messages are a 4-byte big-endian length and UTF-8 JSON, on stdin and stdout. The answer is
``{"ok": true, "value": ..., "context": ...}``, ``{"ok": false, "error": type, "arg": text, "line": n}``
or ``{"limit": "memory" | "depth"}``.
"""

from __future__ import annotations

import json
import math
import os
import resource
import struct
import sys
import traceback
from datetime import datetime
from typing import Any

from engine.bpmn import scripts
from engine.core import clock

_HEADER = struct.Struct(">I")


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _line_of(exc: BaseException) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<string>":  # the script's own code (see scripts._verdict)
            line = frame.lineno
    return line


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """Run one request; the answer, never an exception (a MemoryError or RecursionError is a limit)."""
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    used = cpu.ru_utime + cpu.ru_stime
    soft = int(math.ceil(used + float(request.get("seconds", 2.0)) + 1))
    # Only the soft limit moves (SIGXCPU ends the process there): a hard limit, once lowered, cannot be raised
    # again for the next script.
    resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.getrlimit(resource.RLIMIT_CPU)[1]))
    context = request["context"]
    external = request.get("external") or {}
    try:
        with clock.frozen(datetime.fromisoformat(request["moment"])):
            if request["mode"] == "exec":
                scripts.run_script(request["source"], context, external)
                value = None
            else:
                value = scripts.run_expression(request["source"], context, external)
    except MemoryError:
        return {"limit": "memory"}
    except RecursionError:
        return {"limit": "depth"}
    except Exception as exc:  # noqa: BLE001 - every failure of a script is an answer to the server
        arg = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        return {"ok": False, "error": type(exc).__name__, "arg": arg, "line": _line_of(exc)}
    return {"ok": True, "value": value, "context": context if request.get("want_context") else None}


def main() -> None:
    memory_mib = int(sys.argv[1])
    reader, writer = sys.stdin.fileno(), os.dup(sys.stdout.fileno())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # nothing a script could reach writes into the answers' pipe
    with open("/proc/self/statm", encoding="ascii") as statm:
        size = int(statm.read().split()[0]) * resource.getpagesize()
    limit = size + memory_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # scripts cannot open files; nor can anything else here
    while True:
        header = _read_exact(reader, _HEADER.size)
        if header is None:
            return  # the server closed the pipe: it ended, or it let this child go
        body = _read_exact(reader, _HEADER.unpack(header)[0])
        if body is None:
            return
        answer = handle(json.loads(body))
        try:
            out = json.dumps(answer, allow_nan=False, separators=(",", ":")).encode()
        except MemoryError:
            out = b'{"limit":"memory"}'
        except (TypeError, ValueError) as exc:  # json_problem let through what JSON cannot write
            out = json.dumps({"ok": False, "error": "ValueError", "arg": f"the result is not JSON: {exc}"}).encode()
        _write_all(writer, _HEADER.pack(len(out)) + out)
        del answer, out, body


if __name__ == "__main__":
    main()
