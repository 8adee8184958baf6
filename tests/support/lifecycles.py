"""Clients that run whole lifecycles of the ``fault_drill`` test service over HTTP (open, register, a one-second
timer, review) with idempotency keys, retrying 503s and lost connections with the same key, and what they were
told: shared by the tests that break the production shape (tests/production/)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.api import CITIZEN

SERVICE = "fault_drill"


@dataclass
class Ledger:
    """What the clients were told, and every answer that should never have been."""

    opened: list[int] = field(default_factory=list)
    completed_tasks: list[str] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    retried: Counter[str] = field(default_factory=Counter)  # "METHOD why" -> how many times
    replayed: int = 0  # answers given again from an Idempotency-Key (`Idempotent-Replayed: true`)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str, value: Any) -> None:
        with self.lock:
            getattr(self, what).append(value)


class Client(threading.Thread):
    """Runs lifecycles until told to stop; a step is retried (same key) on 503 and lost connections only."""

    def __init__(self, number: int, base: str, clerk: dict[str, str], reviewer: dict[str, str],
                 stop: threading.Event, ledger: Ledger) -> None:
        super().__init__(daemon=True, name=f"client-{number}")
        self.number, self.clerk, self.reviewer, self.stop, self.ledger = number, clerk, reviewer, stop, ledger
        self.http = httpx.Client(base_url=base, timeout=20)

    def run(self) -> None:
        lifecycle = 0
        try:
            while not self.stop.is_set():
                lifecycle += 1
                if not self.lifecycle(f"c{self.number}-{lifecycle}"):
                    return
        finally:
            self.http.close()

    def call(self, method: str, path: str, headers: dict[str, str], body: Any = None,
             key: str | None = None) -> httpx.Response | None:
        deadline = time.monotonic() + 90
        sent = {**headers, **({"Idempotency-Key": key} if key else {})}
        while time.monotonic() < deadline:
            try:
                r = self.http.request(method, path, json=body, headers=sent)
            except httpx.TransportError as exc:  # a killed worker, a restarting server: same key again
                with self.ledger.lock:
                    self.ledger.retried[f"{method} {type(exc).__name__}"] += 1
                time.sleep(0.2)
                continue
            if r.status_code == 503:
                with self.ledger.lock:
                    self.ledger.retried[f"{method} 503"] += 1
                time.sleep(min(float(r.headers.get("retry-after", "1")), 1.0))
                continue
            if r.headers.get("idempotent-replayed") == "true":
                with self.ledger.lock:
                    self.ledger.replayed += 1
            return r
        self.ledger.note("unexpected", f"{method} {path}: no answer within 90 s")
        return None

    def expect(self, r: httpx.Response | None, status: int, what: str) -> dict[str, Any] | None:
        if r is None:
            return None
        if r.status_code != status:
            self.ledger.note("unexpected", f"{what}: {r.status_code} {r.text[:300]}")
            return None
        answer: dict[str, Any] = r.json()
        return answer

    def lifecycle(self, key: str) -> bool:
        opened = self.expect(self.call("POST", "/api/cases", self.clerk, {"service_code": SERVICE,
                             "citizen": CITIZEN, "data": {"client": key}}, key=f"{key}-open"), 201, "open")
        if opened is None:
            return False
        self.ledger.note("opened", opened["id"])
        register = opened["tasks"][0]["id"]
        done = self.expect(self.call("POST", f"/api/tasks/{register}/complete", self.clerk, {"data": {"note": key}},
                                     key=f"{key}-register"), 200, "register")
        if done is None:
            return False
        self.ledger.note("completed_tasks", register)
        review = self.wait_for_review(opened["id"])
        if review is None:
            return False
        done = self.expect(self.call("POST", f"/api/tasks/{review}/complete", self.reviewer,
                                     {"data": {"decision": "ok"}}, key=f"{key}-review"), 200, "review")
        if done is None:
            return False
        self.ledger.note("completed_tasks", review)
        if done["status"] != "completed":
            self.ledger.note("unexpected", f"review of case {opened['id']} left it {done['status']}")
            return False
        self.ledger.note("finished", opened["id"])
        return True

    def wait_for_review(self, case_id: int) -> str | None:
        deadline = time.monotonic() + 60  # the timer is due after a second; beat advances it every second
        while time.monotonic() < deadline:
            case = self.expect(self.call("GET", f"/api/cases/{case_id}", self.clerk), 200, "read")
            if case is None:
                return None
            ready = [t["id"] for t in case["tasks"] if t["name"] == "review"]
            if ready:
                return str(ready[0])
            time.sleep(0.3)
        self.ledger.note("unexpected", f"case {case_id}: its timer did not fire within 60 s")
        return None


def run_clients(count: int, base: str, clerk: dict[str, str], reviewer: dict[str, str],
                ledger: Ledger) -> tuple[list[Client], threading.Event]:
    """``count`` clients started on the API at ``base``; set the event to let them finish their lifecycle."""
    stop = threading.Event()
    clients = [Client(n, base, clerk, reviewer, stop, ledger) for n in range(count)]
    for client in clients:
        client.start()
    return clients, stop


def stop_clients(clients: list[Client], stop: threading.Event) -> None:
    stop.set()
    for client in clients:
        client.join(timeout=120)
    assert not any(c.is_alive() for c in clients), "a client did not finish its lifecycle"


def assert_each_done_once(url: str, ledger: Ledger, delivered: Counter[str]) -> None:
    """What the clients were told is in the database at ``url`` exactly once: every case once, every step once,
    every case's timer fired once, every message reached the gateway (``delivered``: key -> deliveries) once,
    and nothing half-written (a finished case has its three messages and its two steps)."""
    from sqlalchemy import func, select
    from sqlmodel import Session

    from storage.db import engine_for
    from storage.models.audit import AuditEvent
    from storage.models.cases import Case, Task
    from storage.models.messages import OutboxMessage

    with Session(engine_for(url)) as session:
        statuses = {row[0]: row[1] for row in session.execute(select(Case.id, Case.status))}
        heads = {row[0]: (row[1], row[2]) for row in session.execute(select(Case.id, Case.audit_seq,
                                                                            Case.audit_head))}
        chains = {row[0]: (row[1], row[2], row[3]) for row in session.execute(
            select(AuditEvent.case_id, func.count(), func.max(AuditEvent.seq), func.min(AuditEvent.seq))
            .group_by(AuditEvent.case_id))}
        last_hash = dict(session.execute(select(AuditEvent.case_id, AuditEvent.hash)
                                         .join(Case, (Case.id == AuditEvent.case_id)
                                               & (Case.audit_seq == AuditEvent.seq))).all())
        ready = Counter(session.execute(select(Task.case_id).where(Task.state == "ready")).scalars())
        events = session.execute(select(AuditEvent.case_id, AuditEvent.kind, AuditEvent.data)).all()
        outbox = session.execute(select(OutboxMessage.case_id, OutboxMessage.stage, OutboxMessage.idempotency_key,
                                        OutboxMessage.status)).all()
    assert ledger.unexpected == [], ledger.unexpected
    # Nothing half-written: each case's row names the last event of a gapless chain (a step's events, tasks and
    # case row are one transaction), every open case waits on a task or its timer, and a completed one on none.
    for case_id, (audit_seq, audit_head) in heads.items():
        assert chains[case_id] == (audit_seq, audit_seq, 1), (case_id, chains[case_id], audit_seq)
        assert last_hash[case_id] == audit_head, case_id
        if statuses[case_id] == "completed":
            assert ready[case_id] == 0, case_id
    assert ledger.finished, "no lifecycle finished"
    assert len(ledger.opened) == len(set(ledger.opened))
    assert sorted(statuses) == sorted(ledger.opened)
    assert all(statuses[c] == "completed" for c in ledger.finished)
    steps = Counter(str(data["task_id"]) for _case, kind, data in events if kind == "task_completed")
    assert all(steps[t] == 1 for t in ledger.completed_tasks), steps
    assert max(steps.values()) == 1
    per_case = Counter(case for case, kind, _data in events if kind == "task_completed")
    assert all(per_case[c] == 2 for c in ledger.finished), per_case
    fired = Counter(case for case, kind, _data in events if kind == "timer_fired")
    assert max(fired.values()) == 1 and all(fired[c] == 1 for c in ledger.finished), fired
    assert all(status == "sent" for *_rest, status in outbox), outbox
    keys = [key for _case, _stage, key, _status in outbox]
    assert sorted(delivered) == sorted(keys) and set(delivered.values()) == {1}
    stages = {c: sorted(stage for case, stage, _key, _status in outbox if case == c) for c in ledger.finished}
    assert all(found == ["completed", "department", "received"] for found in stages.values()), stages
