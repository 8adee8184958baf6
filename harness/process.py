"""`shubbak serve` in its own process on a loopback port, for tests that measure the server from outside."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from harness.settings import ROOT


@contextmanager
def serve(env: dict[str, str], port: int, argv: list[str] | None = None, *, start_seconds: float = 30,
          stop_seconds: float = 20) -> Iterator[subprocess.Popen[bytes]]:
    """Start the server (``shubbak serve``, or ``argv``) with ``env`` added to this environment, wait until it
    answers /healthz on ``port``, stop it afterwards."""
    argv = argv or ["-m", "cli.main", "serve", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env={**os.environ, **env},
                                stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + start_seconds
            while not _answers(port):
                if time.monotonic() > deadline or proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"the server did not start: {log.read().decode()[-2000:]}")
                time.sleep(0.1)
            yield proc
        finally:
            stop(proc, stop_seconds)


def stop(proc: subprocess.Popen[bytes], seconds: float = 10) -> None:
    """Ask ``proc`` to end (SIGTERM), and kill it if it has not ended within ``seconds``."""
    proc.terminate()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")
