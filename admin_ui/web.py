"""Mount the pages on the FastAPI app: their routes, their static files and their session cookie."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from admin_ui import routes, session
from engine.core.settings import Settings

STATIC = Path(__file__).with_name("static")
# Page forms that carry scans: the front desk's intake (one per paper of the service) and "attach scans".
_SCAN_FORMS = re.compile(r"^/(desk/[^/]+|cases/\d+/documents)/?$")
MAX_SCANS_PER_FORM = 12
# The modeler's draft calls carry a whole service's files, as a deploy does.
_DRAFT_CALLS = re.compile(r"^/services/[^/]+/draft(/validate)?/?$")


def body_limit(path: str, settings: Settings) -> int | None:
    """The request body limit of a page that takes scans; None for every other path (the API's default)."""
    if _SCAN_FORMS.match(path):
        return settings.max_document_bytes * MAX_SCANS_PER_FORM + settings.max_request_bytes
    if _DRAFT_CALLS.match(path):
        return settings.max_deploy_bytes + settings.max_request_bytes
    return None


def install(app: FastAPI, settings: Settings) -> None:
    app.include_router(routes.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    session.install(app, settings)
