"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: engine/operations/readiness.py), for load balancers
and orchestrators. Neither needs a token nor says anything about cases."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.deps import SettingsDep, allow
from engine.core.refusals import arabic_or_general, say
from engine.operations import readiness

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", dependencies=[allow("public")])
def healthz() -> dict[str, str]:
    """Alive: the process answers. Restart it when this fails; take it out of rotation on ``/readyz``."""
    return {"status": "alive"}


@router.get("/readyz", dependencies=[allow("public")])
async def readyz(settings: SettingsDep) -> JSONResponse:
    """Ready: 200 with each check "ok", or 503 with each failing check's reason."""
    found = await run_in_threadpool(readiness.checks, settings)  # reads the migrations' files: not on the loop
    results = await asyncio.gather(*(_run(check, settings.readiness_timeout_seconds) for check in found.values()))
    report = dict(zip(found, results, strict=True))
    ready = all(result == "ok" for result in report.values())
    answer: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": report}
    if not ready:  # in Arabic too, as every refusal (api/errors.py): the summary and each failing check's reason
        said = say("readiness.not_ready")
        answer |= {"message": said, "message_ar": said.ar, "message_id": said.message_id}
        answer["checks_ar"] = {name: "ok" if result == "ok" else arabic_or_general(result)
                               for name, result in report.items()}
    return JSONResponse(answer, status_code=200 if ready else 503,
                        headers=None if ready else {"Retry-After": str(settings.retry_after_seconds)})


async def _run(check: readiness.Check, timeout: float) -> str:
    try:
        reason = await asyncio.wait_for(run_in_threadpool(check), timeout)
    except TimeoutError:
        return say("readiness.no_answer", seconds=f"{timeout:g}")
    except Exception as exc:  # noqa: BLE001 - any failure is a reason not to be ready; say which
        # The answer is public: it names the kind of failure, never the hosts, ports or paths in its text
        # (those go to the log, for the operator).
        log.warning("not ready: %s", f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        return say("readiness.failed", kind=type(exc).__name__)
    return reason or "ok"
