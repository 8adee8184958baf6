"""`shubbak backup` and `shubbak restore`: a backup comes back whole on a new host, and `shubbak audit verify`
passes there; an old backup is named as such; a damaged backup or a non-empty target is refused before anything
is written.

Run as the operator runs them: the real `shubbak` command in a process of its own, configured by SHUBBAK_
variables. PostgreSQL with documents in MinIO (moto's S3 server), and SQLite with documents in a folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from engine.audit import ledger, signing
from engine.cases.documents import store_for
from engine.core.errors import Conflict, Invalid
from engine.core.settings import Settings
from engine.operations import backup
from harness.api import Api
from harness.postgres import LocalPostgres
from harness.settings import ROOT, TEST_PROCESSES, make_settings
from storage import backup as database
from storage.db import dispose, engine_for
from tests.conftest import missing
from tests.support.documents import PDF, PNG, minio_url

pytestmark = pytest.mark.slow


@dataclass
class Site:
    """One installation: its settings, and the environment its `shubbak` commands run with."""

    settings: Settings

    def env(self) -> dict[str, str]:
        s = self.settings
        values = {"SHUBBAK_DATABASE_URL": s.database_url, "SHUBBAK_STORAGE_URL": s.storage_url,
                  "SHUBBAK_VAR_DIR": str(s.var_dir), "SHUBBAK_ENVIRONMENT": "test",
                  "SHUBBAK_SIGNING_KEY": s.signing_key or "", "SHUBBAK_LEDGER_ANCHOR_FILE": str(s.anchor_file),
                  "SHUBBAK_SECRET_KEY": s.secret_key or ""}
        bin_dir = LocalPostgres.binaries()
        if bin_dir is not None:
            values["SHUBBAK_POSTGRES_BIN_DIR"] = str(bin_dir)
        return {**os.environ, "PYTHONPATH": str(ROOT), **values}

    def shubbak(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], env=self.env(), capture_output=True,
                              text=True, timeout=180)


@pytest.fixture(params=["sqlite+folder", pytest.param("postgres+minio", marks=pytest.mark.postgres)])
def sites(request: pytest.FixtureRequest, tmp_path: Path, sqlite_url: str) -> Iterator[tuple[Site, Site]]:
    """An installation with data, and an empty one to restore into (same kind, same signing key)."""
    key = signing.new_seed()
    if request.param == "sqlite+folder":
        source = make_settings(sqlite_url, tmp_path / "a", signing_key=key)
        target = make_settings(f"sqlite:///{tmp_path / 'b' / 'restored.db'}", tmp_path / "b", signing_key=key)
        yield Site(source), Site(target)
        dispose(target.database_url)
        return
    server = request.getfixturevalue("postgres_template")
    endpoint = request.getfixturevalue("s3_endpoint")
    if server is None or endpoint is None:
        missing("needs PostgreSQL and an S3 server (moto)")
    from tests.conftest import _postgres_db

    source_db, target_db = _postgres_db(server), _postgres_db(server, template="template0", prefix="r_")
    source = make_settings(next(source_db), tmp_path / "a", signing_key=key, storage_url=minio_url(endpoint))
    target = make_settings(next(target_db), tmp_path / "b", signing_key=key, storage_url=minio_url(endpoint))
    yield Site(source), Site(target)
    for gen in (source_db, target_db):
        next(gen, None)  # runs each one's clean-up (dispose, drop the database)


def _populate(site: Site) -> dict[str, Any]:
    """Two services' cases, two scans, a step done, a seal: what a day at a center leaves."""
    with TestClient(create_app(site.settings)) as client:
        api = Api(client, site.settings)
        analyst, clerk = api.user("analyst"), api.user("front_desk")
        for service in ("papers", "test_permit"):
            assert api.deploy(TEST_PROCESSES / service, analyst).status_code == 201
        case = api.open_case("papers", clerk).json()
        for kind, name, content, mime in (("national_id_copy", "id.pdf", PDF, "application/pdf"),
                                          ("national_id_copy", "id2.png", PNG, "image/png")):
            r = client.post(f"/api/cases/{case['id']}/documents", data={"kind": kind},
                            files={"file": (name, content, mime)}, headers=clerk)
            assert r.status_code == 201, r.text
        permit = api.open_case("test_permit", clerk).json()
        r = api.complete(permit["tasks"][0]["id"], {"area": 120, "purpose": "family house"}, clerk)
        assert r.status_code == 200, r.text
    with Session(engine_for(site.settings.database_url)) as session:
        ledger.seal(session=session, settings=site.settings)
    return {"papers": case, "permit": permit}


