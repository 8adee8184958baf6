"""A service's versions: compare two, retire one or the whole service, migrate open cases to a newer one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CurrentActor, SessionDep, SettingsDep, allow, central_only
from api.params import VersionNumber
from api.schemas import CaseMovePublic, MigrationPublic, MigrationRequest, VersionPublic
from engine.cases import version_moves
from engine.catalog import versions

router = APIRouter(prefix="/api/services", tags=["processes"])


@router.get("/{code}/versions/{a}/diff/{b}", dependencies=[allow("services.read")])
def diff(code: str, a: VersionNumber, b: VersionNumber, session: SessionDep, settings: SettingsDep,
         actor: CurrentActor) -> dict[str, Any]:
    return versions.diff_versions(session=session, service_code=code, a=a, b=b, actor=actor, settings=settings)


@router.post("/{code}/versions/{version}/retire", dependencies=[allow("services.deploy"), central_only()],
             response_model=VersionPublic)
def retire_version(code: str, version: VersionNumber, session: SessionDep, actor: CurrentActor) -> VersionPublic:
    return VersionPublic.of(versions.retire_version(session=session, service_code=code, version=version,
                                                    actor=actor))


@router.post("/{code}/retire", dependencies=[allow("services.deploy"), central_only()],
             response_model=list[VersionPublic])
def retire_service(code: str, session: SessionDep, actor: CurrentActor) -> list[VersionPublic]:
    return [VersionPublic.of(row) for row in versions.retire_service(session=session, service_code=code,
                                                                     actor=actor)]


@router.post("/{code}/migrations", dependencies=[allow("services.deploy")], response_model=MigrationPublic)
def migrate(code: str, body: MigrationRequest, session: SessionDep, settings: SettingsDep,
            actor: CurrentActor) -> MigrationPublic:
    command = version_moves.dry_run if body.dry_run else version_moves.migrate
    moves = command(session=session, service_code=code, to_version=body.to_version, actor=actor, settings=settings)
    return MigrationPublic(service_code=code, to_version=body.to_version, dry_run=body.dry_run,
                           cases=[CaseMovePublic(**m.as_dict()) for m in moves],
                           moved=sum(m.moved for m in moves), not_moved=sum(not m.moved for m in moves))
