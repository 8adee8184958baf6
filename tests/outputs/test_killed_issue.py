"""A document's issue killed between storing its PDF and recording it (SIGKILL) leaves the row pending and the
PDF named by no row: the next round issues it once, and the orphans job deletes the stray PDF, not the good one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.audit import verify
from engine.core import clock
from engine.operations import orphans
from storage.db import session_for
from tests.outputs.conftest import World
from tests.support.documents import stored_keys
from tests.support.midway import killed_at

pytestmark = pytest.mark.slow


def test_a_document_killed_before_its_record_is_issued_once_and_its_stray_pdf_swept(world: World) -> None:
    settings = world.api.settings
    case = world.walk("approved", until="hand_over")
    [owed] = world.outputs(case["id"])
    assert owed["status"] == "pending"
    killed_at(settings, at="engine.outputs.issue:_record", after=False, call="engine.outputs.issue:issue_pending",
              kwargs={})
    [still] = world.outputs(case["id"])
    assert still["status"] == "pending"
    stray = [k for k in stored_keys(settings) if k.startswith("outputs/")]
    assert len(stray) == 1  # rendered, signed and stored; its row never said so
    assert world.issue_all() == 1
    [issued] = world.outputs(case["id"])
    assert issued["status"] == "valid" and issued["number"] == owed["number"]
    with session_for(settings.database_url) as session:
        later = clock.now() + timedelta(hours=settings.orphan_grace_hours, minutes=1)
        swept = orphans.sweep(session=session, settings=settings, now=later)
        assert swept.deleted == 1
        assert verify.verify_all(session=session, settings=settings).findings == []
    left = [k for k in stored_keys(settings) if k.startswith("outputs/")]
    assert len(left) == 1 and left != stray  # the issued PDF stayed, the stray one went
    assert world.pdf(issued["number"]).startswith(b"%PDF")
