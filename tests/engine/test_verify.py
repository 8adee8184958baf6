"""`shubbak audit verify` against every kind of change made directly in the database, on SQLite and PostgreSQL.

Three cases (one completed after a return, one open, one opened after the first seal), an auditor's reads,
and two seals. Each test makes one change behind the engine's back and asserts it is found, named for what it
is, at its first broken link, and that nothing else is reported. The untouched database reports nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session

from cli.main import main
from engine.audit import ledger, verify
from engine.core.chain import event_hash
from engine.core.settings import get_settings
from harness.api import Api
from storage.db import dispose, engine_for
from tests.support.audit import (
    REGISTER,
    RETURN,
    People,
    as_json,
    deploy,
    events,
    forge_event,
    rehash,
    returned_and_resubmitted,
    roll_back_case,
    rows,
    shift_events,
    snapshot_case,
    sql,
    step,
)


@dataclass
class Sealed:
    api: Api
    done: int  # completed after a return: 7 events
    open: int  # open, waiting for the hand-over: 5 events
    late: int  # opened after the first seal: 2 events
    open_at_3: dict[str, Any]  # the open case as it was after its third event


def _seal(api: Api) -> ledger.Sealed:
    with Session(engine_for(api.settings.database_url)) as session:
        return ledger.seal(session=session, settings=api.settings)


def _verify(api: Api) -> verify.Report:
    with Session(engine_for(api.settings.database_url)) as session:
        return verify.verify_all(session=session, settings=api.settings)


@pytest.fixture
def sealed(api: Api) -> Sealed:
    deploy(api)
    people = People(api)
    done = returned_and_resubmitted(api, people)
    case = api.open_case("audit_case", people.clerk).json()
    case = step(api, case, REGISTER, people.clerk)
    case = step(api, case, RETURN, people.reviewer)
    open_at_3 = snapshot_case(api, case["id"])
    case = step(api, case, {"area": 110, "corrections": "survey attached"}, people.clerk)
    case = step(api, case, {"decision": "approve"}, people.reviewer)
    events(api, done["id"], people.auditor)  # an auditor's read: the access log's first row
    assert _seal(api).changed == 3  # two cases and the access log
    late = step(api, api.open_case("audit_case", people.clerk).json(), REGISTER, people.clerk)
    events(api, late["id"], people.auditor)
    assert _seal(api).changed == 2  # the new case and the access log's new head
    return Sealed(api, done["id"], case["id"], late["id"], open_at_3)


def _found(report: verify.Report) -> list[tuple[str, int | None, int | None]]:
    return [(f.kind, f.case_id, f.seq) for f in report.findings]


def test_untouched_database_reports_nothing(sealed: Sealed) -> None:
    report = _verify(sealed.api)
    assert report.findings == []
    assert (report.cases, report.events, report.seals, report.reads, report.unsealed) == (3, 14, 2, 2, 0)


def _head(api: Api, case_id: int, seq: int) -> str:
    [(digest,)] = rows(api, "SELECT hash FROM audit_event WHERE case_id = :c AND seq = :s", c=case_id, s=seq)
    return str(digest)


# Each change: (what it does to the database, the finding expected as (kind, which case, event), words of it).
# One small function per change, alike on purpose: each reads as the tampering it is, and pytest names it.
def edit_event(s: Sealed) -> Any:
    sql(s.api, "UPDATE audit_event SET actor = 'someone else' WHERE case_id = :c AND seq = 2", c=s.done)
    return ("edited_event", s.done, 2), "event 2: the event's content does not match its hash"


def edit_and_rehash_event(s: Sealed) -> Any:
    """The event's actor changed and its own hash recomputed: the next event no longer links to it."""
    [row] = rows(s.api, "SELECT at, kind, task, data, after, prev_hash FROM audit_event "
                        "WHERE case_id = :c AND seq = 3", c=s.done)
    new = event_hash(case_id=s.done, seq=3, at=row.at, actor="someone else", kind=row.kind, task=row.task,
                     data=as_json(row.data), prev_hash=row.prev_hash, after=as_json(row.after))
    sql(s.api, "UPDATE audit_event SET actor = 'someone else', hash = :h WHERE case_id = :c AND seq = 3",
        h=new, c=s.done)
    return ("edited_event", s.done, 3), "event 3: event 4 does not link to it"


