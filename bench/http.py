"""(c) The HTTP API served by uvicorn in its own process, driven by concurrent clients on loopback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.workload import CITIZEN, ROOT, approved_path


@contextmanager
def server(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Start `shubbak serve` on 127.0.0.1:port with ``env`` and wait until it answers."""
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--log-level",
                             "warning", "--no-access-log"], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else ""
                raise RuntimeError(f"the API server did not start: {err[-2000:]}")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _lifecycles(base: str, headers: dict[str, dict[str, str]], count: int, clients: int) -> None:
    steps = approved_path()
    remaining = count
    lock = asyncio.Lock()

    async def worker() -> None:
        nonlocal remaining
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            while True:
                async with lock:
                    if remaining <= 0:
                        return
                    remaining -= 1
                r = await client.post("/api/cases", headers=headers["front_desk"],
                                      json={"service_code": "building_permit", "citizen": CITIZEN, "data": {}})
                r.raise_for_status()
                case = r.json()
                for step in steps:
                    task = case["tasks"][0]
                    assert task["name"] == step.task, (task["name"], step.task)
                    r = await client.post(f"/api/tasks/{task['id']}/complete", headers=headers[step.lane],
                                          json={"data": step.data})
                    r.raise_for_status()
                    case = r.json()
                assert case["status"] == "completed"

    await asyncio.gather(*(worker() for _ in range(clients)))


def run(base: str, headers: dict[str, dict[str, str]], count: int, clients: int) -> float:
    """Cases per second through the API."""
    started = time.perf_counter()
    asyncio.run(_lifecycles(base, headers, count, clients))
    return count / (time.perf_counter() - started)


def latencies(base: str, path: str, headers: dict[str, str], requests: int) -> list[float]:
    """Sequential GETs; milliseconds each."""
    out = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(requests):
            t0 = time.perf_counter()
            r = client.get(path, headers=headers)
            out.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
    return out
