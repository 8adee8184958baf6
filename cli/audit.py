"""``shubbak audit …``: verify, replay, seal, export and check case files, the installation's key."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, col, select

from engine.audit import auditors, export, ledger, signing, verify
from engine.cases import replay
from engine.core import clock
from engine.core.settings import Settings
from engine.people.users import Actor
from storage.db import session_for
from storage.models.cases import Case

CLI_AUDITOR = Actor("cli", frozenset({"auditor"}), "Command line")  # exports read scans, as auditors do


def _session(settings: Settings) -> Session:
    return session_for(settings.database_url)


def cmd_verify(settings: Settings, _args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with _session(settings) as session:
        report = verify.verify_all(session=session, settings=settings)
    for finding in report.findings:
        print(f"BROKEN {finding}")
    took = time.perf_counter() - started
    print(f"checked {report.cases} cases, {report.events} events, {report.seals} seals and {report.reads} reads "
          f"in {took:.1f} s; {report.unsealed} case(s) moved since the last seal; {report.drawers} cashier drawer(s)")
    for node in report.copying:
        print(f"center node {node}: its rows are still being copied here (its subscription's first copy of a "
              "table): its cases and seals were not checked this time; run verify again once `shubbak node status` "
              "shows the copy done")
    for node, (seq, sealed_at) in sorted(report.node_seals.items()):
        age = clock.now() - clock.parse(sealed_at)
        late = age > timedelta(hours=2 * settings.seal_interval_hours)
        print(f"center node {node}: {seq} seal(s) here, the latest sealed at {sealed_at}"
              + (f" ({age.total_seconds() / 3600:.0f} h ago: its seals stopped arriving, or it stopped sealing)"
                 if late else ""))
    if report.findings:
        print(f"{len(report.findings)} problem(s) found; the first broken link of each is named above")
        return 1
    print("every case's audit chain holds, and so do the ledger, the access log and the cashiers' drawers")
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    diverged = events = 0
    with _session(settings) as session:
        query = select(Case.id).order_by(col(Case.id))
        if args.service:
            query = query.where(Case.service_code == args.service)
        if args.since:
            query = query.where(col(Case.created_at) >= datetime.combine(args.since, datetime.min.time(), UTC))
        ids = list(session.exec(query).all())
        session.rollback()
        for case_id in ids:
            assert case_id is not None
            result = replay.replay_case(session=session, case_id=case_id, settings=settings)
            events += result.events_replayed
            if result.divergence is not None:
                diverged += 1
                d = result.divergence
                print(f"DIVERGED case {result.tracking_number} (id {case_id}), event {d.seq}: "
                      f"expected {d.expected!r}, replay gives {d.actual!r}")
    took = time.perf_counter() - started
    print(f"replayed {len(ids)} case(s), {events} events, in {took:.1f} s: {len(ids) - diverged} consistent, "
          f"{diverged} diverged")
    return 1 if diverged else 0


def cmd_seal(settings: Settings, _args: argparse.Namespace) -> int:
    with _session(settings) as session:
        done = ledger.seal(session=session, settings=settings)
    entry = done.seal
    print(f"seal {entry.seq} at {entry.sealed_at}: {entry.case_count} cases ({done.changed} heads new or moved), "
          f"root {entry.root}, hash {entry.hash}")
    print(f"also written to {settings.anchor_file}; keep a copy where the database's administrators cannot write")
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    with _session(settings) as session:
        name, data = auditors.export_case(session=session, case_id=args.case_id, actor=CLI_AUDITOR,
                                          settings=settings)
    target = Path(args.output or name)
    target.write_bytes(data)
    print(f"wrote {target} ({len(data)} bytes)")
    return 0


def cmd_verify_export(_settings: Settings, args: argparse.Namespace) -> int:
    """Checks the file alone: no database is opened."""
    checked = export.check(Path(args.file).read_bytes(), expected_key=args.public_key)
    for problem in checked.problems:
        print(f"FAILED {problem}")
    if not checked.ok:
        print("the case file does not hold")
        return 1
    case = (checked.manifest or {}).get("case", {})
    print(f"the case file holds: case {case.get('tracking_number')}, signed by key {checked.public_key}")
    if not checked.key_checked:
        print("note: the key was not compared with the installation's published key; pass --public-key "
              "(`shubbak audit public-key` on the installation)")
    return 0


def cmd_public_key(settings: Settings, _args: argparse.Namespace) -> int:
    print(signing.installation_public_key(settings))
    return 0


def cmd_new_key(_settings: Settings, _args: argparse.Namespace) -> int:
    seed = signing.new_seed()
    print(f"SHUBBAK_SIGNING_KEY={seed}")
    print(f"# its public key, to publish: {signing.public_hex(signing.private_key(seed))}", file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    aud = sub.add_parser("audit", help="auditors' tools").add_subparsers(dest="audit_command", required=True)
    aud.add_parser("verify", help="check every chain, every stored case, the ledger and the access log"
                   ).set_defaults(func=cmd_verify)
    rep = aud.add_parser("replay", help="re-run cases' recorded steps and compare with what was recorded")
    rep.add_argument("--service", help="only cases of this service code")
    rep.add_argument("--since", type=date.fromisoformat, help="only cases opened on or after this date (YYYY-MM-DD)")
    rep.set_defaults(func=cmd_replay)
    aud.add_parser("seal", help="seal every case's chain head in the ledger now").set_defaults(func=cmd_seal)
    exp = aud.add_parser("export", help="write one case's signed case file")
    exp.add_argument("case_id", type=int)
    exp.add_argument("-o", "--output", help="file to write (case-<tracking number>.zip by default)")
    exp.set_defaults(func=cmd_export)
    chk = aud.add_parser("verify-export", help="check a case file without the database")
    chk.add_argument("file")
    chk.add_argument("--public-key", help="the installation's published key (hex) the file must be signed with")
    chk.set_defaults(func=cmd_verify_export)
    aud.add_parser("public-key", help="print the installation's public signing key").set_defaults(
        func=cmd_public_key)
    aud.add_parser("new-key", help="print a new private signing key for SHUBBAK_SIGNING_KEY").set_defaults(
        func=cmd_new_key)