def delete_event(s: Sealed) -> Any:
    sql(s.api, "DELETE FROM audit_event WHERE case_id = :c AND seq = 3", c=s.done)
    return ("deleted_event", s.done, 3), "event 4: expected event 3 here: event 3 was deleted"


def delete_last_event(s: Sealed) -> Any:
    sql(s.api, "DELETE FROM audit_event WHERE case_id = :c AND seq = 7", c=s.done)
    return ("deleted_event", s.done, 7), "head: the case records 7 events"


def reorder_events(s: Sealed) -> Any:
    sql(s.api, "UPDATE audit_event SET seq = 1000 WHERE case_id = :c AND seq = 2", c=s.done)
    sql(s.api, "UPDATE audit_event SET seq = 2 WHERE case_id = :c AND seq = 3", c=s.done)
    sql(s.api, "UPDATE audit_event SET seq = 3 WHERE case_id = :c AND seq = 1000", c=s.done)
    return ("reordered_events", s.done, 2), "event 2: expected event 2 here: it is stored as event 3"


def insert_event(s: Sealed) -> Any:
    """A forged approval slipped in after the registration, with a hash of its own; later events renumbered."""
    shift_events(s.api, s.done, 3, 1)
    forge_event(s.api, s.done, 3, _head(s.api, s.done, 2))
    return ("inserted_event", s.done, 3), "event 3 was inserted"


def append_event(s: Sealed) -> Any:
    forge_event(s.api, s.open, 6, _head(s.api, s.open, 5))
    return ("inserted_event", s.open, 6), "event 6 was added after the case's recorded head"


def change_state(s: Sealed) -> Any:
    sql(s.api, "UPDATE case_file SET state = (SELECT state FROM case_file WHERE id = :o) WHERE id = :c",
        o=s.open, c=s.done)
    return ("state_mismatch", s.done, 7), "event 7: the stored state is not the one this event recorded"


def change_data(s: Sealed) -> Any:
    sql(s.api, "UPDATE case_file SET data = :d WHERE id = :c", d='{"fee": 1.0}', c=s.done)
    return ("data_mismatch", s.done, 7), "the stored data is not the data this event recorded"


def change_status(s: Sealed) -> Any:
    sql(s.api, "UPDATE case_file SET status = 'cancelled' WHERE id = :c", c=s.open)
    return ("projection_mismatch", s.open, 5), "status is 'cancelled', recorded 'open'"


def change_tasks(s: Sealed) -> Any:
    sql(s.api, "UPDATE task SET state = 'cancelled' WHERE case_id = :c AND state = 'ready'", c=s.open)
    return ("projection_mismatch", s.open, 5), "ready is [], recorded [['hand_over'"


def delete_case(s: Sealed) -> Any:
    for table in ("audit_event", "task", "outbox_message"):
        sql(s.api, f"DELETE FROM {table} WHERE case_id = :c", c=s.done)
    sql(s.api, "DELETE FROM case_file WHERE id = :c", c=s.done)
    return ("deleted_case", s.done, 7), "sealed in seal 1 at event 7, the case no longer exists"


def roll_back_chain(s: Sealed) -> Any:
    """Events 4 and 5 removed together with the case's head, state, data and tasks: a consistent case again."""
    roll_back_case(s.api, s.open_at_3)
    return ("rolled_back", s.open, 5), "the chain now ends at event 3: events 4..5 were removed"


def rewrite_sealed_history(s: Sealed) -> Any:
    """An event's actor changed and the whole chain re-hashed: every link holds, but not the sealed head."""
    sql(s.api, "UPDATE audit_event SET actor = 'someone else' WHERE case_id = :c AND seq = 2", c=s.done)
    rehash(s.api, s.done)
    return ("rewritten_history", s.done, 7), "this is not the event sealed in seal 1"


