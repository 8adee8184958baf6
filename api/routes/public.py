"""Routes that need no sign-in: citizens' tracking, finding a service and its public description (the health
checks are api/routes/health.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import ClientAddress, SessionDep, SettingsDep, allow
from api.params import LAST4_PATTERN
from api.schemas import ServicePagePublic, ServiceSearchPublic, TrackPublic
from api.views import track_view
from engine.catalog import finder, service_page

router = APIRouter(tags=["public"])


@router.get("/api/public/track/{tracking_number}", dependencies=[allow("public")], response_model=TrackPublic)
def track(tracking_number: str, phone_last4: Annotated[str, Query(pattern=LAST4_PATTERN)], session: SessionDep,
          settings: SettingsDep, client: ClientAddress) -> TrackPublic:
    return track_view(session, settings, tracking_number=tracking_number, phone_last4=phone_last4, client=client)


@router.get("/api/services/search", dependencies=[allow("public")], response_model=ServiceSearchPublic)
def search_services(q: Annotated[str, Query(max_length=1000)], session: SessionDep, settings: SettingsDep,
                    client: ClientAddress) -> ServiceSearchPublic:
    """Find a service by what a citizen types, in Arabic or English (names, synonyms, agency; spelling variants
    and typos forgiven): best first. 422 for an empty or overlong query; 429 past the searches one address may
    make per minute (``SHUBBAK_SERVICE_SEARCH_MAX_PER_ADDRESS``)."""
    found = finder.search(session=session, query=q, settings=settings, client=client)
    return ServiceSearchPublic(query=q, results=found)  # type: ignore[arg-type]


@router.get("/api/public/services/{code}", dependencies=[allow("public")], response_model=ServicePagePublic)
def service_description(code: Annotated[str, Path(max_length=100)], session: SessionDep,
                        settings: SettingsDep) -> ServicePagePublic:
    """What a citizen needs before the trip: papers, fee (the decision table in words), time to complete, where
    to go, frequently asked questions. 404 for a code no live service has."""
    return ServicePagePublic(**service_page.page(session=session, code=code, settings=settings))
