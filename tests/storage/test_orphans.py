"""Stored objects that no row names (a process killed between writing a paper and committing its row) are
deleted by the orphans job once older than the grace; named ones, and young ones (a write in flight), stay."""

from __future__ import annotations

import io
from datetime import timedelta

from engine.cases.documents import store_for
from engine.core import clock
from engine.core.settings import Settings
from engine.operations import orphans
from harness.api import Api
from storage.db import session_for
from tests.support.documents import PDF, open_papers_case, stored_keys


def test_only_old_objects_no_row_names_are_deleted(doc_api: Api) -> None:
    settings: Settings = doc_api.settings
    case = open_papers_case(doc_api)
    clerk = doc_api.user("front_desk")
    r = doc_api.client.post(f"/api/cases/{case['id']}/documents", data={"kind": "national_id_copy"},
                            files={"file": ("id.pdf", PDF, "application/pdf")}, headers=clerk)
    assert r.status_code == 201, r.text
    store = store_for(settings)
    lost = [f"cases/{case['id']}/0a1b2c", f"outputs/{case['id']}/d-000001-9f8e"]  # written, their row never was
    for key in lost:
        store.put(key, io.BytesIO(b"a paper nobody names"), content_type="application/pdf")
    named = [k for k in stored_keys(settings) if k.startswith("cases/") and k not in lost]
    assert len(named) == 1
    with session_for(settings.database_url) as session:
        # Within the grace: a write may still be on its way to its commit; nothing is touched.
        young = orphans.sweep(session=session, settings=settings)
        assert (young.looked_at, young.deleted) == (0, 0)
        later = clock.now() + timedelta(hours=settings.orphan_grace_hours, minutes=1)
        swept = orphans.sweep(session=session, settings=settings, now=later)
        assert (swept.looked_at, swept.deleted) == (3, 2)
        assert orphans.sweep(session=session, settings=settings, now=later).deleted == 0  # a second round
    left = [k for k in stored_keys(settings) if not k.startswith(".incoming")]
    assert left == named
    download = doc_api.client.get(f"/api/documents/{r.json()['id']}/content", headers=clerk)
    assert download.status_code == 200 and download.content == PDF


def test_a_small_batch_still_sweeps_everything(doc_api: Api) -> None:
    settings = doc_api.settings.model_copy(update={"orphan_sweep_batch": 2})
    store = store_for(settings)
    for i in range(5):
        store.put(f"cases/9/{i:04x}", io.BytesIO(b"x"), content_type="application/pdf")
    with session_for(settings.database_url) as session:
        later = clock.now() + timedelta(hours=settings.orphan_grace_hours + 1)
        assert orphans.sweep(session=session, settings=settings, now=later).deleted == 5
    assert [k for k in stored_keys(settings) if k.startswith("cases/")] == []


def test_a_store_full_of_papers_this_database_does_not_name_is_not_emptied(doc_api: Api) -> None:
    """An older backup restored over a newer store, or a drill pointed at the production bucket: hundreds of
    objects no row names. The round deletes none of them and says how many it held back."""
    settings = doc_api.settings.model_copy(update={"orphan_sweep_max_deletes": 3, "orphan_sweep_batch": 2})
    store = store_for(settings)
    keys = [f"cases/7/{i:04x}" for i in range(6)]
    for key in keys:
        store.put(key, io.BytesIO(b"a paper of another database"), content_type="application/pdf")
    with session_for(settings.database_url) as session:
        later = clock.now() + timedelta(hours=settings.orphan_grace_hours + 1)
        swept = orphans.sweep(session=session, settings=settings, now=later)
    assert swept.deleted == 0 and swept.held > settings.orphan_sweep_max_deletes
    assert [k for k in stored_keys(settings) if k.startswith("cases/")] == keys
