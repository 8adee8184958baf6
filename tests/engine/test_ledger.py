"""The ledger's Merkle tree and seals, and the installation's signing key."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlmodel import Session

from engine.audit import ledger, signing
from engine.core.errors import Conflict
from engine.core.settings import Settings
from harness.api import Api
from harness.settings import make_settings
from storage.db import engine_for
from tests.support.audit import People, deploy, returned_and_resubmitted


def _leaf(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(4, "big")).digest()


@pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 8, 13, 64, 101])
def test_tree_kept_leaf_by_leaf_is_the_tree_built_at_once(size: int) -> None:
    hashes = [_leaf(i) for i in range(size)]
    tree = ledger.MerkleTree()
    for i, h in enumerate(hashes):
        tree.set(i, h)
        assert tree.root() == ledger.merkle_root(hashes[:i + 1])
    chance = random.Random(size)
    for _ in range(20):
        if size:
            i = chance.randrange(size)
            hashes[i] = _leaf(1000 + chance.randrange(1000))
            tree.set(i, hashes[i])
            assert tree.root() == ledger.merkle_root(hashes)
    for i in range(size):
        assert ledger.root_from_proof(hashes[i], ledger.merkle_proof(hashes, i)) == ledger.merkle_root(hashes)


def test_roots_follow_leaf_sets_even_when_a_lower_id_arrives_late() -> None:
    roots, leaves = ledger.Roots(), {}
    chance = random.Random(7)
    for seal in range(40):
        changes = {chance.randrange(0, 50): ("t", seal, f"{seal:064x}") for _ in range(chance.randrange(1, 6))}
        roots.update(changes)
        leaves.update(changes)
        assert roots.root() == ledger.root_of(leaves)


def _seal(api: Api) -> ledger.Sealed:
    with Session(engine_for(api.settings.database_url)) as session:
        return ledger.seal(session=session, settings=api.settings)


def test_seals_chain_sign_and_anchor(api: Api) -> None:
    deploy(api)
    people = People(api)
    returned_and_resubmitted(api, people)
    first = _seal(api)
    assert (first.seal.seq, first.seal.case_count, first.changed) == (1, 1, 2)  # the case and the access log
    again = _seal(api)
    assert (again.seal.seq, again.seal.case_count, again.changed) == (2, 1, 0)
    assert again.seal.root == first.seal.root and again.seal.prev_hash == first.seal.hash
    published = signing.installation_public_key(api.settings)
    assert first.seal.public_key == published
    assert signing.verify(published, first.seal.hash.encode(), first.seal.signature)
    lines = [json.loads(line) for line in api.settings.anchor_file.read_text().splitlines()]
    assert [(line["seq"], line["hash"]) for line in lines] == [(1, first.seal.hash), (2, again.seal.hash)]


def test_seal_if_due_seals_once_per_interval(api: Api) -> None:
    with Session(engine_for(api.settings.database_url)) as session:
        assert ledger.seal_if_due(session=session, settings=api.settings) is not None
        assert ledger.seal_if_due(session=session, settings=api.settings) is None
    hourly = api.settings.model_copy(update={"seal_interval_hours": 1e-9})
    with Session(engine_for(api.settings.database_url)) as session:
        assert ledger.seal_if_due(session=session, settings=hourly) is not None


def test_two_processes_sealing_at_the_same_moment_seal_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process seals after this one read the last seal and before it writes its own: this one is told
    (Conflict), not a database error, and the periodic round gives way (None); one seal, the other's."""
    hourly = api.settings.model_copy(update={"seal_interval_hours": 1e-9})
    original, began = signing.sign, []

    def another_seals_first(key: Any, message: bytes) -> str:
        if not began:
            began.append(True)
            _seal(api)  # its own session, committed
        return original(key, message)

    monkeypatch.setattr(signing, "sign", another_seals_first)
    with Session(engine_for(api.settings.database_url)) as session:
        with pytest.raises(Conflict):
            ledger.seal(session=session, settings=api.settings)
        began.clear()
        assert ledger.seal_if_due(session=session, settings=hourly) is None
    with Session(engine_for(api.settings.database_url)) as session:
        assert [entry.seq for entry in ledger.seals(session)] == [1, 2]


def test_production_needs_a_real_signing_key_and_its_public_address(tmp_path: Path) -> None:
    secret = "s" * 40
    with pytest.raises(ValidationError, match="SHUBBAK_SIGNING_KEY must be set in production"):
        Settings(environment="production", secret_key=secret)
    with pytest.raises(ValidationError, match="32 random bytes in base64"):
        Settings(environment="production", secret_key=secret, signing_key="change-me")
    seed = signing.new_seed()
    with pytest.raises(ValidationError, match="SHUBBAK_PUBLIC_URL must be set in production"):
        Settings(environment="production", secret_key=secret, signing_key=seed, var_dir=tmp_path)
    with pytest.raises(ValidationError, match="SHUBBAK_PUBLIC_URL must be an absolute address"):
        Settings(environment="production", secret_key=secret, signing_key=seed, public_url="center.example")
    key = Settings(environment="production", secret_key=secret, signing_key=seed, var_dir=tmp_path,
                   public_url="https://center.example")
    assert signing.installation_public_key(key) == signing.public_hex(signing.private_key(seed))
    assert not (tmp_path / signing.DEV_KEY_FILE).exists()


def test_development_key_is_made_once_and_kept(tmp_path: Path) -> None:
    settings = make_settings("sqlite://", tmp_path)
    first = signing.installation_public_key(settings)
    assert (tmp_path / signing.DEV_KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert signing.installation_public_key(make_settings("sqlite://", tmp_path)) == first
    assert signing.installation_public_key(make_settings("sqlite://", tmp_path / "other")) != first
