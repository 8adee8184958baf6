"""What can be checked here of the deployment files (they run on other machines): they parse, they name only
services, settings and commands that exist, and the sample dashboard and alerts use only metrics the app exports.
"""

from __future__ import annotations

import argparse
import configparser
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from cli.main import parser
from engine.settings import Settings
from tests.conftest import ROOT

COMPOSE = ROOT / "compose.yaml"
CONTAINERFILE = ROOT / "Containerfile"
SYSTEMD = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
DASHBOARD = ROOT / "docs" / "ops" / "grafana-dashboard.json"
ALERTS = ROOT / "docs" / "ops" / "prometheus-alerts.yaml"
SETTING = re.compile(r"\bSHUBBAK_[A-Z0-9_]+")
METRIC = re.compile(r"\bshubbak_[a-z0-9_]+")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _subparser(p: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    found: argparse.ArgumentParser = action.choices[name]
    return found


def check_command(argv: list[str], where: str) -> None:
    """``argv`` (after the ``shubbak`` program) must be a command line the CLI accepts as it is."""
    if "--workers" in argv and "--workers" not in _subparser(parser(), "serve")._option_string_actions:
        pytest.skip("`shubbak serve` has no --workers on this branch yet (issue 21, serving several processes)")
    try:
        args = parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: `shubbak {' '.join(argv)}` is not a command line the CLI accepts")
    assert callable(args.func)


def test_compose_names_only_services_that_exist_each_with_a_health_check() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "minio", "migrate", "api", "worker", "beat"}
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services and needed != name, f"{name} depends on {needed}"
        check = service.get("healthcheck")
        assert check, f"{name} has no health check"
        assert check.get("disable") is True or check["test"][0] == "CMD", name
    assert services["migrate"]["healthcheck"] == {"disable": True}  # it runs once and ends
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
