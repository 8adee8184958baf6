"""``shubbak``: serve, migrate, users, processes and audit from the command line."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session

from cli import audit as audit_commands
from cli import backup as backup_commands
from cli import documents as document_commands
from cli import nodes as node_commands
from cli import open311 as open311_commands
from cli import reports as report_commands
from cli import users as user_commands
from cli.refusals import status, tell
from engine.bpmn import runner
from engine.bpmn.compiler import PATHS_FILE, compile_package
from engine.cases import version_moves
from engine.catalog import analyst_tests, processes
from engine.catalog.packages import find_packages, read_package
from engine.core import nodes as engine_nodes
from engine.core import refusals
from engine.core.errors import DomainError, Invalid
from engine.core.refusals import Words
from engine.core.settings import Settings, get_settings
from engine.people import centers
from engine.people.users import Actor, create_user
from storage import nodes as storage_nodes
from storage.db import session_for
from storage.migrate import upgrade

CLI_ACTOR = Actor("cli", frozenset({"admin"}), "Command line")


def _session(settings: Settings) -> Session:
    return session_for(settings.database_url)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    upgrade(settings.database_url)
    print(f"database is up to date ({_safe_url(settings.database_url)})")
    return 0


def deploy_folder(settings: Settings, root: Path) -> int:
    """Deploy every package under ``root``; unchanged content keeps its version. Returns failures."""
    failures = 0
    with _session(settings) as session:
        for folder in find_packages(root):
            try:
                row, created = processes.deploy(session=session, files=read_package(folder), actor=CLI_ACTOR,
                                                settings=settings)
            except Invalid as exc:
                failures += 1
                tell(settings, exc, label="refused", where=str(folder))
                continue
            state = "deployed" if created else "unchanged"
            print(f"{state:>9} {row.service_code} v{row.version} ({row.sha256[:12]})")
    return failures


def cmd_deploy(settings: Settings, args: argparse.Namespace) -> int:
    return 1 if deploy_folder(settings, Path(args.dir)) else 0


def cmd_test(settings: Settings, args: argparse.Namespace) -> int:
    """Run the ``paths.json`` cases of every service folder under DIR: a line per case; 1 on any failure."""
    failures = 0
    for folder in find_packages(Path(args.dir)):
        files = read_package(folder)
        try:
            process = compile_package(files, max_xml_bytes=settings.max_xml_bytes,
                                      default_lane=settings.default_lane, max_files=settings.max_files_per_deploy)
            if PATHS_FILE not in files:
                print(f"   no tests {folder}: add a {PATHS_FILE} (docs/analyst-guide.md)")
                continue
            outcomes = analyst_tests.run_all(process, files[PATHS_FILE], runner.limits(settings))
        except Invalid as exc:
            failures += 1
            tell(settings, exc, label="refused", where=str(folder))
            continue
        for outcome in outcomes:
            failures += not outcome.passed
            word = "ok" if outcome.passed else "FAILED"
            print(status(settings, f"{word:>9} {process.service.code} {outcome.name}", outcome.message))
    return 1 if failures else 0


def cmd_migrate_cases(settings: Settings, args: argparse.Namespace) -> int:
    """Move the open cases of SERVICE's older versions to --to (or only list them with --dry-run)."""
    command = version_moves.dry_run if args.dry_run else version_moves.migrate
    with _session(settings) as session:
        moves = command(session=session, service_code=args.service, to_version=args.to, actor=CLI_ACTOR,
                        settings=settings)
    for m in moves:
        word = ("movable" if m.movable else "stays") if args.dry_run else ("moved" if m.moved else "NOT MOVED")
        print(status(settings, f"{word:>9} {m.tracking_number} v{m.from_version} -> v{args.to}", m.reason))
    stuck = [m for m in moves if not m.moved]
    if not args.dry_run:
        print(f"{len(moves) - len(stuck)} case(s) moved to v{args.to}, {len(stuck)} not moved")
    return 1 if not args.dry_run and any(m.movable and not m.moved for m in moves) else 0