def edit_seal(s: Sealed) -> Any:
    sql(s.api, "UPDATE audit_seal SET case_count = case_count + 1 WHERE seq = 1")
    return ("ledger_edited", None, None), "ledger, seal 1: the seal's content does not match its hash"


def edit_sealed_leaf(s: Sealed) -> Any:
    sql(s.api, "UPDATE audit_seal_leaf SET audit_seq = 2 WHERE case_id = :c", c=s.done)
    return ("ledger_edited", None, None), "seal 1: the sealed heads no longer give the seal's Merkle root"


def restore_before_last_seal(s: Sealed) -> Any:
    """What a restored backup from between the two seals looks like to the ledger: the second seal is gone."""
    sql(s.api, "DELETE FROM audit_seal_leaf WHERE seal_seq = 2", "DELETE FROM audit_seal WHERE seq = 2")
    return ("database_rolled_back", None, None), "ledger, seal 2: sealed at"


def edit_read(s: Sealed) -> Any:
    sql(s.api, "UPDATE audit_access SET actor = 'nobody' WHERE seq = 1")
    return ("access_log_altered", None, None), "access log, read 1: the read's content does not match its hash"


def delete_last_read(s: Sealed) -> Any:
    sql(s.api, "DELETE FROM audit_access WHERE seq = 2")
    return ("access_log_altered", None, None), "sealed at read 2, the log now has 1 reads"


CHANGES = [edit_event, edit_and_rehash_event, delete_event, delete_last_event, reorder_events, insert_event,
           append_event, change_state, change_data, change_status, change_tasks, delete_case, roll_back_chain,
           rewrite_sealed_history, edit_seal, edit_sealed_leaf, restore_before_last_seal, edit_read,
           delete_last_read]


@pytest.mark.parametrize("change", [pytest.param(c, id=c.__name__) for c in CHANGES])
def test_each_change_is_found_and_named(sealed: Sealed, change: Any) -> None:
    expected, words = change(sealed)
    report = _verify(sealed.api)
    assert _found(report) == [expected]
    assert words in str(report.findings[0])


@pytest.fixture
def cli(sealed: Sealed, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sealed]:
    monkeypatch.setenv("SHUBBAK_DATABASE_URL", sealed.api.settings.database_url)
    monkeypatch.setenv("SHUBBAK_VAR_DIR", str(sealed.api.settings.var_dir))
    get_settings.cache_clear()
    yield sealed
    get_settings.cache_clear()


def test_cli_reports_the_first_broken_link(cli: Sealed, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "checked 3 cases, 14 events, 2 seals and 2 reads" in out
    delete_case(cli)
    sql(cli.api, "UPDATE audit_event SET actor = 'x' WHERE case_id = :c AND seq = 4", c=cli.open)
    assert main(["audit", "verify"]) == 1
    broken = [line for line in capsys.readouterr().out.splitlines() if line.startswith("BROKEN")]
    assert len(broken) == 2
    assert f"(id {cli.open}), event 4: the event's content does not match its hash [an event was edited]" in broken[0]
    assert f"(id {cli.done}), head: sealed in seal 1" in broken[1]
    assert broken[1].endswith("[a sealed case was deleted]")


def test_database_file_restored_from_before_a_seal(sqlite_api: Api, tmp_path: Any) -> None:
    """SQLite: the whole database file put back as it was before the last seal; the anchor file remembers."""
    api = sqlite_api
    deploy(api)
    people = People(api)
    returned_and_resubmitted(api, people)
    _seal(api)
    path = api.settings.database_url.removeprefix("sqlite:///")
    backup = tmp_path / "backup.db"
    with Session(engine_for(api.settings.database_url)) as session:
        session.execute(text(f"VACUUM INTO '{backup}'"))
    step(api, api.open_case("audit_case", people.clerk).json(), REGISTER, people.clerk)
    _seal(api)
    assert _verify(api).findings == []
    dispose(api.settings.database_url)
    shutil.copy(backup, path)
    report = _verify(api)
    assert _found(report) == [("database_rolled_back", None, None)]
    assert "ledger, seal 2: sealed at" in str(report.findings[0])
