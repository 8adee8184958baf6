"""(c) The HTTP API served by uvicorn in its own process, driven by concurrent clients on loopback."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx

from bench.workload import CITIZEN, approved_path
from tests.support.process import memory_mb, serve

# One way to run and measure a server process, shared with the tests that measure it from outside.
server = serve
rss_mb = memory_mb


async def _lifecycles(base: str, headers: dict[str, dict[str, str]], count: int, clients: int,
                      completions: list[float] | None) -> None:
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
                    t0 = time.perf_counter()
                    r = await client.post(f"/api/tasks/{task['id']}/complete", headers=headers[step.lane],
                                          json={"data": step.data})
                    if completions is not None:
                        completions.append((time.perf_counter() - t0) * 1000)
                    r.raise_for_status()
                    case = r.json()
                assert case["status"] == "completed"

    await asyncio.gather(*(worker() for _ in range(clients)))


def run(base: str, headers: dict[str, dict[str, str]], count: int, clients: int,
        completions: list[float] | None = None) -> float:
    """Cases per second through the API; the milliseconds of each completion go to ``completions``."""
    started = time.perf_counter()
    asyncio.run(_lifecycles(base, headers, count, clients, completions))
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process and every process below it (uvicorn's workers,
    PostgreSQL's backends): what a lifecycle costs in CPU, which a busy shared machine does not change much."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo, seen = 0.0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total
