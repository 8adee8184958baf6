"""``shubbak backup DIR`` and ``shubbak restore DIR`` (engine/operations/backup.py; docs/operations.md)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from cli.refusals import tell
from engine.core.settings import Settings
from engine.operations import backup
from storage.backup import BackupFailed


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    if args.dated:  # a new folder per run, named by its UTC moment: a scheduled backup never overwrites one
        folder = folder / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        made = backup.take(settings=settings, folder=folder)
    except BackupFailed as exc:
        tell(settings, exc)
        return 1
    seal = made.last_seal
    print(f"backup written to {made.folder}: the database ({made.database_file}), {made.documents} document(s) "
          f"({made.document_bytes / 1e6:.1f} MB), " + (f"last seal {seal['seq']} of {seal['sealed_at']}"
                                                      if seal else "no seal yet"))
    for center, count in sorted(made.not_copied_yet.items()):
        tell(settings, "backup.not_copied_yet", label="note", count=count, center=center)
    for problem in made.problems:
        tell(settings, problem, label="problem")
    if made.problems:
        tell(settings, "backup.documents_missed", count=len(made.problems))
        return 1
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    try:
        done = backup.restore(settings=settings, folder=Path(args.dir))
    except BackupFailed as exc:
        tell(settings, exc)
        return 1
    seal = done.last_seal
    print(f"restored the database and {done.documents} document(s) from {args.dir} "
          f"(tables at revision {done.revision}; " + (f"last seal {seal['seq']})" if seal else "no seal)"))
    if done.older_than_last_seal:
        tell(settings, "backup.older_than_last_seal", label="warning", anchored=done.newest_anchored,
             seal=(seal or {}).get("seq", 0))
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