def test_a_backup_restores_on_a_new_host_and_verifies(sites: tuple[Site, Site], tmp_path: Path) -> None:
    source, target = sites
    _populate(source)
    folder = tmp_path / "backup-1"
    made = source.shubbak("backup", str(folder))
    assert made.returncode == 0, made.stderr
    assert "2 document(s)" in made.stdout and "last seal 1" in made.stdout
    manifest = json.loads((folder / backup.MANIFEST).read_text())
    assert manifest["last_seal"]["seq"] == 1 and manifest["documents"] == 2 and manifest["problems"] == []
    listed = [json.loads(line) for line in (folder / backup.DOCUMENT_LIST).read_text().splitlines()]
    assert sorted(e["sha256"] for e in listed) == sorted(hashlib.sha256(c).hexdigest() for c in (PDF, PNG))
    saved = (folder / backup.SETTINGS).read_text()
    for secret in (source.settings.secret_key or "?", source.settings.signing_key or "?", "shubbak-test-secret"):
        assert secret not in saved
    assert json.loads(saved)["seal_interval_hours"] == source.settings.seal_interval_hours
    assert (folder / backup.ANCHOR).read_text().count("\n") == 1

    restored = target.shubbak("restore", str(folder))
    assert restored.returncode == 0, restored.stderr
    assert "2 document(s)" in restored.stdout and "WARNING" not in restored.stderr
    verified = target.shubbak("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "checked 2 cases" in verified.stdout and "1 seals" in verified.stdout

    store = store_for(target.settings)
    for entry in listed:
        download = store.open(entry["key"])
        try:
            assert hashlib.sha256(b"".join(download)).hexdigest() == entry["sha256"]
        finally:
            download.close()
    with TestClient(create_app(target.settings)) as client:  # the restored installation serves its cases
        api = Api(client, target.settings)
        auditor = api.user("auditor")
        docs = client.get(f"/api/cases/{listed[0]['case_id']}/documents", headers=auditor)
        assert docs.status_code == 200 and len(docs.json()) == 2
        content = client.get(f"/api/documents/{docs.json()[0]['id']}/content", headers=auditor)
        assert content.status_code == 200 and content.content in (PDF, PNG)
        new = api.open_case("test_permit", api.user("front_desk"))  # the ids' sequences came back too
        assert new.status_code == 201, new.text
        assert new.json()["id"] > max(e["case_id"] for e in listed)

    again = target.shubbak("restore", str(folder))  # the database is not empty any more
    assert again.returncode == 1
    assert "the database is not empty" in again.stderr and "restore only into a new, empty database" in again.stderr


def test_a_backup_older_than_the_last_seal_is_named_by_verify(sites: tuple[Site, Site], tmp_path: Path) -> None:
    source, target = sites
    _populate(source)
    folder = tmp_path / "backup-old"
    assert source.shubbak("backup", str(folder)).returncode == 0
    with Session(engine_for(source.settings.database_url)) as session:
        ledger.seal(session=session, settings=source.settings)  # seal 2, after the backup
    # The new host keeps the installation's anchor file (it lives outside the database, copied elsewhere).
    target.settings.anchor_file.parent.mkdir(parents=True, exist_ok=True)
    target.settings.anchor_file.write_bytes(source.settings.anchor_file.read_bytes())
    restored = target.shubbak("restore", str(folder))
    assert restored.returncode == 0, restored.stderr
    assert ("WARNING [backup.older_than_last_seal]: the anchor file names seal 2, newer than this backup's last "
            "seal (1)") in restored.stderr
    assert target.settings.anchor_file.read_text().count("\n") == 2  # nothing removed from the evidence
    verified = target.shubbak("audit", "verify")
    assert verified.returncode == 1
    assert "BROKEN ledger, seal 2: sealed at" in verified.stdout, verified.stdout
    assert "the database was restored to an earlier point [the database was restored to before a seal]" in (
        verified.stdout)


def test_a_damaged_backup_is_refused_before_anything_is_written(sites: tuple[Site, Site], tmp_path: Path) -> None:
    source, target = sites
    _populate(source)
    folder = tmp_path / "backup-2"
    backup.take(settings=source.settings, folder=folder)
    victim = next(p for p in (folder / backup.DOCUMENTS).rglob("*") if p.is_file())
    victim.write_bytes(victim.read_bytes()[:-1] + b"X")
    with pytest.raises(Invalid, match="the backup is damaged: document .* does not match its hash"):
        backup.restore(settings=target.settings, folder=folder)
    assert database.tables(target.settings.database_url) == []
    store = store_for(target.settings)
    store.prepare()  # (a bucket nobody made yet cannot be asked)
    assert not any(store.exists(json.loads(line)["key"])
                   for line in (folder / backup.DOCUMENT_LIST).read_text().splitlines())

    (folder / backup.DOCUMENT_LIST).write_text("")  # the listing no longer matches backup.json
    with pytest.raises(Invalid, match="documents.jsonl is missing or does not match"):
        backup.restore(settings=target.settings, folder=folder)
    (folder / backup.MANIFEST).unlink()
    with pytest.raises(Invalid, match="not a finished backup"):
        backup.restore(settings=target.settings, folder=folder)


def test_refusals_of_backup_and_restore(sqlite_settings: Settings, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something").write_text("x")
    with pytest.raises(Conflict, match="is not empty: give a new folder"):
        backup.take(settings=sqlite_settings, folder=busy)
    folder = tmp_path / "fine"
    backup.take(settings=sqlite_settings, folder=folder)
    with pytest.raises(Conflict, match="the database is not empty"):  # the source itself is not empty
        backup.restore(settings=sqlite_settings, folder=folder)
    pg = make_settings("postgresql+psycopg://nobody@127.0.0.1:1/none", tmp_path)
    with pytest.raises(Invalid, match="this backup is of a sqlite database"):
        backup.restore(settings=pg, folder=folder)


def test_a_document_changed_in_the_store_is_reported_by_the_backup(sqlite_settings: Settings,
                                                                    tmp_path: Path) -> None:
    site = Site(sqlite_settings.model_copy(update={"signing_key": signing.new_seed()}))
    _populate(site)
    root = Path(site.settings.storage_url[len("file://"):])
    changed = next(p for p in root.rglob("*") if p.is_file())
    changed.write_bytes(b"%PDF-1.4 something else")
    made = backup.take(settings=site.settings, folder=tmp_path / "b")
    assert made.documents == 1 and len(made.problems) == 1
    assert "does not match the hash recorded at upload" in made.problems[0]
    out = site.shubbak("backup", str(tmp_path / "c"))
    assert out.returncode == 1 and "PROBLEM [backup.document_changed]: document" in out.stderr


def test_settings_in_a_backup_keep_no_secret(tmp_path: Path) -> None:
    settings = make_settings("postgresql+psycopg://shubbak:pg-pass-123@db:5432/shubbak", tmp_path,
                             broker_url="redis://:redis-pass-456@redis:6379/0", storage_access_key="ak-789",
                             storage_secret_key="sk-012", metrics_token="metrics-token-3456789",
                             sms_gateway_options={"api_key": "sms-key-678"}, signing_key=signing.new_seed())
    saved = json.dumps(backup.public_settings(settings))
    for secret in ("pg-pass-123", "redis-pass-456", "ak-789", "sk-012", "metrics-token-3456789", "sms-key-678",
                   settings.signing_key or "?", settings.secret_key or "?"):
        assert secret not in saved
    public = backup.public_settings(settings)
    assert public["database_url"] == "postgresql+psycopg://***@db:5432/shubbak"
    assert public["sms_gateway"] == "log" and public["max_document_bytes"] == settings.max_document_bytes


def test_a_dated_backup_goes_into_a_new_folder_under_dir(sqlite_settings: Settings, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from argparse import Namespace

    from cli.backup import cmd_backup

    assert cmd_backup(sqlite_settings, Namespace(dir=str(tmp_path / "nightly"), dated=True)) == 0
    [made] = list((tmp_path / "nightly").iterdir())
    assert re.fullmatch(r"\d{8}T\d{6}Z", made.name) and (made / backup.MANIFEST).exists()
    assert f"backup written to {made}" in capsys.readouterr().out


def _backup_of_a_populated_site(settings: Settings, tmp_path: Path) -> tuple[str, Path]:
    """A site with data under a new signing key, backed up into tmp_path/b: the key and the backup folder."""
    key = signing.new_seed()
    source = Site(settings.model_copy(update={"signing_key": key}))
    _populate(source)
    folder = tmp_path / "b"
    backup.take(settings=source.settings, folder=folder)
    return key, folder


def test_a_store_holding_another_object_under_a_key_is_refused(sqlite_settings: Settings, tmp_path: Path) -> None:
    key, folder = _backup_of_a_populated_site(sqlite_settings, tmp_path)
    target = make_settings(f"sqlite:///{tmp_path / 't' / 'restored.db'}", tmp_path / "t", signing_key=key)
    first = json.loads((folder / backup.DOCUMENT_LIST).read_text().splitlines()[0])
    squatter = Path(target.storage_url[len("file://"):]) / first["key"]
    squatter.parent.mkdir(parents=True)
    squatter.write_bytes(b"%PDF-1.4 not the scan")
    with pytest.raises(Conflict, match=f"already holds a different object under {first['key']}"):
        backup.restore(settings=target, folder=folder)
    assert database.tables(target.database_url) == []  # the database is loaded last: nothing was written there
    assert squatter.read_bytes() == b"%PDF-1.4 not the scan"
    dispose(target.database_url)


@pytest.mark.parametrize(("url", "secret", "expected"), [
    # SQLAlchemy reads everything up to the last "@" as the password, "/" included.
    ("postgresql+psycopg://shubbak:s3cr/et@db:5432/shubbak", "s3cr", "postgresql+psycopg://***@db:5432/shubbak"),
    ("redis://***@redis:6379/0?password=hunter2", "hunter2", "redis://***@redis:6379/0"),
    ("redis://redis:6379/0?db_token=tok-1&ssl_cert_reqs=none&sslkey=k-2", "tok-1",
     "redis://redis:6379/0?ssl_cert_reqs=none"),
])
def test_a_url_keeps_no_password_with_a_slash_nor_a_credential_in_its_query(
        tmp_path: Path, url: str, secret: str, expected: str) -> None:
    settings = make_settings(url if url.startswith("postgresql") else "sqlite:///x.db", tmp_path,
                             broker_url=url if url.startswith("redis") else "redis://127.0.0.1:6379/0")
    public = backup.public_settings(settings)
    saved = json.dumps(public)
    assert secret not in saved and "et@db" not in saved and "k-2" not in saved
    assert expected in (public["database_url"], public["broker_url"])


def test_a_backup_is_readable_by_its_owner_only(sqlite_settings: Settings, tmp_path: Path) -> None:
    site = Site(sqlite_settings.model_copy(update={"signing_key": signing.new_seed()}))
    _populate(site)
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    previous = os.umask(0o022)  # the usual umask: files 0644, folders 0755 unless the backup sees to it
    try:
        backup.take(settings=site.settings, folder=tmp_path / "nightly" / "one")
        backup.take(settings=site.settings, folder=existing)
        assert os.umask(0o022) == 0o022  # put back as it was
    finally:
        os.umask(previous)
    for folder in (tmp_path / "nightly" / "one", existing):
        paths = [folder, *folder.rglob("*")]
        assert sum(p.is_file() for p in paths) >= 6  # the database, 2 documents, their list, settings, manifest
        modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in paths}
        assert modes == {name: oct(0o700 if (tmp_path / name).is_dir() else 0o600) for name in modes}
    assert (tmp_path / "nightly").stat().st_mode & 0o077 == 0  # a parent it made is not open to others either


def _relist(folder: Path, entries: list[Any]) -> None:
    """Write documents.jsonl anew and its hash into backup.json, as whoever crafts a backup would."""
    listing = folder / backup.DOCUMENT_LIST
    listing.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in entries))
    manifest = json.loads((folder / backup.MANIFEST).read_text())
    manifest["files"][backup.DOCUMENT_LIST] = hashlib.sha256(listing.read_bytes()).hexdigest()
    (folder / backup.MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("crafted", ["dot-dot", "absolute", "link-out", "not-json", "no-hash", "store-differs"])
def test_a_crafted_second_entry_is_refused_before_anything_is_put(sqlite_settings: Settings, tmp_path: Path,
                                                                   crafted: str) -> None:
    key, folder = _backup_of_a_populated_site(sqlite_settings, tmp_path)
    first, second = [json.loads(line) for line in (folder / backup.DOCUMENT_LIST).read_text().splitlines()]
    outside = tmp_path / "host-secret.txt"  # a file of the host, beside the backup
    outside.write_bytes(b"root:x:0:0 not for a backup\n")
    outside_hash = hashlib.sha256(outside.read_bytes()).hexdigest()
    target = make_settings(f"sqlite:///{tmp_path / 't' / 'restored.db'}", tmp_path / "t", signing_key=key)
    store = store_for(target)
    store.prepare()
    expected: tuple[type[Exception], str] = (Invalid, "is not a document key Shubbak makes")
    if crafted == "dot-dot":
        _relist(folder, [first, {**second, "key": "../../host-secret.txt", "sha256": outside_hash}])
    elif crafted == "absolute":
        _relist(folder, [first, {**second, "key": str(outside), "sha256": outside_hash}])
    elif crafted == "link-out":  # a key of the right shape whose file is a link leading out of the backup
        linked = folder / backup.DOCUMENTS / second["key"]
        linked.unlink()
        linked.symlink_to(outside)
        _relist(folder, [first, {**second, "sha256": outside_hash, "size": outside.stat().st_size}])
    elif crafted == "not-json":
        _relist(folder, [first, "{not json"])
        expected = (Invalid, "line 2 of documents.jsonl is not a document entry")
    elif crafted == "no-hash":
        _relist(folder, [first, {k: v for k, v in second.items() if k != "sha256"}])
        expected = (Invalid, "line 2 of documents.jsonl is not a document entry")
    else:
        with outside.open("rb") as squatter:
            store.put(second["key"], squatter, content_type="text/plain")
        expected = (Conflict, f"already holds a different object under {second['key']}")
    with pytest.raises(expected[0], match=expected[1]):
        backup.restore(settings=target, folder=folder)
    assert not store.exists(first["key"])  # the first, good entry was not put either
    assert database.tables(target.database_url) == []
    if crafted == "store-differs":
        download = store.open(second["key"])
        try:
            assert b"".join(download) == outside.read_bytes()  # the store's own object is left as it was
        finally:
            download.close()
    dispose(target.database_url)


@pytest.mark.parametrize("crafted", ["name-leads-out", "dump-is-a-link", "documents-is-a-link", "anchor-unlisted"])
def test_a_backup_naming_files_outside_itself_is_refused(sqlite_settings: Settings, tmp_path: Path,
                                                         crafted: str) -> None:
    key, folder = _backup_of_a_populated_site(sqlite_settings, tmp_path)
    manifest = json.loads((folder / backup.MANIFEST).read_text())
    outside = tmp_path / "host-secret.txt"
    outside.write_bytes(b"root:x:0:0 not for a backup\n")
    outside_hash = hashlib.sha256(outside.read_bytes()).hexdigest()
    expected = "is not a plain file of the backup folder"
    if crafted == "name-leads-out":  # backup.json asks to hash a file of the host
        manifest["files"]["../host-secret.txt"] = outside_hash
    elif crafted == "dump-is-a-link":  # the database to load is the host's file
        (folder / database.DUMP_SQLITE).unlink()
        (folder / database.DUMP_SQLITE).symlink_to(outside)
        manifest["files"][database.DUMP_SQLITE] = outside_hash
    elif crafted == "documents-is-a-link":  # keys of the right shape, in a folder elsewhere on the host
        elsewhere = tmp_path / "elsewhere"
        (folder / backup.DOCUMENTS).rename(elsewhere)
        (folder / backup.DOCUMENTS).symlink_to(elsewhere)
        expected = "is not a document key Shubbak makes"
    else:  # an anchor file read by the restore without its hash in backup.json
        del manifest["files"][backup.ANCHOR]
        expected = "ledger-anchor.jsonl is missing or does not match"
    (folder / backup.MANIFEST).write_text(json.dumps(manifest))
    target = make_settings(f"sqlite:///{tmp_path / 't' / 'restored.db'}", tmp_path / "t", signing_key=key)
    with pytest.raises(Invalid, match=expected):
        backup.restore(settings=target, folder=folder)
    assert database.tables(target.database_url) == [] and not target.anchor_file.exists()
    store = store_for(target)
    store.prepare()
    assert not any(store.exists(json.loads(line)["key"])
                   for line in (folder / backup.DOCUMENT_LIST).read_text().splitlines())
    dispose(target.database_url)
