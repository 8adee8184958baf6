"""One JSON log line per request: its id (the caller's when sane), user, route template, status and time; no
personal data."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest

from api.observability import RequestIdFilter, accepted_id
from harness.api import CITIZEN, Api
from harness.settings import ROOT, TEST_PROCESSES
from tests.support.logs import Lines, lines_fixture  # noqa: F401 - the fixture


def test_a_sane_request_id_is_kept_and_echoed(sqlite_api: Api, lines: Lines) -> None:
    r = sqlite_api.client.get("/api/services", headers={"X-Request-ID": "lb-7f3a.91:2"})
    assert r.headers["X-Request-ID"] == "lb-7f3a.91:2"
    [line] = lines.read()
    assert line["request_id"] == "lb-7f3a.91:2"


@pytest.mark.parametrize("sent", ["x" * 65, "x" * 10240, "two words", 'quo"te', "tab\tbreak", "١٢٣", "café",
                                  "semi;colon", "", "id\n{\"level\": \"ERROR\", \"message\": \"forged\"}",
                                  "id\r\nSet-Cookie: s=1", "lb-1\n", "nul\x00byte", "\u202eevil"])
def test_an_insane_request_id_is_replaced(sqlite_api: Api, lines: Lines, sent: str) -> None:
    r = sqlite_api.client.get("/api/services", headers=[(b"X-Request-ID", sent.encode())])
    made = r.headers["X-Request-ID"]
    assert made != sent and len(made) == 32 and made.isalnum()
    [line] = lines.read()
    assert line["request_id"] == made


def test_a_request_without_an_id_gets_a_new_one_each_time(sqlite_api: Api) -> None:
    ids = {sqlite_api.client.get("/api/services").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_the_line_names_user_route_status_and_time_never_personal_data(sqlite_api: Api,
                                                                        lines: Lines) -> None:
    api = sqlite_api
    assert api.deploy(TEST_PROCESSES / "test_permit", api.user("analyst")).status_code == 201
    clerk = api.user("front_desk", username="clerk_log")
    lines.read()
    case = api.open_case("test_permit", clerk).json()
    api.client.get(f"/api/cases/{case['id']}", headers=clerk,
                   params={"national_id": CITIZEN["national_id"], "phone": CITIZEN["phone"]})
    api.client.get("/api/cases", headers={"Authorization": "Bearer not-a-token"})
    logged = lines.read()
    deploy_lines = [entry for entry in logged if entry["route"] == "/api/processes"]
    opened, looked, refused = [entry for entry in logged if entry not in deploy_lines][-3:]
    assert (opened["method"], opened["route"], opened["status"], opened["user"]) == (
        "POST", "/api/cases", 201, "clerk_log")
    assert (looked["route"], looked["status"], looked["user"]) == ("/api/cases/{case_id}", 200, "clerk_log")
    assert (refused["route"], refused["status"], refused["user"]) == ("/api/cases", 401, None)
    assert all(isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0 for entry in logged)
    assert all(entry["level"] == "INFO" and entry["logger"] == "shubbak.access" for entry in logged)
    raw = json.dumps(logged, ensure_ascii=False)
    for personal in (CITIZEN["national_id"], CITIZEN["phone"].lstrip("+"), CITIZEN["full_name"],
                     case["tracking_number"], f"/api/cases/{case['id']}", "national_id="):
        assert personal not in raw


def test_outside_a_request_lines_have_no_id() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    assert RequestIdFilter().filter(record) and record.request_id is None  # type: ignore[attr-defined]
    assert accepted_id(None, 64) != accepted_id(None, 64)


_SERVER = textwrap.dedent("""
    import logging, logging.config, sys
    from pathlib import Path
    from fastapi.testclient import TestClient
    from api.app import create_app
    from api.observability import logging_config
    from tests.conftest import make_settings

    settings = make_settings(sys.argv[1], Path(sys.argv[2]))
    logging.config.dictConfig(logging_config(settings))
    with TestClient(create_app(settings)) as client:
        client.get("/api/cases/42?national_id=29001011234567", headers={"X-Request-ID": "edge-1"})
        logging.getLogger("engine.anything").warning("a line of the app, outside any request")
""")


def test_a_serving_process_writes_json_lines_to_stderr(sqlite_url: str, tmp_path: object) -> None:
    """The logging configuration `shubbak serve` hands to uvicorn: every line one JSON object."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _SERVER, sqlite_url, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    access = [r for r in records if r["logger"] == "shubbak.access"]
    assert [(r["route"], r["status"], r["request_id"]) for r in access] == [("/api/cases/{case_id}", 401, "edge-1")]
    other = next(r for r in records if r["logger"] == "engine.anything")
    assert other["level"] == "WARNING" and other["request_id"] is None
    assert "29001011234567" not in done.stderr