def cmd_users_add(settings: Settings, args: argparse.Namespace) -> int:
    password = args.password or getpass.getpass("password: ")
    with _session(settings) as session:
        center = centers.by_code(session, args.center).id if args.center else None
        user = create_user(session=session, username=args.username, password=password,
                           full_name=args.full_name or args.username, roles=args.roles, settings=settings,
                           center_id=center, installation_wide=args.installation_wide)
    print(f"user {user.username} created with roles {', '.join(user.roles) or '(none)'}")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.observability import logging_config
    from engine.people.demo import DEMO_PASSWORD, ensure_demo_users

    if args.prepare:
        upgrade(settings.database_url)
        if settings.processes_dir.is_dir():
            deploy_folder(settings, settings.processes_dir)
    if args.demo:
        if settings.environment == "production":
            tell(settings, "cli.no_demo_in_production")
            return 2
        with _session(settings) as session:
            demo = ensure_demo_users(session, settings)
        print(f"\nDemo users (password for all: {DEMO_PASSWORD}):")
        for username, roles in demo:
            print(f"  {username:<11} {', '.join(roles)}")
        print()
    _malloc_arenas(settings)
    print(f"Shubbak on http://{args.host}:{args.port}  (API docs: /docs)"
          + (f", {args.workers} worker processes" if args.workers > 1 else ""))
    # One JSON line per request of our own (api/observability.py) instead of uvicorn's access log. uvicorn's own
    # reading of X-Forwarded-For (it believes any request from 127.0.0.1) is off: SHUBBAK_TRUSTED_PROXIES alone
    # says whose header is believed, so a proxy on the host that passes a client's header on names nobody.
    common: dict[str, Any] = dict(host=args.host, port=args.port, log_level=args.log_level, access_log=False,
                                  proxy_headers=False,
                                  log_config=logging_config(settings, args.log_level, access=args.access_log),
                                  timeout_graceful_shutdown=settings.shutdown_grace_seconds)
    if args.workers == 1:
        if settings.prometheus_multiproc_dir is not None:  # the operator's folder, set for several workers
            _fresh_metrics_dir(settings)
        uvicorn.run(create_app(settings), workers=1, **common)
        return 0
    # N processes on one port: uvicorn's supervisor starts them, starts a new one when one dies, restarts them
    # one by one on SIGHUP and stops them gracefully on SIGTERM/SIGINT. Each builds its app from the same
    # environment (SHUBBAK_*); the background loops take turns across them (storage/leader.py).
    _fresh_metrics_dir(settings)
    uvicorn.run("api.app:create_app", factory=True, workers=args.workers,
                timeout_worker_healthcheck=settings.worker_healthcheck_seconds, **common)
    return 0


M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def _malloc_arenas(settings: Settings) -> bool:
    """At most ``malloc_arenas`` malloc arenas in this process (glibc's ``mallopt``, before the request threads
    start) and in the workers it starts (MALLOC_ARENA_MAX in their environment, read by glibc as they start). An
    operator's MALLOC_ARENA_MAX is left as it is. True when this process's arenas were bounded here."""
    import ctypes
    import ctypes.util
    import os

    if settings.malloc_arenas == 0 or "MALLOC_ARENA_MAX" in os.environ:
        return False
    os.environ["MALLOC_ARENA_MAX"] = str(settings.malloc_arenas)
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to bound
        return False
    return bool(mallopt(M_ARENA_MAX, settings.malloc_arenas))


def _fresh_metrics_dir(settings: Settings) -> None:
    """prometheus-client's multiprocess mode: every worker writes its samples under PROMETHEUS_MULTIPROC_DIR,
    which must be empty when the server starts. Exported here, before the workers are started, so each
    inherits it: the operator's folder emptied of old samples, or a fresh one under var_dir."""
    import os
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")  # prometheus-client's own variable, not a setting
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.db"):
            old.unlink()
    else:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="metrics-", dir=settings.var_dir))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _celery(settings: Settings, what: Words) -> Any:
    if not settings.broker_url:
        tell(settings, "cli.no_broker", what=what)
        return None
    from cli.worker import app
    from engine.messages import gateways

    gateways.for_channel("sms", settings)  # a misconfigured gateway stops the start, not the first message
    gateways.for_channel("email", settings)
    return app


