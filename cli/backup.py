"""``shubbak backup DIR`` and ``shubbak restore DIR`` (engine/backup.py; docs/operations.md)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from engine import backup
from engine.settings import Settings
from storage.backup import BackupFailed


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    if args.dated:  # a new folder per run, named by its UTC moment: a scheduled backup never overwrites one
        folder = folder / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        made = backup.take(settings=settings, folder=folder)
    except BackupFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    seal = made.last_seal
    print(f"backup written to {made.folder}: the database ({made.database_file}), {made.documents} document(s) "
          f"({made.document_bytes / 1e6:.1f} MB), " + (f"last seal {seal['seq']} of {seal['sealed_at']}"
                                                      if seal else "no seal yet"))
    for problem in made.problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    if made.problems:
        print(f"{len(made.problems)} document(s) could not be backed up as recorded: see above", file=sys.stderr)
        return 1
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    try:
        done = backup.restore(settings=settings, folder=Path(args.dir))
    except BackupFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    seal = done.last_seal
    print(f"restored the database and {done.documents} document(s) from {args.dir} "
          f"(tables at revision {done.revision}; " + (f"last seal {seal['seq']})" if seal else "no seal)"))
    if done.older_than_last_seal:
        print(f"WARNING: the anchor file names seal {done.newest_anchored}, newer than this backup's last seal "
              f"({(seal or {}).get('seq', 0)}): the database is now older than the last seal, and "
              "`shubbak audit verify` will say so. Cases worked after the backup are not in it.", file=sys.stderr)
    print("next: `shubbak migrate` (when this version is newer than the backup), then `shubbak audit verify`")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("backup", help="back up the database, the documents, the ledger anchor and the settings")
    b.add_argument("dir", help="a new (or empty) folder to write the backup into")
    b.add_argument("--dated", action="store_true", help="write into a new folder under DIR named by the date and time")
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore", help="restore a backup into an empty database and document store")
    r.add_argument("dir", help="a folder written by `shubbak backup`")
    r.set_defaults(func=cmd_restore)
