"""The pages, one module per place in the center: sign-in, front desk, inbox, cases, public tracking."""

from __future__ import annotations

from fastapi import APIRouter

from admin_ui.routes import accounts as account_pages
from admin_ui.routes import (
    analyst,
    auth,
    bulk,
    cases,
    citizen,
    citizen_visits,
    counter,
    desk,
    find,
    inbox,
    modeler,
    papers,
    public,
    ratings,
    reports,
    supervisor,
)
from admin_ui.routes import queue as queue_pages

router = APIRouter(include_in_schema=False)
for _module in (auth, desk, inbox, cases, papers, public, find, citizen, citizen_visits, analyst, modeler,
                ratings, supervisor, reports, counter, bulk):
    router.include_router(_module.router)
router.include_router(queue_pages.router)  # the hall's kiosk, counters and display board
router.include_router(account_pages.router)  # one's password; admins' users pages
