"""What can be checked here of the deployment files (they run on other machines): they parse, they name only
services, settings and commands that exist, and the sample dashboard and alerts use only metrics the app exports.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from cli.main import parser
from engine.core.settings import Settings
from harness.postgres import LocalPostgres
from harness.settings import ROOT
from storage.db import dispose
from storage.migrate import upgrade
from tests.conftest import missing

COMPOSE = ROOT / "compose.yaml"
CONTAINERFILE = ROOT / "Containerfile"
SYSTEMD = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
DASHBOARD = ROOT / "docs" / "ops" / "grafana-dashboard.json"
ALERTS = ROOT / "docs" / "ops" / "prometheus-alerts.yaml"
SCRAPE = ROOT / "docs" / "ops" / "prometheus.yml"
SETTING = re.compile(r"\bSHUBBAK_[A-Z0-9_]+")
METRIC = re.compile(r"\bshubbak_[a-z0-9_]+")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def check_command(argv: list[str], where: str) -> None:
    """``argv`` (after the ``shubbak`` program) must be a command line the CLI accepts as it is."""
    try:
        args = parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: `shubbak {' '.join(argv)}` is not a command line the CLI accepts")
    assert callable(args.func)


def test_compose_names_only_services_that_exist_each_with_a_health_check() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "minio", "minio-setup", "migrate", "api", "worker", "beat"}
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services and needed != name, f"{name} depends on {needed}"
        check = service.get("healthcheck")
        assert check, f"{name} has no health check"
        assert check.get("disable") is True or check["test"][0] == "CMD", name
    assert services["migrate"]["healthcheck"] == {"disable": True}  # it runs once and ends
    assert services["minio-setup"]["healthcheck"] == {"disable": True}
    api_check = " ".join(services["api"]["healthcheck"]["test"])
    assert "/readyz" in api_check
    for name in ("api", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_compose_and_units_name_only_real_settings() -> None:
    fields = set(Settings.model_fields)
    texts = {COMPOSE: COMPOSE.read_text(), CONTAINERFILE: CONTAINERFILE.read_text()}
    texts.update({unit: unit.read_text() for unit in SYSTEMD})
    seen = set()
    for path, content in texts.items():
        for name in SETTING.findall(content):
            seen.add(name)
            assert name.removeprefix("SHUBBAK_").lower() in fields, f"{path.name}: {name} is not a setting"
    assert {"SHUBBAK_DATABASE_URL", "SHUBBAK_BROKER_URL", "SHUBBAK_STORAGE_URL", "SHUBBAK_SIGNING_KEY"} <= seen
    for service in ("api", "worker", "beat", "migrate"):
        env = compose()["services"][service]["environment"]
        assert env["SHUBBAK_ENVIRONMENT"] == "production" and env["SHUBBAK_BROKER_URL"].startswith("redis://")


def test_compose_commands_are_real_cli_commands() -> None:
    services = compose()["services"]
    commands = {name: s["command"] for name, s in services.items() if s.get("command", [""])[0] == "shubbak"}
    assert set(commands) == {"migrate", "api", "worker", "beat"}
    assert commands["api"][:2] == ["shubbak", "serve"] and "--workers" in commands["api"]
    for name, command in commands.items():
        check_command(command[1:], f"compose.yaml, {name}")


def _unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(path.read_text())
    return unit


@pytest.mark.parametrize("path", SYSTEMD, ids=[p.name for p in SYSTEMD])
def test_systemd_units_run_real_commands_as_the_shubbak_user(path: Path) -> None:
    unit = _unit(path)
    service = unit["Service"]
    assert service["User"] == "shubbak" and service["EnvironmentFile"] == "/etc/shubbak/shubbak.env"
    program, *argv = shlex.split(service["ExecStart"])
    assert program == "/opt/shubbak/venv/bin/shubbak"
    check_command(argv, path.name)


def test_the_units_cover_the_production_shape() -> None:
    names = {p.name for p in SYSTEMD}
    assert {"shubbak-api.service", "shubbak-worker.service", "shubbak-beat.service"} <= names
    timer = _unit(ROOT / "deploy" / "systemd" / "shubbak-backup.timer")
    assert timer["Timer"]["OnCalendar"] and "shubbak-backup.service" in names


def test_containerfile_copies_files_that_exist_and_runs_serve_as_a_user() -> None:
    lines = [line.strip() for line in CONTAINERFILE.read_text().splitlines() if line.strip()
             and not line.lstrip().startswith("#")]
    base = next(line for line in lines if line.startswith("FROM "))
    assert re.search(r"python:3\.1[12]-slim$", base), base
    copies = [shlex.split(line)[1:-1] for line in lines if line.startswith("COPY ")]
    assert copies
    for sources in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"Containerfile copies {source}, which does not exist"
    for package in ("engine", "storage", "api", "forms", "admin_ui", "cli"):  # what pyproject.toml installs
        assert any(package in sources for sources in copies), f"{package} is not copied into the image"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    cmd = json.loads(next(line for line in reversed(lines) if line.startswith("CMD "))[4:])
    assert cmd[:2] == ["shubbak", "serve"]
    check_command(cmd[1:], "Containerfile CMD")


def exported_metric_names(settings: Settings) -> set[str]:
    """Every sample name /metrics can show (histograms' _bucket/_count/_sum, counters' _total)."""
    settings = settings.model_copy(update={"metrics_allowed_networks": ["127.0.0.1"]})
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        body = client.get("/metrics").text
    names: set[str] = set()
    for family in text_string_to_metric_families(body):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(family.type, [""])
        names.update(family.name + suffix for suffix in suffixes)
    return names


def test_dashboard_and_alerts_use_only_exported_metrics(sqlite_settings: Settings) -> None:
    exported = exported_metric_names(sqlite_settings)
    dashboard = json.loads(DASHBOARD.read_text())
    panel_exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    rule_exprs = [str(rule["expr"]) for rule in rules]
    used = {name for expr in panel_exprs + rule_exprs for name in METRIC.findall(expr)}
    assert used, "the dashboard and the rules name no metric"
    unknown = used - exported
    assert not unknown, f"not exported by the app: {sorted(unknown)}"
    assert {"ShubbakOutboxStuck", "ShubbakTimersLate", "ShubbakServerErrors", "ShubbakLedgerNotSealed"} <= {
        rule["alert"] for rule in rules}
    for rule in rules:
        assert rule["for"] and rule["labels"]["severity"] and rule["annotations"]["summary"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_the_metric_name_check_can_fail(sqlite_settings: Settings) -> None:
    exported = exported_metric_names(sqlite_settings)
    assert "shubbak_outbox_oldest_due_seconds" in exported
    assert "shubbak_http_requests_total" in exported and "shubbak_http_request_duration_seconds_bucket" in exported
    assert "shubbak_outbox_oldest_due" not in exported and "shubbak_http_requests" not in exported


def test_the_backup_unit_makes_its_folder_and_keeps_backups_to_their_owner() -> None:
    service = _unit(ROOT / "deploy" / "systemd" / "shubbak-backup.service")["Service"]
    assert service["UMask"] == "0077"
    program, *argv = shlex.split(service["ExecStart"])
    target = Path(next(a for a in argv[1:] if not a.startswith("-")))
    # The folder is one systemd makes before each run (StateDirectory= lives under /var/lib), owner-only; or,
    # if it is only named writable, a missing one must not stop the unit ("-" prefix).
    state = [f"/var/lib/{name}" for name in service.get("StateDirectory", "").split()]
    writable = service.get("ReadWritePaths", "").split()
    assert str(target) in state or f"-{target}" in writable, f"nothing makes {target} before the backup runs"
    if str(target) in state:
        assert service["StateDirectoryMode"] == "0700"
    assert str(target) not in writable  # a missing folder named here fails the unit before it starts
    assert str(target) in (ROOT / "docs" / "operations.md").read_text()


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """A service's bind mounts of this repository's files: where in the container -> the file or folder here."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            assert (ROOT / source).exists(), f"compose.yaml mounts {source}, which does not exist"
            found[target] = ROOT / source
    return found


