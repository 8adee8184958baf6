"""A real PgBouncer for the tests: from the machine's packages (Debian ``pgbouncer``), on a free loopback port, in
front of the test PostgreSQL, in the pooling mode the test asks for."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from harness import process
from harness.postgres import free_port

BINARY_PLACES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


def binary() -> str | None:
    found = shutil.which("pgbouncer")
    if found:
        return found
    return next((place for place in BINARY_PLACES if Path(place).exists()), None)


class LocalPgBouncer:
    """``pgbouncer`` forwarding every database name to the PostgreSQL server of ``server_url``; ``url(db)`` is a
    database URL through it. ``pool_size`` server connections per database and user, at most."""

    def __init__(self, server_url: str, *, pool_mode: str = "transaction", pool_size: int = 4) -> None:
        self.server = make_url(server_url)
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.port = free_port()
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        found = binary()
        if found is None:
            raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer)")
        self.dir = Path(tempfile.mkdtemp(prefix="shubbak-pgbouncer-"))
        user = self.server.username or "postgres"
        (self.dir / "users.txt").write_text(f'"{user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text("\n".join([
            "[databases]",
            f"* = host={self.server.host or '127.0.0.1'} port={self.server.port or 5432}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {self.dir / 'users.txt'}",
            f"pool_mode = {self.pool_mode}",
            f"default_pool_size = {self.pool_size}",
            "min_pool_size = 0",
            "reserve_pool_size = 0",
            "max_client_conn = 200",
            "server_reset_query =",
            "ignore_startup_parameters = extra_float_digits",
            f"logfile = {self.dir / 'pgbouncer.log'}",
            "",
        ]))
        as_user: list[str] = []
        if os.geteuid() == 0:  # pgbouncer refuses to run as root: it drops to the postgres user itself
            for path in (self.dir, *self.dir.iterdir()):
                shutil.chown(path, user="postgres")
            as_user = ["-u", "postgres"]
        self.proc = subprocess.Popen([found, *as_user, str(self.dir / "pgbouncer.ini")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pgbouncer did not start: {self.log()[-2000:]}") from None
                time.sleep(0.05)

    def url(self, database: str) -> str:
        """The URL of ``database`` through this PgBouncer (same user, no password: trust on loopback)."""
        return str(self.server.set(host="127.0.0.1", port=self.port, database=database,
                                   password=None).render_as_string(hide_password=False))

    def log(self) -> str:
        if self.dir is None or not (self.dir / "pgbouncer.log").exists():
            return ""
        return (self.dir / "pgbouncer.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            process.stop(self.proc)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
