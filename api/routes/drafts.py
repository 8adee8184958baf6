"""Analysts' drafts of a service: read, save (overwrite), validate and publish, as the web modeler does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import CurrentActor, SessionDep, SettingsDep, allow, central_only
from engine.catalog import deploy_checks, drafts, processes
from engine.outputs import preview

router = APIRouter(prefix="/api/services", tags=["processes"])


class DraftFiles(BaseModel):
    """A service's files, name to text (binary content as ``base64:…``)."""

    files: dict[str, str]


class DraftSave(DraftFiles):
    revision: int = Field(description="the draft revision the files were edited from; 0 when none was saved")


class DraftPublic(DraftFiles):
    service_code: str
    revision: int
    base_version: int | None
    saved_by: str | None
    saved_at: datetime | None
    published_version: int | None

    @classmethod
    def of(cls, draft: drafts.Draft) -> DraftPublic:
        return cls(service_code=draft.service_code, files=processes.encode_files(draft.files),
                   revision=draft.revision, base_version=draft.base_version, saved_by=draft.saved_by,
                   saved_at=draft.saved_at, published_version=draft.published_version)


@router.get("/{code}/draft", dependencies=[allow("services.deploy")], response_model=DraftPublic)
def get_draft(code: str, session: SessionDep, actor: CurrentActor) -> DraftPublic:
    return DraftPublic.of(drafts.open_draft(session=session, service_code=code, actor=actor))


@router.put("/{code}/draft", dependencies=[allow("services.deploy")], response_model=DraftPublic)
def save_draft(code: str, body: DraftSave, session: SessionDep, settings: SettingsDep,
               actor: CurrentActor) -> DraftPublic:
    return DraftPublic.of(drafts.save_draft(session=session, service_code=code,
                                            files=processes.decode_files(body.files), revision=body.revision,
                                            actor=actor, settings=settings))


@router.post("/{code}/draft/validate", dependencies=[allow("services.deploy")])
def validate(code: str, body: DraftFiles, settings: SettingsDep, actor: CurrentActor) -> dict[str, Any]:
    """Every problem a deploy of these files would meet (element id and name, reason, fix); none: publishable."""
    files = processes.decode_files(body.files)
    drafts.check_files(files, settings)
    problems = deploy_checks.validate(files, settings)
    return {"service_code": code, "valid": not problems, "problems": problems}


class PreviewIn(DraftFiles):
    path: str | None = Field(default=None, max_length=200,
                             description="the paths.json path whose data fills the template (default: the first "
                                         "that reaches the output)")


@router.post("/{code}/draft/outputs/{kind}/preview", dependencies=[allow("services.deploy")],
             response_class=Response)
def preview_output(code: str, kind: str, body: PreviewIn, settings: SettingsDep, actor: CurrentActor) -> Response:
    """The draft's output ``kind`` as a PDF, filled with a test path's data: unsigned, numbered PREVIEW."""
    files = processes.decode_files(body.files)
    drafts.check_files(files, settings)
    content = preview.render(files=files, kind=kind[:64], path=body.path, settings=settings)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": 'inline; filename="preview.pdf"'})


@router.post("/{code}/draft/publish", dependencies=[allow("services.deploy"), central_only()], status_code=201)
def publish(code: str, session: SessionDep, settings: SettingsDep, actor: CurrentActor,
            response: Response) -> dict[str, Any]:
    row, created = drafts.publish_draft(session=session, service_code=code, actor=actor, settings=settings)
    if not created:
        response.status_code = 200
    return {"service_code": row.service_code, "version": row.version, "sha256": row.sha256, "created": created}