def test_the_app_connects_as_neither_database_superuser_nor_minio_root() -> None:
    services = compose()["services"]
    app = services["api"]["environment"]
    database = make_url(re.sub(r"\$\{(\w+)[^}]*\}", r"\1", app["SHUBBAK_DATABASE_URL"]))
    postgres = services["postgres"]["environment"]
    assert database.username != postgres.get("POSTGRES_USER", "postgres"), "the app connects as the superuser"
    assert database.password != "POSTGRES_PASSWORD" and database.password in postgres  # its own, given to the script
    # The script that makes that role is mounted where the image runs it, and makes it no superuser.
    init = {t: p for t, p in _mounts(services["postgres"]).items() if t.startswith("/docker-entrypoint-initdb.d/")}
    assert len(init) == 1, "no script makes the app's role"
    [script] = init.values()
    assert script.suffix == ".sh" and os.access(script, os.X_OK)
    sql = script.read_text()
    assert f"${{POSTGRES_APP_USER:-{database.username}}}" in sql and f"${{POSTGRES_APP_DB:-{database.database}}}" in sql
    assert "NOSUPERUSER" in sql and "NOCREATEROLE" in sql and 'OWNER :"app_user"' in sql
    # MinIO: the app's keys are not the root's; a one-off service makes that user, limited to the app's bucket.
    minio_root = services["minio"]["environment"]
    assert {app["SHUBBAK_STORAGE_ACCESS_KEY"], app["SHUBBAK_STORAGE_SECRET_KEY"]}.isdisjoint(minio_root.values())
    setup = services["minio-setup"]
    assert setup["depends_on"]["minio"] == {"condition": "service_healthy"}
    for name in ("api", "worker", "beat"):
        assert services[name]["depends_on"]["minio-setup"] == {"condition": "service_completed_successfully"}
    assert setup["environment"]["MINIO_APP_USER"] == app["SHUBBAK_STORAGE_ACCESS_KEY"]
    assert setup["environment"]["MINIO_APP_PASSWORD"] == app["SHUBBAK_STORAGE_SECRET_KEY"]
    [folder] = _mounts(setup).values()
    script_in_container = setup["entrypoint"][-1]
    assert (folder / Path(script_in_container).name).exists() and script_in_container.startswith("/setup/")
    bucket = app["SHUBBAK_STORAGE_URL"].rsplit("/", 1)[1]
    policy = json.loads((folder / f"{bucket}-policy.json").read_text())
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert not any(a.startswith("admin:") or a == "s3:*" for a in actions)
    steps = (folder / "setup.sh").read_text()
    assert f"local/{bucket}" in steps and f"/setup/{bucket}-policy.json" in steps


