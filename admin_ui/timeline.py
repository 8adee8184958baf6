"""A case's audit events told in plain words, and the earlier steps (with their notes) a reviewer reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from admin_ui.i18n import N_, Lang
from admin_ui.labels import Labels
from forms.fields import summary
from storage.models.audit import AuditEvent
from storage.models.people import User

# The sentence of each kind of event; the catalogs translate them. Unknown kinds fall back to their name.
SENTENCES = {
    "case_opened": N_("%(actor)s registered the request"),
    "task_claimed": N_("%(actor)s took “%(step)s”"),
    "task_released": N_("%(actor)s released “%(step)s”"),
    "task_completed": N_("%(actor)s completed “%(step)s”"),
    "timer_fired": N_("A deadline of the service passed"),
    "case_completed": N_("The case was closed"),
    "case_cancelled": N_("%(actor)s cancelled the case"),
    "case_migrated": N_("%(actor)s moved the case to version %(version)s of the service"),
    "document_uploaded": N_("%(actor)s scanned “%(paper)s”"),
    "document_waived": N_("%(actor)s waived “%(paper)s”"),
    "original_received": N_("%(actor)s received the paper original of “%(paper)s”"),
    "original_moved": N_("%(actor)s sent the paper original of “%(paper)s” on"),
    "task_reminded": N_("“%(step)s” falls due soon: its department was reminded"),
    "task_escalated": N_("“%(step)s” is overdue: escalated to level %(level)s"),
    "task_reassigned": N_("%(actor)s gave “%(step)s” to %(officer)s"),
    "task_reassigned_lane": N_("%(actor)s gave “%(step)s” back to its department"),
    "script_limit": N_("“%(step)s” was not completed: a script of the service went over its limit"),
    "step_failed": N_("“%(step)s” was not completed: the service failed at this step (an incident)"),
    "incident_repeated": N_("%(actor)s retried “%(step)s”: the service failed again"),
    "timer_failed": N_("A deadline of the service passed but the service failed to go on (an incident)"),
    "bill_issued": N_("A bill of %(amount)s %(currency)s was issued"),
    "bill_lapsed": N_("The bill lapsed unpaid and is void"),
    "payment_taken": N_("%(actor)s took a payment of %(amount)s %(currency)s (receipt %(receipt)s)"),
    "message_received": N_("The fee was paid: the request moved on"),
    "refund_requested": N_("%(actor)s asked to refund %(amount)s %(currency)s"),
    "refund_approved": N_("%(actor)s approved the refund of %(amount)s %(currency)s"),
    "refund_refused": N_("%(actor)s refused the refund"),
    "receipt_printed": N_("%(actor)s printed the receipt %(receipt)s"),
    "checkout_created": N_("%(actor)s asked the payment provider for a payment reference of %(amount)s %(currency)s"),
    "checkout_expired": N_("A payment reference expired unpaid"),
    "checkout_mismatch": N_("The payment provider said another amount was paid than the payment reference's "
                            "%(amount)s %(currency)s: to look into"),
    "mismatch_cleared": N_("%(actor)s looked into the payment reference and took it off the list"),
}


# A failed step (engine/cases/incidents.py): its details are the failure's own words.
FAILURES = frozenset({"script_limit", "step_failed", "incident_repeated", "timer_failed"})


@dataclass
class Entry:
    at: datetime
    text: str
    details: list[tuple[str, str]] = field(default_factory=list)
    kind: str = ""
    who: str = ""


def _when(event: AuditEvent) -> datetime:
    return datetime.fromisoformat(event.at)


def full_names(db: Session, events: list[AuditEvent]) -> dict[str, str]:
    names = {ev.actor for ev in events} | {str(ev.data["to"]) for ev in events
                                           if ev.kind == "task_reassigned" and ev.data.get("to")}
    rows = db.exec(select(User.username, User.full_name).where(col(User.username).in_(names))).all()
    return {username: full_name for username, full_name in rows}


def story(events: list[AuditEvent], schemas: dict[str, dict[str, Any]], labels: Labels, service_code: str,
          lang: Lang, people: dict[str, str], papers: dict[str, str]) -> list[Entry]:
    """Every event, oldest first, as a sentence in the reader's language with what was decided.

    ``papers`` names the service's document kinds in the reader's language."""
    entries = []
    for ev in events:
        actor = people.get(ev.actor) or (lang.gettext("The system") if ev.actor == "system" else
                                         lang.gettext("The citizen") if ev.actor == "citizen" else ev.actor)
        step = labels.step(service_code, ev.task, lang) if ev.task else ""
        paper = papers.get(str(ev.data.get("kind")), str(ev.data.get("kind", "")))
        kind = "task_reassigned_lane" if ev.kind == "task_reassigned" and not ev.data.get("to") else ev.kind
        sentence = SENTENCES.get(kind)
        officer = str(ev.data.get("to") or "")
        text = (lang.gettext(sentence, actor=actor, step=step, paper=paper, version=ev.data.get("to_version", ""),
                             officer=people.get(officer) or officer, level=lang.number(ev.data.get("level", 0)),
                             amount=str(ev.data.get("amount", "")), currency=str(ev.data.get("currency", "")),
                             receipt=str(ev.data.get("receipt_number", "")))
                if sentence else f"{actor}: {ev.kind}")
        details = _details(ev, schemas, lang)
        if ev.data.get("reason"):
            details = [(lang.gettext("Reason"), str(ev.data["reason"]))]
        elif ev.kind in FAILURES:  # which element, which limit: in the analysts' words (English)
            details = [(lang.gettext("Reason"), str(ev.data.get("message", "")))]
        elif ev.kind == "document_uploaded" and ev.data.get("filename"):
            details = [(lang.gettext("File"), str(ev.data["filename"]))]
        entries.append(Entry(_when(ev), text, details, ev.kind, actor))
    return entries


def _details(ev: AuditEvent, schemas: dict[str, dict[str, Any]], lang: Lang) -> list[tuple[str, str]]:
    if ev.kind != "task_completed":
        return []
    return summary(ev.data.get("data") or {}, schemas, lang)


def earlier_steps(events: list[AuditEvent], schemas: dict[str, dict[str, Any]], labels: Labels,
                  service_code: str, lang: Lang, people: dict[str, str]) -> list[Entry]:
    """The completed steps before this one, each with what its people wrote and decided."""
    return [Entry(_when(ev), labels.step(service_code, ev.task or "", lang), _details(ev, schemas, lang),
                  ev.kind, people.get(ev.actor, ev.actor))
            for ev in events if ev.kind == "task_completed"]
