"""A center node copies its documents' stored objects to central's store (engine/operations/node_copy.py): each
once, checked against its recorded SHA-256, through a cut line, and never on another kind of node."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from engine.cases import lifecycle as cases
from engine.cases.documents import store_for
from engine.core.settings import Settings
from engine.operations import node_copy
from engine.people import centers
from engine.people.users import Actor
from harness.api import CITIZEN
from harness.pages import deploy
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for
from storage.documents import ObjectStore, StorageError
from storage.models.cases import Document

CLERK = Actor("clerk", frozenset({"front_desk"}))


@pytest.fixture
def single(settings: Settings) -> Settings:
    """A node's database with the service and the center it will need, as central's rows bring them."""
    deploy(settings, TEST_PROCESSES / "test_permit")
    with Session(engine_for(settings.database_url)) as session:
        centers.create_center(session=session, code="CAI01", name_ar="مركز القاهرة", name_en="Cairo center",
                              level="governorate")
    return settings


@pytest.fixture
def center(single: Settings, tmp_path: Path) -> Iterator[Settings]:
    yield make_settings(single.database_url, tmp_path, node_role="center", node_center="CAI01",
                        node_central_storage_url=f"file://{tmp_path / 'central'}")
    make_settings(single.database_url, tmp_path)  # the database is a single node's again


def scan(settings: Settings, body: bytes, *, record_sha: str | None = None) -> str:
    """A scan recorded on ``settings``'s node: its object in the node's store, its row in the database."""
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
        case = cases.open_case(session=session, service_code="test_permit", citizen=CITIZEN, data={},
                               actor=CLERK, settings=settings).case
        key = f"cases/{case.id}/{hashlib.sha256(body).hexdigest()[:16]}"
        store_for(settings).put(key, io.BytesIO(body), content_type="application/pdf")
        session.add(Document(case_id=case.id, kind="deed", version=1, filename="deed.pdf",
                             content_type="application/pdf", size=len(body),
                             sha256=record_sha or hashlib.sha256(body).hexdigest(), storage_key=key,
                             uploaded_by="clerk"))
        session.commit()
    return key


def copy_round(settings: Settings) -> node_copy.Copied:
    with Session(engine_for(settings.database_url)) as session:
        return node_copy.copy_pending(session=session, settings=settings)


def waiting(settings: Settings) -> int:
    with engine_for(settings.database_url).connect() as conn:
        return node_copy.waiting(conn)[0]


def central_bytes(settings: Settings, key: str) -> bytes:
    download = node_copy.central_store(settings).open(key)
    try:
        return b"".join(download)
    finally:
        download.close()


def test_each_object_is_copied_once_with_its_content(center: Settings) -> None:
    keys = [scan(center, f"page {i}".encode() * 1000) for i in range(3)]
    assert waiting(center) == 3
    assert copy_round(center) == node_copy.Copied(copied=3)
    assert [central_bytes(center, k) for k in keys] == [f"page {i}".encode() * 1000 for i in range(3)]
    assert waiting(center) == 0
    assert copy_round(center) == node_copy.Copied()  # nothing again


def test_a_small_batch_copies_everything_over_rounds(center: Settings) -> None:
    small = center.model_copy(update={"node_copy_batch": 2})
    for i in range(5):
        scan(small, f"scan {i}".encode())
    assert [copy_round(small).copied for _ in range(4)] == [2, 2, 1, 0]
    assert waiting(small) == 0


def test_an_object_that_does_not_match_its_record_is_not_copied(center: Settings) -> None:
    key = scan(center, b"the original", record_sha=hashlib.sha256(b"something else").hexdigest())
    assert copy_round(center) == node_copy.Copied(failed=1)
    assert not node_copy.central_store(center).exists(key)  # removed again
    assert waiting(center) == 1  # still counted as not copied, tried again next round
    assert copy_round(center) == node_copy.Copied(failed=1)


def test_an_object_missing_on_the_node_is_left_waiting(center: Settings) -> None:
    key = scan(center, b"scanned")
    store_for(center).delete(key)
    assert copy_round(center) == node_copy.Copied(failed=1)
    assert waiting(center) == 1


def test_an_object_central_already_holds_is_not_written_again(center: Settings) -> None:
    key = scan(center, b"replicated by the buckets")
    central = node_copy.central_store(center)
    central.prepare()
    central.put(key, io.BytesIO(b"replicated by the buckets"), content_type="application/pdf")
    assert copy_round(center) == node_copy.Copied(present=1)
    assert waiting(center) == 0


def test_a_wrong_object_left_at_central_is_copied_again_not_taken_as_copied(center: Settings) -> None:
    # A copy that did not match its record, whose removal from central's store the line cut (or a process killed
    # between the two): the next round found the key there and counted it copied, for good.
    key = scan(center, b"the scan as recorded")
    central = node_copy.central_store(center)
    central.prepare()
    central.put(key, io.BytesIO(b"another content"), content_type="application/pdf")
    assert copy_round(center) == node_copy.Copied(copied=1)
    assert central_bytes(center, key) == b"the scan as recorded"
    assert waiting(center) == 0


def test_a_cut_line_stops_the_round_and_the_next_goes_on(center: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [scan(center, f"scan {i}".encode()) for i in range(3)]
    real = node_copy.central_store

    class Cut:
        def __init__(self, store: ObjectStore) -> None:
            self.store, self.puts = store, 0

        def exists(self, key: str) -> bool:
            return self.store.exists(key)

        def put(self, *args: object, **kwargs: object) -> None:
            self.puts += 1
            if self.puts > 1:
                raise StorageError("central's store cannot be reached")
            self.store.put(*args, **kwargs)  # type: ignore[arg-type]

    cut = Cut(real(center))
    monkeypatch.setattr(node_copy, "central_store", lambda s: cut)
    assert copy_round(center) == node_copy.Copied(copied=1, failed=1)
    assert cut.puts == 2  # the round stopped at the first failure
    assert waiting(center) == 2
    monkeypatch.setattr(node_copy, "central_store", real)
    assert copy_round(center) == node_copy.Copied(copied=2)
    assert all(real(center).exists(k) for k in keys)


@pytest.mark.parametrize("role", ["single", "central"])
def test_only_a_center_node_copies(single: Settings, tmp_path: Path, role: str) -> None:
    scan(single, b"a scan")
    other = single.model_copy(update={"node_role": role, "node_central_storage_url": f"file://{tmp_path / 'c'}"})
    assert copy_round(other) == node_copy.Copied()
    assert not (tmp_path / "c").exists()


def test_the_setting_is_refused_on_other_nodes(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="SHUBBAK_NODE_CENTRAL_STORAGE_URL"):
        Settings(node_role="central", node_central_storage_url=f"file://{tmp_path}")


def test_issued_documents_are_copied_too(center: Settings) -> None:
    key = scan(center, b"a scan")
    body = b"%PDF-1.7 an issued certificate"
    with engine_for(center.database_url).begin() as conn:
        case_id = conn.execute(text("SELECT case_id FROM document WHERE storage_key = :k"), {"k": key}).scalar_one()
        pdf_key = f"cases/{case_id}/outputs/certificate"
        store_for(center).put(pdf_key, io.BytesIO(body), content_type="application/pdf")
        conn.execute(text("INSERT INTO issued_output (number, case_id, service_code, kind, source, status, sha256, "
                          "storage_key, size, attempts, prints, created_at, issued_at) VALUES ('CAI01-1', :c, "
                          "'test_permit', 'certificate', 'end', 'valid', :sha, :key, :size, 0, 0, :now, :now)"),
                     {"c": case_id, "sha": hashlib.sha256(body).hexdigest(), "key": pdf_key, "size": len(body),
                      "now": "2026-12-06 10:00:00+00:00"})
    assert copy_round(center) == node_copy.Copied(copied=2)
    assert central_bytes(center, pdf_key) == body


def test_central_says_a_centers_scan_has_not_arrived_rather_than_damaged(single: Settings) -> None:
    from engine.cases.documents import open_content
    from engine.core.errors import Conflict, Corrupted

    key = scan(single, b"scanned at the center")
    central = single.model_copy(update={"node_role": "central"})
    store = store_for(central)
    with engine_for(single.database_url).begin() as conn:
        doc_id = conn.execute(text("SELECT id FROM document WHERE storage_key = :k"), {"k": key}).scalar_one()
        conn.execute(text("UPDATE case_file SET node = 'CAI01'"))
    body = b"".join(store.open(key))
    store.delete(key)  # the row came by replication, the bytes are still at the center
    with Session(engine_for(single.database_url)) as session:
        with pytest.raises(Conflict) as refused:
            open_content(session=session, actor=CLERK, settings=central, store=store, document_id=doc_id)
        assert refused.value.message_id == "documents.not_copied_yet"
        assert "CAI01" in refused.value.text("en")
        with pytest.raises(Corrupted):  # a central case's missing file is still damage
            moved = session.execute(text("UPDATE case_file SET node = NULL"))
            assert moved.rowcount == 1
            open_content(session=session, actor=CLERK, settings=central, store=store, document_id=doc_id)
        session.rollback()
    store.put(key, io.BytesIO(body), content_type="application/pdf")  # copied
    with Session(engine_for(single.database_url)) as session:
        _, chunks = open_content(session=session, actor=CLERK, settings=central, store=store, document_id=doc_id)
        assert b"".join(chunks) == body


def test_central_says_a_centers_issued_document_has_not_arrived_rather_than_damaged(single: Settings) -> None:
    from engine.core.errors import Conflict, Corrupted
    from engine.outputs import manage

    key = scan(single, b"a scan")
    central = single.model_copy(update={"node_role": "central"})
    reader = Actor("sup", frozenset({"supervisor", "admin"}))
    with engine_for(single.database_url).begin() as conn:  # the row came by replication, the PDF is still there
        case_id = conn.execute(text("SELECT case_id FROM document WHERE storage_key = :k"), {"k": key}).scalar_one()
        conn.execute(text("INSERT INTO issued_output (number, case_id, service_code, kind, source, status, sha256, "
                          "storage_key, size, attempts, prints, created_at, issued_at) VALUES ('D2026-C7-AAAA-BBBB-"
                          "CCCC', :c, 'test_permit', 'certificate', 'end', 'valid', :sha, :key, 3, 0, 0, :now, :now)"),
                     {"c": case_id, "sha": hashlib.sha256(b"pdf").hexdigest(), "key": f"cases/{case_id}/outputs/x",
                      "now": "2026-12-06 10:00:00+00:00"})
        conn.execute(text("UPDATE case_file SET node = 'CAI01'"))
    with Session(engine_for(single.database_url)) as session:
        with pytest.raises(Conflict) as refused:
            manage.pdf_of(session=session, number="D2026-C7-AAAA-BBBB-CCCC", actor=reader, settings=central)
        assert refused.value.message_id == "documents.not_copied_yet" and "CAI01" in refused.value.text("en")
        session.execute(text("UPDATE case_file SET node = NULL"))
        with pytest.raises(Corrupted):  # a central case's missing file is still damage
            manage.pdf_of(session=session, number="D2026-C7-AAAA-BBBB-CCCC", actor=reader, settings=central)
        session.rollback()
