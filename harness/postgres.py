"""A PostgreSQL server for the tests: the one ``.ci/run`` started, or one started here on loopback."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalPostgres:
    """Starts ``postgres`` from the machine's packages in a temporary folder, as the postgres user.

    ``logical=True``: a server that can publish and subscribe (center nodes, docs/center-nodes.md), with
    ``wal_level=logical`` and room for a few subscriptions each way: replication slots and WAL senders for the
    subscribers reading from it, logical replication workers (an apply worker per subscription, and the table
    copies of a new one) for its own subscriptions."""

    def __init__(self, *, logical: bool = False) -> None:
        self.dir: Path | None = None
        self.port = free_port()
        self.logical = logical

    def options(self) -> str:
        """The server's ``-o`` options: loopback only, no durability (a test's data), and logical replication."""
        base = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200")
        if not self.logical:
            return base
        return (base + " -c wal_level=logical -c max_replication_slots=16 -c max_wal_senders=16"
                " -c max_worker_processes=32 -c max_logical_replication_workers=16"
                " -c max_sync_workers_per_subscription=4 -c wal_sender_timeout=10s"
                " -c wal_receiver_timeout=10s -c wal_retrieve_retry_interval=1s")

    @staticmethod
    def binaries() -> Path | None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        return Path(found[-1]).parent if found else None

    def start(self) -> str:
        bin_dir = self.binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL binaries (initdb) are not installed")
        self.dir = Path(tempfile.mkdtemp(prefix="shubbak-pg-"))
        run_as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            if shutil.which("runuser") is None:
                raise RuntimeError("running as root without runuser: cannot start PostgreSQL")
            shutil.chown(self.dir, user="postgres")
            run_as = ["runuser", "-u", "postgres", "--"]
        data = self.dir / "data"
        subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "shubbak",
                        "--no-sync"], check=True, capture_output=True)
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(self.dir / "log"),
                        "-o", self.options(), "start"], check=True, capture_output=True)
        self._run_as = run_as
        self._bin = bin_dir
        return f"postgresql+psycopg://shubbak@127.0.0.1:{self.port}/postgres"

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut, the server comes back on the same port."""
        assert self.dir is not None
        subprocess.run([*self._run_as, str(self._bin / "pg_ctl"), "-D", str(self.dir / "data"), "-w", "-m", "fast",
                        "-l", str(self.dir / "log"), "restart"], check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        if self.dir is None:
            return
        subprocess.run([*self._run_as, str(self._bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                        "stop"], capture_output=True)
        time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)
