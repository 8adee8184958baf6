"""The one place where the application is put together: the API's routers, the pages (admin_ui/), their
static files and session cookie, the error handlers, the middlewares and the embedded background loops.

Both faces share one dependency vocabulary (api/deps.py) and one error-to-status mapping (engine/core/errors.py)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from admin_ui import routes as pages
from admin_ui import session as page_session
from admin_ui.pages import STATIC
from api import errors, observability
from api import metrics as metrics_route
from api import openapi as api_openapi
from api.idempotency import Idempotency
from api.limits import BodyLimit, limit_for
from api.nul import RefuseNul
from api.resilience import DatabaseTrouble
from api.routes import appointments as appointment_routes
from api.routes import (
    assignment,
    audit,
    auth,
    cases,
    citizen,
    complaints,
    documents,
    drafts,
    health,
    open311,
    outputs,
    payments,
    processes,
    public,
    ratings,
    reports,
    services,
    supervisor,
    tasks,
)
from api.routes import centers as center_routes
from api.routes import incidents as incident_routes
from api.routes import messages as message_routes
from api.routes import queue as queue_routes
from api.routes import users as user_routes
from engine.cases import documents as document_store
from engine.core import redact
from engine.core.settings import Settings, get_settings
from engine.messages import gateways as message_gateways
from engine.operations import periodic

log = logging.getLogger(__name__)


async def _every(job: periodic.Job, settings: Settings) -> None:
    # The embedded default has no Celery beat: one loop per job of engine/operations/periodic.py plays its part
    # inside the API process, outside any request; each round takes the job's turn (one process at a time runs it).
    while True:
        await asyncio.sleep(job.every(settings))
        try:
            await run_in_threadpool(periodic.run_round, job, settings)
        except Exception:  # noqa: BLE001 - a failing round must not stop the next one
            log.exception("periodic job %s failed", job.name)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The document store's folder or bucket is made on start: a misconfigured store stops the start.
        await run_in_threadpool(document_store.store_for(settings).prepare)
        # A misconfigured gateway stops the start too, not the first message.
        message_gateways.for_channel("sms", settings)
        message_gateways.for_channel("email", settings)
        loops = [] if settings.broker_url else [  # with a broker, beat runs them (cli/worker.py)
            asyncio.create_task(_every(job, settings)) for job in periodic.JOBS if job.every(settings) > 0]
        yield
        for loop in loops:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    app = FastAPI(title="Shubbak", version="0.1.0", lifespan=lifespan,
                  description="Case management for one-stop citizen service centers (شبّاك).")
    app.state.settings = settings
    redact.install_access_log_redaction()  # no personal data from query strings in the access log
    errors.install(app)
    app.include_router(health.router)  # /healthz, /readyz
    for module in (auth, processes, services, drafts, cases, tasks, documents, public, outputs):
        app.include_router(module.router)
    app.include_router(audit.router)
    app.include_router(reports.router)
    app.include_router(ratings.router)
    app.include_router(citizen.router)  # the citizen's own side (engine/citizen/)
    app.include_router(appointment_routes.router)  # booked visits (engine/queue/appointments.py)
    app.include_router(open311.router)  # Open311 GeoReport v2 for outside applications (engine/citizen/open311.py)
    app.include_router(message_routes.router)
    app.include_router(complaints.router)
    app.include_router(queue_routes.router)
    app.include_router(supervisor.router)
    app.include_router(assignment.router)  # work distribution (engine/cases/assignment.py)
    app.include_router(center_routes.router)
    app.include_router(payments.router)  # bills, drawers, receipts, refunds (engine/payments/)
    app.include_router(incident_routes.router)  # failed steps (engine/cases/incidents.py)
    app.include_router(user_routes.router)  # the user lifecycle (docs/security.md)

    app.add_middleware(RefuseNul)  # inside the size limit: it reads JSON and form bodies whole
    app.add_middleware(BodyLimit, limit_for=functools.partial(limit_for, settings=settings))
    # The pages (admin_ui/): front desk, inbox, case pages, public tracking; their files and session cookie.
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SessionMiddleware, **page_session.cookie_options(settings))
    api_openapi.install(app)  # the refusals every route may answer, declared in the OpenAPI document
    # Retried POSTs answered from their Idempotency-Key; database trouble a 503, never a 500 (outermost).
    app.add_middleware(Idempotency, settings=settings)
    app.add_middleware(DatabaseTrouble, settings=settings)
    # Operations (docs/deployment.md): /metrics, and a request id, metrics and a JSON log line per request;
    # added last, so it is the outermost of the app's middlewares and sees every answer's final status.
    metrics_route.install(app, settings)
    app.add_middleware(observability.Observe, settings=settings)
    api_openapi.tried_first(app, (tasks.router, cases.router))  # the hot path's routes, matched first
    return app
