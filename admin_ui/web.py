"""Mount the pages on the FastAPI app: their routes, their static files and their session cookie."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from admin_ui import routes, session
from engine.settings import Settings

STATIC = Path(__file__).with_name("static")


def install(app: FastAPI, settings: Settings) -> None:
    app.include_router(routes.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    session.install(app, settings)
