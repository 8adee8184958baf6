"""(c) The HTTP API served by uvicorn in its own process, driven by concurrent clients on loopback."""

from __future__ import annotations

import asyncio
import time

import httpx

from bench.workload import CITIZEN, approved_path
from harness.process import memory_mb, serve

# One way to run and measure a server process, shared with the tests that measure it from outside.
server = serve
rss_mb = memory_mb


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
