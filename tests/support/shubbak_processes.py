"""``shubbak`` commands as processes of their own, for tests that break the production shape from outside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlmodel import Session

from engine.catalog import processes
from engine.catalog.packages import read_package
from engine.core.settings import Settings
from engine.people.users import Actor, create_user, issue_token
from storage.db import engine_for
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
TEST_PROCESSES = ROOT / "tests" / "processes"


@contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A ``shubbak`` command in its own process group, stopped (TERM, then KILL) at the end."""
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", *argv], cwd=ROOT, env={**os.environ, **env},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def children(pid: int) -> set[int]:
    """The API worker processes of a ``serve --workers`` supervisor (its children, minus helpers)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"resource_tracker" not in cmdline:
            found.add(int(stat.parent.name))
    return found


def wait_for(what: str, check: Callable[[], bool], timeout: float, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs.glob("*.log"))
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.2)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def prepare(settings: Settings, service: str) -> tuple[dict[str, str], dict[str, str]]:
    """Migrate, deploy the test service, and make a clerk and a reviewer: their authorization headers."""
    upgrade(settings.database_url)
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        processes.deploy(session=session, files=read_package(TEST_PROCESSES / service),
                         actor=Actor("test", frozenset({"admin"}), "Test"), settings=settings)
        clerk = create_user(session=session, username="clerk", password="correct horse", full_name="Clerk",
                            roles=["front_desk"], settings=settings, installation_wide=True)
        reviewer = create_user(session=session, username="reviewer", password="correct horse",
                               full_name="Reviewer", roles=["reviewer"], settings=settings, installation_wide=True)
        return ({"Authorization": f"Bearer {issue_token(clerk, settings)}"},
                {"Authorization": f"Bearer {issue_token(reviewer, settings)}"})


def served_env(settings: Settings, gateway: str) -> dict[str, str]:
    """What every served ``shubbak`` process of these tests shares: ``settings``' places and secret, cheap
    passwords, the SMS gateway at ``gateway``, and the short polls, ticks and graces that keep a test quick.
    Each test adds its database and its own timings."""
    return {"SHUBBAK_ENVIRONMENT": "test", "SHUBBAK_VAR_DIR": str(settings.var_dir),
            "SHUBBAK_STORAGE_URL": settings.storage_url, "SHUBBAK_SECRET_KEY": settings.secret_key or "",
            "SHUBBAK_PASSWORD_TIME_COST": "1", "SHUBBAK_PASSWORD_MEMORY_KIB": "64",
            "SHUBBAK_SMS_GATEWAY": "http",
            "SHUBBAK_SMS_GATEWAY_OPTIONS": json.dumps({"url": gateway, "timeout_seconds": 30}),
            "SHUBBAK_MESSAGE_POLL_SECONDS": "0.5", "SHUBBAK_TIMER_TICK_SECONDS": "1",
            "SHUBBAK_RETRY_AFTER_SECONDS": "1", "SHUBBAK_SHUTDOWN_GRACE_SECONDS": "3"}