def test_every_variable_compose_needs_is_named_for_the_operator() -> None:
    needed = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    assert {"POSTGRES_APP_PASSWORD", "MINIO_APP_USER", "MINIO_APP_PASSWORD"} <= needed
    header = "".join(line for line in COMPOSE.read_text().splitlines(keepends=True) if line.startswith("#"))
    deployment = (ROOT / "docs" / "deployment.md").read_text()
    for name in needed:
        assert name in header, f"compose.yaml's header does not name {name}"
        assert f"`{name}`" in deployment, f"docs/deployment.md does not name {name}"


@pytest.mark.postgres
def test_the_role_script_makes_a_role_that_owns_its_database_and_nothing_more(postgres_server: str | None) -> None:
    if postgres_server is None:
        missing("needs a PostgreSQL server")
        return
    bin_dir = LocalPostgres.binaries()
    server = make_url(postgres_server)
    name = "app_" + uuid.uuid4().hex[:10]
    env = {**os.environ, "PGHOST": server.host or "127.0.0.1", "PGPORT": str(server.port), "POSTGRES_USER":
           server.username or "postgres", "POSTGRES_APP_USER": name, "POSTGRES_APP_DB": name,
           "POSTGRES_APP_PASSWORD": "it's a pass'word", "PATH": f"{bin_dir}:{os.environ['PATH']}" if bin_dir else
           os.environ["PATH"]}
    if server.password:
        env["PGPASSWORD"] = server.password
    script = ROOT / "deploy" / "postgres" / "10-shubbak-role.sh"
    done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    app_url = server.set(username=name, password="it's a pass'word", database=name)
    try:
        assert done.returncode == 0, done.stderr
        with admin.connect() as conn:
            role = conn.execute(text("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, "
                                     "rolcanlogin FROM pg_roles WHERE rolname = :n"), {"n": name}).one()
            assert tuple(role) == (False, False, False, False, False, True)
            owner = conn.execute(text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :n"),
                                 {"n": name}).scalar()
            assert owner == name
        upgrade(app_url.render_as_string(hide_password=False))  # it can make the tables: `shubbak migrate`
        app = create_engine(app_url)
        try:
            with app.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
                with pytest.raises(DBAPIError, match="permission denied to create role"):
                    conn.execute(text("CREATE ROLE intruder"))
        finally:
            app.dispose()
        again = subprocess.run(["sh", str(script)], env={**env, "POSTGRES_APP_PASSWORD": ""}, capture_output=True,
                               text=True, timeout=60)
        assert again.returncode != 0 and "set POSTGRES_APP_PASSWORD" in again.stderr
    finally:
        dispose(app_url.render_as_string(hide_password=False))
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()


def test_the_sample_scrape_config_sends_the_token_and_loads_the_rules() -> None:
    """/metrics admits nobody by default: the sample must show how a scraper proves itself (the token), to the
    path the app serves, with the rules file that is beside it."""
    config = yaml.safe_load(SCRAPE.read_text())
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]
    assert "credentials" not in job["authorization"], "a token written in the sample would be copied as is"
    for rules in config["rule_files"]:
        assert (SCRAPE.parent / rules).exists(), rules
