"""Deploying and listing services' process versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Response, UploadFile

from api.deps import CurrentActor, SessionDep, SettingsDep, allow, central_only
from api.schemas import ProcessPublic
from engine.catalog import processes
from engine.core.errors import Invalid
from engine.core.refusals import say

router = APIRouter(prefix="/api", tags=["processes"])


@router.post("/processes", dependencies=[allow("services.deploy"), central_only()], status_code=201)
def deploy(files: Annotated[list[UploadFile], File()], session: SessionDep, settings: SettingsDep,
           actor: CurrentActor, response: Response) -> dict[str, Any]:
    """A plain ``def``: compiling the diagram and running its paths takes seconds, in a worker thread, while the
    event loop keeps answering other requests (tests/api/test_event_loop.py)."""
    contents: dict[str, bytes] = {}
    for upload in files:
        name = upload.filename or ""
        if name in contents:
            raise Invalid("api.same_file_twice",
                          [{"file": name, "element_id": None, "message": say("api.send_each_file_once")}])
        contents[name] = upload.file.read()  # already received and spooled by the form parser
    row, created = processes.deploy(session=session, files=contents, actor=actor, settings=settings)
    if not created:
        response.status_code = 200
    return {"process_id": row.process_id, "version": row.version, "sha256": row.sha256,
            "service_code": row.service_code, "created": created}


@router.get("/processes", dependencies=[allow("services.read")], response_model=list[ProcessPublic])
def list_processes(session: SessionDep, service_code: str | None = None) -> list[ProcessPublic]:
    return [ProcessPublic.of(row) for row in processes.list_versions(session, service_code=service_code)]


@router.get("/services", dependencies=[allow("catalog.read")])
def list_services(session: SessionDep, _actor: CurrentActor) -> list[dict[str, Any]]:
    return processes.list_services(session)
