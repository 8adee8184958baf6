"""A command killed at a chosen point: run in a child process that SIGKILLs itself there.

``killed_at(settings, at="engine.payments.drawer:append", call="engine.payments.pay:pay", ...)`` starts a Python
process that opens its own session, replaces the function ``at`` by one that runs it (``after=True``) or not and
then kills the process with SIGKILL: no ``finally``, no rollback, no exit handler runs, as when the power goes or
the kernel's OOM killer strikes. The caller then looks at what the database and the store kept.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
from typing import Any

from engine.core.settings import Settings
from harness.settings import ROOT


def killed_at(settings: Settings, *, at: str, call: str, kwargs: dict[str, Any], actor: dict[str, Any] | None = None,
              after: bool = True, timeout: float = 60.0) -> None:
    """Run ``call(session=…, settings=…, [actor=…], **kwargs)`` in a child until it reaches ``at``; assert that
    it died there, by SIGKILL, and not earlier by an error of its own."""
    spec = {"settings": settings.model_dump(mode="json", exclude_none=True), "at": at, "call": call,
            "kwargs": kwargs, "actor": actor, "after": after}
    done = subprocess.run([sys.executable, "-m", "tests.support.midway"], input=json.dumps(spec), text=True,
                          capture_output=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == -signal.SIGKILL, f"exit {done.returncode}: {done.stderr[-3000:]}"
    assert "REACHED" in done.stdout, done.stdout + done.stderr[-3000:]


def _resolve(dotted: str) -> tuple[Any, str]:
    module, name = dotted.split(":")
    return importlib.import_module(module), name


def _child() -> None:
    from engine.people.users import Actor
    from storage.db import session_for

    spec = json.load(sys.stdin)
    settings = Settings.model_validate(spec["settings"])
    owner, name = _resolve(spec["at"])
    original = getattr(owner, name)

    def stop_here(*args: Any, **kwargs: Any) -> Any:
        if spec["after"]:
            original(*args, **kwargs)
        print("REACHED", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(owner, name, stop_here)
    target, call = _resolve(spec["call"])
    extra: dict[str, Any] = {}
    if spec["actor"] is not None:
        who = spec["actor"]
        extra["actor"] = Actor(who["username"], frozenset(who["roles"]), who.get("full_name", ""),
                               who.get("center_id"))
    with session_for(settings.database_url) as session:
        getattr(target, call)(session=session, settings=settings, **extra, **spec["kwargs"])
    print("FINISHED without reaching the point", flush=True)


if __name__ == "__main__":
    _child()