def _celery_logs(settings: Settings, level: str) -> None:
    """Workers and beat log as the API does (``SHUBBAK_LOG_FORMAT``: one JSON object per line by default), not in
    Celery's own format: Celery configures nothing when a receiver of its ``setup_logging`` signal does."""
    import logging.config

    from celery import signals

    from api.observability import logging_config

    def configure(**_: Any) -> None:
        logging.config.dictConfig(logging_config(settings, level))
        logging.captureWarnings(True)  # Python's warnings (Celery's about running as root) as log lines too
        for handler in logging.getLogger().handlers:
            handler.addFilter(_without_task_data)

    configure()  # now, for what comes before Celery's signal (its warning about running as root)
    signals.setup_logging.connect(configure, weak=False)


def _without_task_data(record: Any) -> bool:
    """Celery puts a task's arguments and result on its lines as the extra ``data``, which its own format leaves out
    and a JSON line would write: a task given a phone number or a message's text would log it. Dropped here."""
    if record.name.startswith("celery") and hasattr(record, "data"):
        del record.data
    return True


def _quiet(settings: Settings) -> list[str]:
    """Celery's start-up banner is drawn on stdout in many lines: none of them is a JSON object."""
    return ["--quiet"] if settings.log_format == "json" else []


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """A Celery worker: sends the outbox (and, with --beat, runs the periodic jobs too)."""
    app = _celery(settings, Words("worker", "العامل (worker)"))
    if app is None:
        return 2
    _celery_logs(settings, args.log_level)
    argv = [*_quiet(settings), "worker", f"--loglevel={args.log_level}", f"--concurrency={args.concurrency}",
            f"--pool={args.pool}"]
    if args.beat:
        argv += ["--beat", f"--schedule={settings.var_dir / 'celerybeat-schedule'}"]
    app.worker_main(argv)
    return 0


def cmd_beat(settings: Settings, args: argparse.Namespace) -> int:
    """Celery beat: every periodic job of engine/operations/periodic.py, each at its interval (cli/worker.py)."""
    app = _celery(settings, Words("beat", "المجدول (beat)"))
    if app is None:
        return 2
    _celery_logs(settings, args.log_level)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    app.start([*_quiet(settings), "beat", f"--loglevel={args.log_level}",
               f"--schedule={settings.var_dir / 'celerybeat-schedule'}"])
    return 0


