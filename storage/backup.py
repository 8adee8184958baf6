"""The database's half of a backup: a ``pg_dump`` custom-format dump, or SQLite's online backup; and back.

PostgreSQL: ``pg_dump --format=custom`` takes one consistent snapshot while the installation keeps running;
``pg_restore`` loads it into an empty database (owners and grants are left to the target's administrator).
The password, when the URL has one, goes to the tools through ``PGPASSWORD``, never on their command line.
SQLite: the online backup API copies the file page by page under a read transaction, writers may go on.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

DUMP_POSTGRES = "database.dump"
DUMP_SQLITE = "database.sqlite3"


class BackupFailed(Exception):
    """A tool failed or refused. ``message_id`` names its words (and what to do) in the refusal catalogs,
    ``engine/locale/{en,ar}/LC_MESSAGES/refusals.po``, filled from ``params``; the command line says it in the
    operator's language (cli/refusals.py). Storage sits below the engine: it names the id, it does not read it."""

    def __init__(self, message_id: str, /, **params: str) -> None:
        super().__init__(message_id, params)
        self.message_id, self.params = message_id, params


def kind(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _sqlite_path(url: str) -> Path:
    path = make_url(url).database
    if not path or path == ":memory:":
        raise BackupFailed("backup.in_memory_sqlite")
    return Path(path)


def _tool(name: str, bin_dir: Path | None) -> str:
    found = str(bin_dir / name) if bin_dir is not None else shutil.which(name)
    if not found or not Path(found).exists():
        raise BackupFailed("backup.tool_missing", tool=name)
    return found


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL as libpq reads it (no SQLAlchemy driver, no password) and the environment carrying the password."""
    parsed = make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupFailed("backup.tool_failed", tool=Path(command[0]).name, output=done.stderr.strip()[-2000:])


def dump(url: str, folder: Path, *, bin_dir: Path | None = None) -> Path:
    """Write the database into ``folder``; returns the file written."""
    if kind(url) == "sqlite":
        target = folder / DUMP_SQLITE
        source = sqlite3.connect(_sqlite_path(url))
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        return target
    target = folder / DUMP_POSTGRES
    dsn, env = _libpq(url)
    _run([_tool("pg_dump", bin_dir), "--format=custom", "--no-owner", "--no-privileges", f"--file={target}",
          f"--dbname={dsn}"], env)
    return target


def tables(url: str) -> list[str]:
    """The tables the database holds now (none for a SQLite file that does not exist yet)."""
    if kind(url) == "sqlite" and not _sqlite_path(url).exists():
        return []
    engine = create_engine(url)
    try:
        return sorted(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def load(url: str, folder: Path, *, bin_dir: Path | None = None) -> None:
    """Load the dump in ``folder`` into the database of ``url``, which must be empty (checked by the caller)."""
    if kind(url) == "sqlite":
        source_file = folder / DUMP_SQLITE
        if not source_file.exists():
            raise BackupFailed("backup.dump_missing", name=source_file.name, kind="SQLite")
        path = _sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        source, target = sqlite3.connect(source_file), sqlite3.connect(path)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return
    dump_file = folder / DUMP_POSTGRES
    if not dump_file.exists():
        raise BackupFailed("backup.dump_missing", name=dump_file.name, kind="PostgreSQL")
    dsn, env = _libpq(url)
    _run([_tool("pg_restore", bin_dir), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
          f"--dbname={dsn}", str(dump_file)], env)
