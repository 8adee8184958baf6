"""The case page's story of an e-payment reference, in the reader's language: asked for, expired (by the
reconciliation round, its cause not shown as a raw code), flagged for another amount."""

from __future__ import annotations

from typing import Any

from admin_ui.i18n import Lang
from admin_ui.labels import Labels
from admin_ui.timeline import story
from storage.models.audit import AuditEvent


def event(seq: int, kind: str, actor: str, **data: Any) -> AuditEvent:
    return AuditEvent(case_id=1, seq=seq, at="2026-12-06T05:00:00+00:00", actor=actor, kind=kind,
                      task="wait_fee", data=data, prev_hash="0" * 64, hash=str(seq) * 64)


EVENTS = [
    event(1, "checkout_created", "cash_a", bill="B-1", provider="fake", reference="FP-1", amount="150.00",
          currency="EGP"),
    event(2, "checkout_mismatch", "gateway:fake", bill="B-1", provider="fake", reference="FP-1", amount="150.00",
          currency="EGP", provider_amount="15.00", provider_currency="EGP", via="reconciliation"),
    event(3, "checkout_expired", "system:reconciliation", bill="B-1", provider="fake", reference="FP-1",
          provider_status="pending", cause="too_old", after_days=7),
]


def test_the_e_payment_events_read_as_sentences_in_both_languages() -> None:
    for code, words in (("ar", ("مرجع دفع", "مزود الدفع", "انتهت صلاحية")), ("en", ("payment reference",
                                                                                  "another amount", "expired"))):
        told = story(EVENTS, {}, Labels(), "pay_demo", Lang(code), {"cash_a": "Amal"}, {})
        texts = [entry.text for entry in told]
        assert all(": checkout_" not in text for text in texts), texts  # not the raw kind
        for text, word in zip(texts, words, strict=True):
            assert word in text, (code, texts)
        assert "Amal" in texts[0] and "150.00" in texts[0] and "150.00" in texts[1]
        assert told[2].details == []  # the round's cause is not shown as a raw code
