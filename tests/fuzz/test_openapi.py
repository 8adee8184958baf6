"""An outside fuzzer finds nothing: Schemathesis over the whole OpenAPI document of the app.

The app runs in-process (Schemathesis' ASGI transport, no network) on a seeded database: every service of
processes/ deployed, the demo centers and users, an open case with its task, a queue ticket. Every operation is
called with an admin's token, with data that fits its declared schema and with data that breaks it, and with the
seeded case's numbers in its path where it has one (so the calls get past the 404s). Checks on every answer:

- no 5xx (a server error is a bug whatever the input);
- the status is one the document declares for the operation (refusals included: api/openapi.py);
- the media type and the body are as declared;
- input that breaks the schema is refused (a 4xx), never taken.

Deterministic: Hypothesis is derandomized (the same examples every run, from the schema alone) and keeps no
example database, so a failure here is the same failure on the next run and on CI.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode, checks
from schemathesis.python import asgi
from sqlmodel import Session, select

from api.app import create_app
from cli.main import deploy_folder
from engine.people.demo import ensure_demo_users
from engine.people.users import issue_token
from harness.api import Api
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.people import User

pytestmark = pytest.mark.slow

# Examples per operation and kind of data (valid, invalid, valid with the seeded numbers in the path): enough to
# find the 500s this test was written for, and small enough for about a minute per database on these machines.
EXAMPLES = 20
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.negative_data_rejection]
# Shown per failure: the check, the answer and the curl line that reproduces it.
REPORT_LINES = 14


def _hypothesis_settings() -> hypothesis.settings:
    # No shrinking (time) and no example database (files, and answers that change between runs): derandomized,
    # the examples are a function of the schema only. The health checks are about slow or filtered generation,
    # which a schema of 70 operations has by nature; they say nothing about the app.
    return hypothesis.settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                               phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                               print_blob=False)


def _seed(api: Api) -> dict[str, Any]:
    """A case waiting at its first task and a ticket at the kiosk; their numbers, by path parameter name."""
    clerk = api.user("front_desk")
    opened = api.open_case("building_permit", clerk)
    assert opened.status_code == 201, opened.text
    case = opened.json()
    task = next(t for t in case["tasks"] if t["state"] == "ready")
    ticket = api.client.post("/api/queue/tickets", json={"category": "permits"})
    assert ticket.status_code == 201, ticket.text
    return {"case_id": case["id"], "tracking_number": case["tracking_number"], "task_id": task["id"],
            "number": ticket.json()["number"], "code": "building_permit", "version": 1, "a": 1, "b": 1,
            "kind": "national_id_copy"}


def _short(exc: BaseException) -> str:
    return "\n".join(str(exc).splitlines()[:REPORT_LINES])


def test_the_api_survives_a_fuzzer(database_url: str, tmp_path: Path) -> None:
    # The board's event stream ends by itself after SHUBBAK_QUEUE_BOARD_STREAM_SECONDS: short here.
    settings = make_settings(database_url, tmp_path, queue_board_stream_seconds=0.05, queue_board_poll_ms=50)
    deploy_folder(settings, settings.processes_dir)
    with Session(engine_for(settings.database_url)) as session:
        ensure_demo_users(session, settings)
        admin = session.exec(select(User).where(User.username == "admin")).one()
        token = issue_token(admin, settings)
    app = create_app(settings)
    with TestClient(app) as client:
        known = _seed(Api(client, settings))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    auth = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    started = time.monotonic()
    operations = 0
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            names = {p.name for p in operation.path_parameters}
            runs: list[tuple[GenerationMode, dict[str, Any] | None]] = [
                (GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
            if names and names <= known.keys():
                runs.append((GenerationMode.POSITIVE, {n: known[n] for n in names}))
            for mode, path in runs:

                @_hypothesis_settings()
                @hypothesis.given(operation.as_strategy(mode, path_parameters=path))
                def call(case: schemathesis.Case) -> None:
                    case.call_and_validate(headers=auth, checks=CHECKS)

                try:
                    call()
                except hypothesis.errors.Unsatisfiable:
                    # Nothing to negate (no parameters, or only a free string in the path) is fine; an
                    # operation with no valid input at all is not.
                    if mode is GenerationMode.POSITIVE:
                        raise
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported together below
                    label = f"{operation.label} [{mode.value}{', seeded path' if path else ''}]"
                    failures.append(f"{label}\n{_short(exc)}")
    finally:
        asgi.shutdown_lifespans()  # the app Schemathesis started for its calls, before the database goes
        spent = time.monotonic() - started
    assert operations >= 70, f"only {operations} operations in the OpenAPI document"
    assert not failures, f"{len(failures)} failing runs in {spent:.0f}s:\n\n" + "\n\n".join(failures)
