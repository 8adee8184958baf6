"""Instructions per case under callgrind: a measure of (a), (b) and (c) that a busy, shared machine does not move.

CPU time per case drifts with the machine's load (bare SpiffWorkflow's own went from 6.0 to 8.2 ms in one evening),
so comparing two commits on a shared machine by it, or by throughput, is not safe. Valgrind's callgrind counts the
instructions executed instead, with instrumentation switched on only around the measured cases
(``callgrind_control -i on``). ``python -m bench.instructions --only bare,engine,http --cases 30`` prints, for
each part, the millions of instructions per case:

* bare: bench/bare.py's lifecycle in one process;
* engine: bench/direct.py's (engine commands with SQLite commits) in one process;
* http: the API server (`shubbak serve`, under valgrind) while bench/http.py's 8 clients run the cases, plus a
  few seconds for the outbox to drain; the embedded loops' rounds are counted for as long as that takes, and
  the script sandbox's child processes are not followed, so it is less exact than the other two.

``--keep DIR`` keeps callgrind's files, whose per-function totals (``callgrind_annotate DIR/engine.out``) say
where two commits' counts part. Valgrind runs the code about fifty times slower: keep ``--cases`` small. Run it
from the commit to measure; two commits compare by running it in each worktree (docs/performance.md, 2026-12-06).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import bare, direct, http
from bench.run import prepare, tokens
from harness.postgres import free_port
from harness.settings import ROOT

SECTIONS = ("bare", "engine", "http")
CALLGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]


def _collect(on: bool, pid: int) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _counted(log: Path) -> int:
    found = re.findall(r"Collected\s*:\s*([\d,]+)", log.read_text())
    if not found:
        raise RuntimeError(f"callgrind counted nothing: {log.read_text()[-2000:]}")
    return int(found[-1].replace(",", ""))


def _child(section: str, cases: int, folder: Path) -> None:
    """Runs under valgrind: warm up, then count ``cases`` lifecycles."""
    if section == "bare":
        bare.run(10)
        _collect(True, os.getpid())
        bare.run(cases)
    else:
        settings, _env = prepare(folder, "engine.db")
        direct.run(settings, 10)
        _collect(True, os.getpid())
        direct.run(settings, cases)
    _collect(False, os.getpid())


def in_process(section: str, cases: int, folder: Path) -> float:
    """Millions of instructions per case of ``section`` (bare or engine), run in a process of its own."""
    log = folder / f"{section}.log"
    subprocess.run([*CALLGRIND, f"--callgrind-out-file={folder / section}.out", f"--log-file={log}",
                    sys.executable, "-m", "bench.instructions", "--child", section, "--cases", str(cases),
                    "--folder", str(folder)], cwd=ROOT, check=True)
    return _counted(log) / cases / 1e6


def served(cases: int, folder: Path, clients: int = 8, drain_seconds: float = 6.0) -> float:
    """Millions of instructions per case in the API server process (under valgrind) while clients run them."""
    settings, env = prepare(folder, "http.db")
    headers = tokens(settings)
    port = free_port()
    log = folder / "http.log"
    proc = subprocess.Popen([*CALLGRIND, f"--callgrind-out-file={folder / 'http'}.out", f"--log-file={log}",
                             sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--log-level",
                             "warning", "--no-access-log"], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 900  # imports under valgrind take minutes on a busy machine
        while not _answers(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the server did not start under valgrind: {log.read_text()[-2000:]}")
            time.sleep(1)
        base = f"http://127.0.0.1:{port}"
        http.run(base, headers, 10, clients)
        time.sleep(drain_seconds)  # the warm-up's messages sent before counting starts
        _collect(True, proc.pid)
        http.run(base, headers, cases, clients)
        time.sleep(drain_seconds)  # and these cases' messages (the sender's round is seconds)
        _collect(False, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=300)
    return _counted(log) / cases / 1e6


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated, of: {', '.join(SECTIONS)}")
    p.add_argument("--cases", type=int, default=30)
    p.add_argument("--keep", type=Path, help="keep callgrind's output files (<section>.out, for callgrind_annotate) "
                   "in this folder")
    p.add_argument("--child", choices=("bare", "engine"), help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args.child, args.cases, args.folder)
        return
    only = [s for s in SECTIONS if s in {name.strip() for name in args.only.split(",")}]
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        p.error("valgrind (callgrind) is not installed")
    for section in only:
        with tempfile.TemporaryDirectory(prefix="shubbak-instructions-") as tmp:
            folder = Path(tmp)
            per_case = served(args.cases, folder) if section == "http" else in_process(section, args.cases, folder)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(folder / f"{section}.out", args.keep / f"{section}.out")
        print(f"{section}: {per_case:.1f} M instructions per case ({args.cases} cases)", flush=True)


if __name__ == "__main__":
    main()