def cmd_tick(settings: Settings, _args: argparse.Namespace) -> int:
    """Every periodic job once (engine/operations/periodic.py), as the embedded loops and beat run them; a job
    whose turn another process holds at this moment is skipped and says so."""
    from engine.operations import periodic

    if settings.database_transaction_pooling and not settings.leader_database_url:
        # With a broker the settings allow this pair (beat runs the jobs and takes no turn); a tick does take
        # the jobs' turns, whose session locks a transaction pooler does not keep (docs/deployment.md).
        tell(settings, "cli.tick_needs_direct_connection")
        return 2
    for job, ran, result in periodic.run_all(settings):
        print(f"{job.name}: {job.says(result) if ran else 'skipped: another process is running it'}")
    return 0


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shubbak", description="Shubbak case management")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the web app and API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--prepare", action="store_true", help="migrate and deploy processes/ first")
    s.add_argument("--demo", action="store_true", help="create and print demo users of each role")
    s.add_argument("--log-level", default="info")
    s.add_argument("--no-access-log", dest="access_log", action="store_false")
    s.add_argument("--workers", type=int, default=1, choices=range(1, 65), metavar="N",
                   help="API processes on the one port (default 1); see docs/deployment.md")
    s.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="create or upgrade the database tables").set_defaults(func=cmd_migrate)
    sub.add_parser("tick", help="run every periodic job once: timers, escalation, ledger seal, outbox, reports..."
                   ).set_defaults(func=cmd_tick)
    worker = sub.add_parser("worker", help="run a Celery worker (needs SHUBBAK_BROKER_URL): sends messages")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    worker.add_argument("--beat", action="store_true", help="also run beat inside this worker (one worker only)")
    worker.add_argument("--log-level", default="INFO")
    worker.set_defaults(func=cmd_worker)
    beat = sub.add_parser("beat", help="run Celery beat (needs SHUBBAK_BROKER_URL): timers, seals, messages")
    beat.add_argument("--log-level", default="INFO")
    beat.set_defaults(func=cmd_beat)
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="add a user")
    add.add_argument("username")
    add.add_argument("--full-name")
    add.add_argument("--password", help="prompted for when not given")
    add.add_argument("--role", dest="roles", action="append", default=[], help="repeat for several roles")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--center", help="the code of the service center the user works at (they see it and the "
                       "centers below it)")
    where.add_argument("--installation-wide", action="store_true",
                       help="staff of the whole installation: sees every center (say so on purpose)")
    add.set_defaults(func=cmd_users_add)
    user_commands.add_commands(users)  # list, deactivate, activate, passwd, sign-out
    procs = sub.add_parser("processes", help="deploy services").add_subparsers(dest="processes_command",
                                                                              required=True)
    dep = procs.add_parser("deploy", help="deploy every service folder under DIR")
    dep.add_argument("dir")
    dep.set_defaults(func=cmd_deploy)
    test = procs.add_parser("test", help="run the paths.json test cases of every service folder under DIR")
    test.add_argument("dir")
    test.set_defaults(func=cmd_test)
    mig = procs.add_parser("migrate", help="move open cases of SERVICE's older versions to a newer one")
    mig.add_argument("service")
    mig.add_argument("--to", type=int, required=True, metavar="VERSION")
    mig.add_argument("--dry-run", action="store_true", help="only list which cases can move, and why not")
    mig.set_defaults(func=cmd_migrate_cases)
    audit_commands.add_commands(sub)
    document_commands.add_commands(sub)
    report_commands.add_commands(sub)
    backup_commands.add_commands(sub)
    open311_commands.add_commands(sub)
    node_commands.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; what goes wrong is said by its message id (cli/refusals.py), never as a traceback: a
    refusal of the engine, a setting that is not valid (exit 2), a file that cannot be read, a database that cannot
    be used."""
    args = parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        tell(language_only(), settings_problems(exc))
        return 2
    try:
        return int(args.func(settings, args))
    except DomainError as exc:  # a package refused (PackageRefused) included
        tell(settings, exc)
        return 1
    except storage_nodes.CentralOnly as exc:  # a center node writes none of central's tables (storage/nodes.py)
        tell(settings, engine_nodes.central_only(exc))
        return 1
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        tell(settings, "cli.file_unreadable", path=str(exc.filename or ""), reason=exc.strerror or type(exc).__name__)
        return 1
    except (OperationalError, InterfaceError) as exc:  # refused, timed out, a wrong password, a server gone away
        said = str(exc.orig or exc).strip()
        tell(settings, "cli.database_unreachable", url=_safe_url(settings.database_url),
             reason=said.splitlines()[0] if said else type(exc).__name__)
        return 1


def language_only() -> Settings:
    """Settings that say only the command line's language, when the settings as a whole are not valid: the
    operator's ``SHUBBAK_CLI_LANGUAGE`` if that one is valid, else both languages."""
    chosen = os.environ.get("SHUBBAK_CLI_LANGUAGE", "both")
    return Settings.model_construct(cli_language=chosen if chosen in ("ar", "en", "both") else "both")


def settings_problems(exc: ValidationError) -> Invalid:
    """The settings' problems, one per variable: its environment name, what is wrong, in both languages."""
    details = []
    for error in exc.errors():
        field = "_".join(str(part) for part in error["loc"]) if error["loc"] else ""
        details.append({"field": f"SHUBBAK_{field.upper()}" if field else "SHUBBAK_*", "message": error["msg"],
                        "message_ar": refusals.validation_arabic(error["type"], error.get("ctx"), error["msg"])})
    return Invalid("cli.bad_settings", details, count=len(details))


if __name__ == "__main__":
    sys.exit(main())
