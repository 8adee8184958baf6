"""Messages one case sent to another that were never delivered: the periodic job ``case_messages``.

A step that sends a message to another case keeps it (``case_message``, pending) in its own transaction and
delivers it just after its commit (engine/cases/workflows.py ``deliver_sent``). A process killed between the two
leaves the message pending, on the sender's chain as ``message_sent`` and nowhere else. This job delivers each
message still pending ``SHUBBAK_CASE_MESSAGE_SWEEP_AFTER_SECONDS`` after it was sent, as the step would have: to
the case that waits for it (``message_received``), else it is held by an incident on the sender. Whichever
delivery settles the message first wins (a conditional update in the receiver's own transaction): a message the
step delivered meanwhile, or that another round took, is never delivered twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session

from engine.bpmn import runner
from engine.cases import correlated, workflows
from engine.core import clock
from engine.core.settings import Settings
from engine.people.users import SYSTEM
from storage import leader
from storage.models.cases import Case

log = logging.getLogger(__name__)


def deliver_pending(session: Session, settings: Settings) -> int:
    """Deliver (or hold) the messages left pending past the grace time, in pages of ``case_message_batch``; how
    many were dealt with. A page goes on from where the last one ended, so that messages whose delivery keeps
    failing (left pending) never hold back the ones after them, however many they are."""
    older_than = clock.now() - timedelta(seconds=settings.case_message_sweep_after_seconds)
    done, last = 0, 0
    while True:
        page = correlated.pending(session, older_than, settings.case_message_batch, last)
        left = [(m.key, m.sender_case_id, runner.Thrown(m.message, dict(m.payload), m.correlation), m.sent_by)
                for m in page]
        last = max((int(m.id or 0) for m in page), default=last)
        session.rollback()
        if not left:
            return done
        leader.check()  # stop when another process may have taken the job's turn
        done += _deliver(session, settings, left)


def _deliver(session: Session, settings: Settings, left: list[tuple[str, int, runner.Thrown, str]]) -> int:
    done = 0
    for key, sender_id, thrown, sent_by in left:
        sender = session.get(Case, sender_id)
        if sender is None:  # pragma: no cover - the row's foreign key keeps its case
            continue
        session.expunge(sender)
        try:
            outcome = workflows.deliver_sent(session, sender, key, thrown, actor=SYSTEM.username, sent_by=sent_by,
                                             settings=settings)
        except Exception:  # noqa: BLE001 - one message's trouble must not hold the ones after it
            session.rollback()
            log.exception("case message %s of case %s: delivery failed; left pending for the next round", key,
                          sender_id)
            continue
        done += int(not outcome.taken)
    return done
