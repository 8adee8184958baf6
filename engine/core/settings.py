"""Every knob of Shubbak, in one typed class.

Read from the environment with the prefix ``SHUBBAK_`` (``SHUBBAK_DATABASE_URL``...). Nothing else in the
code base reads ``os.environ``: a setting that is not here does not exist.
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import date, time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.core.files import KNOWN_TYPES
from engine.core.secret import development_secret
from storage import nodes
from storage.db import PostgresOptions, configure_postgres

# The hall queue's priority classes, as the kiosk offers them: SHUBBAK_QUEUE_PRIORITY_WEIGHTS weighs each one
# (engine/queue/ordering.py orders the waiting tickets by them). Kept here so the settings can check the weights
# without reaching up into the queue.
PRIORITIES = ("elderly", "disabled", "pregnant", "normal")


# The blocks below look alike on purpose: one field per limit, with its bounds, under the comment of the feature
# that reads it. They are not one generic table: each limit is checked and documented where it is owned.
class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHUBBAK_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    var_dir: Path = Path("var")
    database_url: str = "sqlite:///var/shubbak.db"
    storage_url: str = "file://var/documents"
    broker_url: str | None = None

    # Signs tokens, page cookies and rating links. Unset in development: a random one is made once under
    # var_dir (engine/core/secret.py); required in production.
    secret_key: str | None = None
    # Argon2id cost; the defaults are argon2-cffi's recommended ones (RFC 9106 low-memory profile).
    password_time_cost: int = Field(default=3, ge=1)
    password_memory_kib: int = Field(default=65536, ge=64)
    token_minutes: int = Field(default=12 * 60, ge=1)
    # Bearer tokens whose signature was checked, remembered with their claims (engine/people/users.py): the
    # user's row is still read on every request; 0 checks every signature again.
    token_cache_size: int = Field(default=4096, ge=0)

    # Limits: named here, never written into code.
    max_request_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_deploy_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_xml_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_files_per_deploy: int = Field(default=50, ge=1)
    max_page_size: int = Field(default=200, ge=1)
    # A diagram that runs longer than this between two waits is stopped and the command refused.
    max_engine_steps: int = Field(default=10_000, ge=10)
    max_engine_seconds: float = Field(default=5.0, gt=0)

    # Citizens' identity rules.
    national_id_pattern: str = r"^[0-9]{10,14}$"
    national_id_check_egypt_birth_date: bool = True
    phone_pattern: str = r"^\+[1-9][0-9]{7,14}$"

    # Tracking numbers: random digits plus one check digit. A center node's start with its center's digits, and
    # keep at least ``tracking_center_random_digits`` random ones, longer than ``tracking_digits`` if need be
    # (engine/core/tracking.py).
    tracking_digits: int = Field(default=10, ge=6, le=18)
    tracking_center_random_digits: int = Field(default=7, ge=5, le=12)
    # Payments at the center (engine/payments/): the receipt prefix of a case that belongs to no center (a center's
    # receipts carry its code: CODE-2026-000123), and the largest amount a single payment may carry (main units).
    receipt_center_code: str = Field(default="MAIN", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    max_payment_amount: int = Field(default=100_000_000, ge=1)
    # E-payment (engine/payments/gateways/, docs/front-desk.md "E-payment"): each provider by name with its
    # options (JSON in the environment: its secret, its address...), checked by the provider's own schema; the
    # provider a checkout uses when the request names none; how old a provider's callback may be (its signed
    # timestamp, either way from now); and the callbacks that fail their check (a bad signature, an old
    # timestamp, garbage) allowed per client address and window before the address is refused (429).
    payment_providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    payment_provider: str | None = None
    payment_callback_window_seconds: int = Field(default=300, ge=1)
    payment_callback_max_failures_per_address: int = Field(default=20, ge=1)
    payment_callback_failure_window_seconds: int = Field(default=900, ge=1)
    # The reconciliation round (engine/payments/reconcile.py): a payment reference still pending this many minutes
    # after it was made is asked about at its provider (paid: settled as its callback would; over: expired);
    # references asked per round; seconds between rounds (0: only ``shubbak tick`` and Celery beat run it); and the
    # days after which a reference the provider still calls pending (or says nothing usable about) is expired all
    # the same, so that none stays pending for ever.
    payment_reconcile_after_minutes: int = Field(default=30, ge=1)
    payment_reference_expire_days: int = Field(default=7, ge=1, le=365)
    payment_reconcile_batch: int = Field(default=50, ge=1)
    payment_reconcile_seconds: float = Field(default=300.0, ge=0)

    # Citizens signing in by SMS code (engine/citizen/signin.py): the code's life and tries, how many codes one
    # phone and one client address may ask for per window, wrong codes allowed per address and window, the
    # citizen token's life, and the country prefix put in front of a number typed with a leading 0.
    citizen_code_minutes: int = Field(default=5, ge=1, le=60)
    citizen_code_max_tries: int = Field(default=5, ge=1, le=20)
    citizen_code_window_seconds: int = Field(default=3600, ge=1)
    citizen_codes_per_phone: int = Field(default=5, ge=1)
    citizen_codes_per_address: int = Field(default=30, ge=1)
    citizen_wrong_codes_per_address: int = Field(default=20, ge=1)
    citizen_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    citizen_cases_max: int = Field(default=100, ge=1, le=1000)
    # Codes expired or used this many hours ago are deleted by the periodic job ``citizen_codes``.
    citizen_code_keep_hours: int = Field(default=24, ge=1, le=24 * 90)
    # Finding a service (engine/catalog/finder.py): searches one address may make per window (429 beyond), the
    # longest query, the lowest score (0-100) shown and how many results.
    service_search_max_per_address: int = Field(default=120, ge=1)
    service_search_window_seconds: int = Field(default=60, ge=1)
    service_search_max_chars: int = Field(default=100, ge=1, le=1000)
    service_search_min_score: float = Field(default=72.0, ge=0, le=100)
    service_search_max_results: int = Field(default=10, ge=1, le=100)
    # Open311 GeoReport v2 (engine/citizen/open311.py): requests filed per key and window (429 beyond), the
    # center their cases open at (its code; none: installation-wide), the longest span a list may ask for
    # (the specification's 90 days) and the most requests a list answers (its 1000); the public reads (lists,
    # definitions, a request by number) one address may make per window.
    open311_requests_per_key: int = Field(default=60, ge=1)
    open311_reads_per_address: int = Field(default=300, ge=1)
    open311_window_seconds: int = Field(default=60, ge=1)
    open311_center: str | None = None
    open311_max_span_days: int = Field(default=90, ge=1)
    open311_max_results: int = Field(default=1000, ge=1, le=10000)
    # A citizen's note with the paper they send back to a return (engine/citizen/returns.py).
    citizen_note_max_chars: int = Field(default=1000, ge=1, le=10000)
    phone_country_prefix: str = Field(default="+20", pattern=r"^\+[1-9][0-9]{0,3}$")
    # The development gateway ``log`` also appends each message, as one JSON line, to this file
    # (``var_dir/messages.jsonl`` when unset, "-" for none).
    message_log_file: str | None = None

    # Public tracking: failed guesses allowed per tracking number and window before refusing.
    public_track_max_failures: int = Field(default=10, ge=1)
    public_track_window_seconds: int = Field(default=900, ge=1)
    # Ratings (docs/citizen-guide.md): the longest reason a citizen may write with a face. Wrong rating links
    # count against the same limit per tracking number as wrong phone digits on the tracking page.
    rating_reason_max_chars: int = Field(default=500, ge=1, le=5000)
    # Complaints resolved can be reopened by the citizen for this many days (copied into each new complaint's
    # data at open, so a case keeps the window it started with and replay reads the same).
    complaint_reopen_days: int = Field(default=14, ge=1, le=365)
    reopen_reason_max_chars: int = Field(default=1000, ge=1, le=5000)
    # Sign-in: a username's or an address's wrong passwords are forgotten this long after the last one (the
    # growing delays are set in the accounts block below).
    login_window_seconds: int = Field(default=900, ge=1)

    # Where the in-process tick advances due timers (embedded default); 0 turns it off.
    timer_tick_seconds: float = Field(default=30.0, ge=0)

    # Messages to citizens (docs/messages.md). Each channel's gateway by name (engine/messages/gateways.py)
    # and its options, checked against that gateway's own schema (JSON in the environment). No e-mail
    # gateway: no e-mails.
    sms_gateway: str = "log"
    sms_gateway_options: dict[str, Any] = Field(default_factory=dict)
    email_gateway: str | None = None
    email_gateway_options: dict[str, Any] = Field(default_factory=dict)
    # A failed send is tried again after base * 2**(attempt-1) seconds, at most cap; failed for good after
    # max attempts (staff see it on the case).
    message_retry_base_seconds: float = Field(default=5.0, gt=0)
    message_retry_cap_seconds: float = Field(default=900.0, gt=0)
    message_max_attempts: int = Field(default=8, ge=1)
    # A sender holds a claimed message this long; a sender that died meanwhile leaves it to the next one,
    # which sends it again under the same idempotency key.
    message_lease_seconds: float = Field(default=60.0, gt=0)
    # How often pending messages are looked for: by Celery beat, or (embedded default, no broker) by a loop in
    # the API process; 0 turns the embedded loop off.
    message_poll_seconds: float = Field(default=2.0, ge=0)
    message_batch: int = Field(default=100, ge=1)
    # A message one case sent to another is delivered just after its sender's commit; one still undelivered
    # this long after (its process died in between) is delivered by the periodic job ``case_messages``
    # (engine/cases/correlated.py), read ``case_message_batch`` at a time.
    case_message_sweep_after_seconds: float = Field(default=60.0, ge=0)
    case_message_batch: int = Field(default=100, ge=1)
    # Lanes whose tasks are not "a department received your papers" (besides the front desk's role); "citizen"
    # is the citizen's own step (a resolved complaint's time to reopen, engine/cases/complaints.py).
    message_silent_lanes: list[str] = Field(default_factory=lambda: ["supervisor", "citizen"])

    # SLAs count working days (engine/core/calendars.py, docs/leadership.md). The country picks the weekend and the
    # time zone the days are counted in (EG, SA: Friday+Saturday; AE: Saturday+Sunday); the weekend days
    # (mon..sun) and the zone may be given instead. Public holidays: ISO dates here and/or in a file, one a line.
    sla_country: str = "EG"
    sla_weekend_days: list[str] | None = None
    sla_timezone: str | None = None
    sla_holidays: list[date] = Field(default_factory=list)
    sla_holidays_file: Path | None = None
    # Escalation (engine/cases/escalation.py): a ready task reminds its lane once this many hours before it is due.
    escalation_remind_hours: float = Field(default=24.0, ge=0)
    escalation_batch: int = Field(default=500, ge=1)
    # Work distribution (engine/cases/assignment.py, engine/people/presence.py): the longest absence one
    # request records, and how many tasks the periodic job hands over or assigns per round.
    absence_max_days: int = Field(default=366, ge=1)
    assignment_batch: int = Field(default=500, ge=1)
    # The most tasks one bulk operation of a supervisor takes (engine/cases/bulk.py).
    bulk_max_items: int = Field(default=500, ge=1)

    # Role that acts on user tasks drawn outside any lane.
    default_lane: str = "front_desk"

    # Warm cache of restored workflows, checked against the case's version on every use.
    workflow_cache_size: int = Field(default=2048, ge=0)

    # Leadership's figures (engine/reports/): the longest date range one report covers, and the range
    # shown when none is asked for (the last N days up to today).
    report_max_days: int = Field(default=366, ge=1)
    report_default_days: int = Field(default=30, ge=1)

    # The pages: the center's clock for dates, and the address printed in receipts' QR codes (the
    # request's own address when not set, which is wrong behind a proxy that rewrites the host).
    display_timezone: str = "Africa/Cairo"
    public_url: str | None = None

    # Documents: scanned papers of every case (see docs/deployment.md). ``storage_url`` is
    # ``file://FOLDER`` (embedded default) or ``minio://KEY:SECRET@HOST:PORT/BUCKET[?secure=true&region=R]``;
    # the keys may instead come from the two settings below, which keeps them out of the URL.
    storage_access_key: str | None = None
    storage_secret_key: str | None = None
    # A private certificate authority for MinIO behind TLS (PEM file); the system's CAs otherwise.
    storage_ca_file: Path | None = None
    max_document_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    # Room for the multipart framing around the file (boundaries, part headers, the kind field).
    max_document_form_bytes: int = Field(default=64 * 1024, ge=1024)
    # Allowed types, decided by each file's first bytes (known: see engine/core/files.py KNOWN_TYPES).
    document_types: list[str] = Field(default_factory=lambda: ["application/pdf", "image/jpeg", "image/png",
                                                               "image/tiff"], min_length=1)
    # Bytes read or written at a time while streaming a document to or from storage.
    document_chunk_bytes: int = Field(default=1024 * 1024, ge=4096)
    # MinIO multipart part size (S3's minimum is 5 MiB): the server holds about three parts of one upload in
    # memory while it streams.
    document_part_bytes: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)
    # An upload whose request is at most this long goes to MinIO in one PUT (held in memory once, twice
    # while it is assembled); larger ones go in parts.
    document_single_put_bytes: int = Field(default=16 * 1024 * 1024, ge=0)
    max_filename_chars: int = Field(default=150, ge=16, le=255)
    # The role that works the front desk: it holds paper originals kept at the front desk.
    front_desk_role: str = "front_desk"

    # Auditors (docs/auditor-guide.md). The installation's Ed25519 signing key: the 32-byte private seed in
    # base64. It signs the ledger's seals and case-file exports; its public half is published
    # (`shubbak audit public-key`). Required in production; in development a key is generated once under var_dir.
    signing_key: str | None = None
    # Public keys (hex) of retired signing keys whose old seals and exports are still trusted.
    trusted_public_keys: list[str] = Field(default_factory=list)
    # Seal the ledger (a Merkle root over every case's chain head) this often, from the periodic tick.
    seal_interval_hours: float = Field(default=24.0, gt=0)
    # Where each seal is also written, outside the database, so that rolling the database back is noticed;
    # copy it somewhere the database's administrators cannot write. ``var_dir/ledger-anchor.jsonl`` when unset.
    ledger_anchor_file: Path | None = None

    # Official documents (docs/documents.md). The certificate (PEM, the chain after it) and private key (PEM,
    # unencrypted: keep the file readable by Shubbak alone) a real certificate authority issued for signing
    # the PDFs; when both are unset, PDFs are signed with the installation's key under a self-issued
    # certificate (development, and installations whose verifiers trust the published public key).
    document_certificate_file: Path | None = None
    document_key_file: Path | None = None
    # The public verification page and JSON: unknown numbers one address may look up per window.
    document_verify_max_misses_per_address: int = Field(default=30, ge=1)
    document_verify_window_seconds: int = Field(default=900, ge=1)
    # A PDF uploaded to the verification page is refused above this size.
    document_verify_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Pending documents each round of the periodic job renders, and attempts before one is marked failed.
    document_issue_batch: int = Field(default=20, ge=1)
    document_issue_attempts: int = Field(default=5, ge=1)
    # Seconds between rounds of the job that issues them (0: only ``shubbak tick`` and Celery beat run it).
    document_issue_seconds: float = Field(default=2.0, ge=0)
    # The work one render of an output template may do (engine/catalog/output_templates.py): each loop round,
    # call and item or character a range, repetition or join makes costs one. A template that spends more is
    # refused at preview and deploy, and its document fails at issue, with ``outputs.template_too_costly``.
    document_template_budget: int = Field(default=100_000, ge=1000)
    # Stored objects no row names (a process killed between writing a scan or a document and committing its
    # row) are deleted once older than orphan_grace_hours (engine/operations/orphans.py), by a job that runs
    # every orphan_sweep_seconds (0: only ``shubbak tick`` and Celery beat run it). After restoring an older
    # database over a newer store, raise the grace first: the newer objects are what the sweep would delete.
    # A round that finds more than orphan_sweep_max_deletes such objects deletes none and says so: kills leave
    # one now and then, hundreds mean the database is not the store's own.
    orphan_grace_hours: float = Field(default=72.0, ge=1)
    orphan_sweep_seconds: float = Field(default=86_400.0, ge=0)
    orphan_sweep_batch: int = Field(default=500, ge=1, le=10_000)
    orphan_sweep_max_deletes: int = Field(default=100, ge=0)

    # The hall's queue (docs/front-desk.md). A counter calls the waiting ticket with the highest effective
    # wait: seconds waited (since issue, kept across a transfer) times its priority class's weight; ties go to
    # the earlier ticket.
    queue_priority_weights: dict[str, float] = Field(default_factory=lambda: {
        "elderly": 3.0, "disabled": 3.0, "pregnant": 2.0, "normal": 1.0})
    # Estimated wait: the median of the last N called->done service times of a category within the window
    # (the default service time when there are none), times the tickets ahead, divided by its open counters.
    queue_estimate_samples: int = Field(default=20, ge=1)
    queue_estimate_window_hours: float = Field(default=8.0, gt=0)
    queue_default_service_seconds: int = Field(default=300, ge=1)
    # The kiosk issues tickets without sign-in: at most this many per address and window (429 beyond).
    queue_issue_max_per_ip: int = Field(default=20, ge=1)
    queue_issue_window_seconds: int = Field(default=60, ge=1)
    # The board's server-sent events: how often a stream looks for new calls, how often it sends a keep-alive,
    # and how long one stream lasts before the browser reconnects (from the last call it saw).
    queue_board_poll_ms: int = Field(default=500, ge=50)
    queue_board_heartbeat_seconds: float = Field(default=15.0, gt=0)
    queue_board_stream_seconds: float = Field(default=300.0, gt=0)
    queue_board_calls: int = Field(default=8, ge=1)
    # Booked visits (docs/citizen-guide.md, docs/front-desk.md; engine/queue/appointments.py and bookings.py).
    # A center's hours and weekend for visits until an administrator sets its own (PUT /api/appointments/
    # calendar), in the center's clock (SHUBBAK_DISPLAY_TIMEZONE); public holidays are the SLA calendar's and
    # the center's. A new plan's slot length and places per slot; how many days ahead a citizen may book.
    booking_opens: time = time(9, 0)
    booking_closes: time = time(14, 0)
    booking_weekend_days: list[str] = Field(default_factory=lambda: ["fri", "sat"])
    booking_slot_minutes: int = Field(default=15, ge=5, le=240)
    booking_slot_capacity: int = Field(default=2, ge=1, le=500)
    booking_days_ahead: int = Field(default=14, ge=1, le=90)
    # At the kiosk a booking becomes a ticket from this many minutes before its slot starts until the grace
    # after the start; past the grace it is a no-show (released by the periodic round ``bookings``).
    booking_early_minutes: int = Field(default=30, ge=0, le=240)
    booking_grace_minutes: int = Field(default=15, ge=0, le=240)
    # The queue category whose tickets booked visits get (its weight orders the calls).
    booking_queue_category: str = "appointments"
    # The SMS reminder goes the day before, from this local time on; the round runs every this many seconds
    # (0: only ``shubbak tick`` and Celery beat run it).
    booking_reminder_from: time = time(10, 0)
    booking_round_seconds: float = Field(default=60.0, ge=0)
    # The kiosk's "I have a booking": codes or phones that find no booking, per address and window (429 beyond).
    booking_misses_per_address: int = Field(default=20, ge=1)
    booking_misses_window_seconds: int = Field(default=900, ge=1)
    # A citizen's list of their visits holds at most this many.
    booking_list_max: int = Field(default=50, ge=1, le=500)

    # A stopping server (``shubbak serve``) waits this long for the requests in flight, then ends them: an open
    # board's stream would otherwise hold every restart for SHUBBAK_QUEUE_BOARD_STREAM_SECONDS.
    shutdown_grace_seconds: int = Field(default=10, ge=1)

    processes_dir: Path = Path("processes")
    demo_data: bool = False

    # Scripts bounded inside a step (docs/security.md, "Scripts"). Every BPMN script, and every condition or DMN
    # cell that is not a plain comparison, runs in a sandbox process with at most this much wall-clock time and
    # memory; over either, the step is refused (409) and the incident is recorded on the case.
    script_seconds: float = Field(default=2.0, gt=0, le=60)
    script_memory_mib: int = Field(default=256, ge=32, le=8192)
    # Sandboxes (child processes) one server process runs at the same moment; a script waits for a free one at
    # most script_seconds.
    script_sandboxes: int = Field(default=8, ge=1, le=256)
    # Every field has an owner (forms/ownership.py): the citizen's contact details change only by an audited
    # correction (engine/cases/citizen_correction.py), whose reason is kept in the audit trail.
    correction_reason_max_chars: int = Field(default=1000, ge=1, le=5000)
    # Access policy (engine/people/policy.py, docs/security.md): the display board's event streams one client address
    # may hold open at once, counted over every API process (engine/queue/streams.py); one more is refused (429),
    # so nobody can hold the servers' connections with a loop of streams. Each open stream renews a lease of this
    # many seconds; the streams of a process that died stop counting when theirs run out.
    queue_board_streams_per_client: int = Field(default=4, ge=1)
    queue_board_stream_lease_seconds: float = Field(default=60.0, ge=3)
    # Accounts, sessions, throttles and logs (docs/security.md).
    # New passwords: at least this many characters, this many different ones, never containing the username;
    # at most max_chars (a password is hashed whole: a megabyte would cost the server, not the guesser).
    password_min_chars: int = Field(default=10, ge=8, le=128)
    password_min_distinct_chars: int = Field(default=5, ge=1, le=64)
    password_max_chars: int = Field(default=256, ge=64, le=4096)
    # Sign-in is slowed, never locked: after login_free_failures wrong passwords for one username (or from one
    # address), each further one makes the next try wait base * 2**(n-1) seconds, at most the cap. The cap per
    # username stays short so the real user gets in after a short wait; an address is held much longer.
    # A key forgets its failures login_window_seconds after the last one (set above).
    login_free_failures: int = Field(default=5, ge=1)
    login_base_delay_seconds: float = Field(default=2.0, gt=0)
    login_user_max_delay_seconds: float = Field(default=60.0, gt=0)
    login_address_free_failures: int = Field(default=20, ge=1)
    login_address_max_delay_seconds: float = Field(default=900.0, gt=0)
    # Public tracking (and rating links, reopening): wrong guesses allowed per client address and window, on top
    # of public_track_max_failures per tracking number.
    public_track_max_failures_per_address: int = Field(default=30, ge=1)
    # Addresses (or networks, CIDR) of the load balancers and proxies in front of the API. Only a request coming
    # from one of them may name the client in X-Forwarded-For, and only hops added by them are believed.
    trusted_proxies: list[str] = Field(default_factory=list)
    # One clean-up of expired throttle counters every this many writes, on average (0: only `shubbak tick`).
    throttle_cleanup_every: int = Field(default=100, ge=0)
    # Production shape (docs/deployment.md): retried requests, database trouble, readiness.
    # A request's ``Idempotency-Key`` answers its retries with the first answer for this many hours.
    idempotency_hours: float = Field(default=24.0, gt=0)
    # A retry arriving while the first request with its key is still finishing waits this long for its answer.
    idempotency_wait_seconds: float = Field(default=10.0, ge=0)
    # Database trouble (lost connection, restart, deadlock, serialization failure) is a 503 with this
    # ``Retry-After``; a command is tried once more first when nothing of it was committed.
    retry_after_seconds: int = Field(default=2, ge=1)
    # ``/readyz`` gives each dependency (database, document store, broker) this long to answer.
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)
    # The embedded background loops take turns through a PostgreSQL session lock (storage/leader.py). Through
    # PgBouncer in transaction pooling mode a session lock does not hold: name a direct connection here (or a
    # session-pooling one). Unset: the database URL.
    leader_database_url: str | None = None
    # How the database's pools connect (storage/db.py PostgresOptions; PostgreSQL only). A connection attempt
    # gives up after database_connect_timeout_seconds; a statement running longer than
    # database_statement_timeout_seconds is cancelled by the server (0: the server's own setting; not sent
    # through a transaction pooler, which refuses the startup option: set it on the role there); sent data not
    # acknowledged within database_tcp_user_timeout_seconds fails the connection (a cut line), so a request meets
    # a cut as a 503 within these bounds instead of hanging on the kernel's quarter of an hour.
    database_connect_timeout_seconds: int = Field(default=10, ge=2, le=3600)
    database_statement_timeout_seconds: float = Field(default=0.0, ge=0, le=86_400)
    database_tcp_user_timeout_seconds: float = Field(default=10.0, ge=1, le=3600)
    # The database URL goes through PgBouncer (or another pooler) in transaction pooling mode: no server-side
    # prepared statements (psycopg prepares a statement run 5 times, and the pooler's next transaction may land
    # on a server connection without it, or with another under the same name). The background loops' turns
    # then need leader_database_url (a direct connection): refused without it unless a broker does that work.
    database_transaction_pooling: bool = False
    # A round of a background job checks at most this often, between its pieces of work, that its lock's
    # connection still holds the lock (a restart or a network cut releases it), and stops when it does not.
    leader_check_seconds: float = Field(default=1.0, ge=0)
    # ``serve --workers N``: how long a new worker may take to start serving (a rolling restart waits for it)
    # and a running one to answer its supervisor's ping before it is taken for hung and replaced.
    worker_healthcheck_seconds: int = Field(default=30, ge=1)
    # glibc's malloc arenas of each ``serve`` process (MALLOC_ARENA_MAX): the default, eight per core, lets the
    # request threads' freed memory stay spread and held, so the server grew by ~12 KB a case (docs/performance.md);
    # 2 keeps it flat at the same speed. 0 leaves glibc's default; an operator's MALLOC_ARENA_MAX wins.
    malloc_arenas: int = Field(default=2, ge=0, le=64)
    # Operations: metrics, logs, backups (docs/deployment.md, docs/operations.md).
    # Who may read /metrics is said explicitly, never guessed (docs/deployment.md): a scraper sending
    # "Authorization: Bearer <metrics_token>", and/or one connecting straight from one of metrics_allowed_networks
    # (addresses or CIDR networks; the connection's own address, never a forwarded one). With both set, both
    # must hold; with neither, /metrics refuses everyone. False turns /metrics off.
    metrics_enabled: bool = True
    metrics_token: str | None = Field(default=None, min_length=16)
    metrics_allowed_networks: list[str] = Field(default_factory=list)
    # The figures that need a query (open cases, ready tasks, outbox, timers, ledger) are read at most this
    # often; a scrape in between is answered from the last reading.
    metrics_query_cache_seconds: float = Field(default=10.0, ge=0)
    # Several API processes (``serve --workers``) share their counters through files in this folder
    # (prometheus-client's multiprocess mode); read from PROMETHEUS_MULTIPROC_DIR, the library's own variable.
    prometheus_multiproc_dir: Path | None = Field(default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR")
    # Logs: "json" writes one JSON object per line (request id, user, route, status, duration); "text" for a
    # person at a terminal.
    log_format: Literal["json", "text"] = "json"
    # The language of the command line's refusals, errors and warnings (cli/refusals.py), from the refusal
    # catalogs: "both" (the default) writes each in Arabic and then in English, so the center's operators read
    # it in Arabic while the English stays for the logs, a search and the vendor's support; "ar" or "en" writes
    # one language only. The message id is shown either way.
    cli_language: Literal["ar", "en", "both"] = "both"
    # An X-Request-ID sent by a proxy is kept when it is at most this long and made of safe characters.
    request_id_max_chars: int = Field(default=64, ge=8, le=200)
    # Where pg_dump and pg_restore are (their version must be at least the server's); PATH when unset.
    postgres_bin_dir: Path | None = None
    # Report projector (engine/reports/projector.py): the report aggregates are built from the audit events
    # after they commit. How often the API process (embedded default) or beat (with a broker) catches up, how
    # many events one round reads, and how long a missing event id is waited for (a transaction still in flight
    # when a later one committed) before it is taken for a rolled-back one.
    report_project_seconds: float = Field(default=1.0, ge=0)
    report_project_batch: int = Field(default=5000, ge=1)
    report_gap_seconds: float = Field(default=300.0, gt=0)
    report_gap_max: int = Field(default=10_000, ge=1)
    # Flat history (engine/bpmn/prune.py): finished tasks kept in a case's task tree above where it stands;
    # older finished iterations (a case returned many times) are dropped, their steps stay in the audit trail.
    # 0 keeps every task. Replay prunes the same way: change it only with no replay to compare against.
    workflow_keep_finished: int = Field(default=40, ge=0)

    # Center nodes (docs/center-nodes.md, storage/nodes.py): ``single`` is one database for everything (the
    # default); ``central`` is the governorate's node, which centers' nodes replicate to and from; ``center`` is
    # a center's own node, named by its center's code (``node_center``), which owns every case opened there.
    node_role: Literal["single", "central", "center"] = "single"
    node_center: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    # ``shubbak node init-center`` waits this long for central's tables to be copied to the new center node
    # before it gives up (and says which tables are not copied yet; run it again to go on waiting).
    node_copy_wait_seconds: float = Field(default=600, gt=0, le=86_400)
    # A center node copies the stored objects of its documents (scans, issued documents) to central's document
    # store (engine/operations/node_copy.py), every ``node_copy_seconds`` (0: only ``shubbak tick`` and beat),
    # ``node_copy_batch`` objects a round. Unset: not copied (MinIO's bucket replication does it instead).
    node_central_storage_url: str | None = None
    node_central_storage_access_key: str | None = None
    node_central_storage_secret_key: str | None = None
    node_copy_seconds: float = Field(default=30.0, ge=0)
    node_copy_batch: int = Field(default=100, ge=1)
    # How often a node reads what its subscriptions last heard (engine/operations/node_link.py), and how long
    # without a word before the line counts as down: more than PostgreSQL's keep-alive (half of the publisher's
    # wal_sender_timeout, 30 s by default). Pages read the result at most every ``node_link_cache_seconds``.
    node_link_seconds: float = Field(default=10.0, ge=0)
    node_offline_seconds: float = Field(default=75.0, gt=0)
    node_link_cache_seconds: float = Field(default=5.0, ge=0)

    @model_validator(mode="after")
    def _database_connections(self) -> Settings:
        if self.database_transaction_pooling and not self.leader_database_url and not self.broker_url:
            raise ValueError("SHUBBAK_DATABASE_TRANSACTION_POOLING: the background loops' turns hold a session lock, "
                             "which a transaction pooler does not keep: set SHUBBAK_LEADER_DATABASE_URL to a direct "
                             "connection to PostgreSQL (docs/deployment.md)")
        direct = PostgresOptions(connect_timeout_seconds=self.database_connect_timeout_seconds,
                                 statement_timeout_ms=round(self.database_statement_timeout_seconds * 1000),
                                 tcp_user_timeout_ms=round(self.database_tcp_user_timeout_seconds * 1000))
        # The pools of these URLs are made from these options (storage/db.py), whoever opens them first.
        if self.database_url.startswith("postgresql"):
            configure_postgres(self.database_url, dataclasses.replace(
                direct, transaction_pooling=self.database_transaction_pooling))
        if (self.leader_database_url and self.leader_database_url != self.database_url
                and self.leader_database_url.startswith("postgresql")):
            configure_postgres(self.leader_database_url, direct)
        return self

    @model_validator(mode="after")
    def _node(self) -> Settings:
        if self.node_role == "center" and not self.node_center:
            raise ValueError("SHUBBAK_NODE_CENTER: a center node is named by its center's code")
        if self.node_role != "center" and self.node_center:
            raise ValueError("SHUBBAK_NODE_CENTER: only a center node (SHUBBAK_NODE_ROLE=center) names a center")
        if self.node_role != "center" and self.node_central_storage_url:
            raise ValueError("SHUBBAK_NODE_CENTRAL_STORAGE_URL: only a center node copies its documents to central")
        # What this database is, for the guard that keeps a center node off central's tables (storage/nodes.py).
        for url in {self.database_url, self.leader_database_url or self.database_url}:
            nodes.configure(url, self.node_role, self.node_center)
        return self

    @model_validator(mode="after")
    def _booking_hours(self) -> Settings:
        days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        if self.booking_opens >= self.booking_closes:
            raise ValueError("SHUBBAK_BOOKING_OPENS must be earlier than SHUBBAK_BOOKING_CLOSES")
        if not set(self.booking_weekend_days) <= set(days) or len(set(self.booking_weekend_days)) >= 7:
            raise ValueError(f"SHUBBAK_BOOKING_WEEKEND_DAYS: some of {list(days)}, not all of them")
        return self

    @model_validator(mode="after")
    def _queue_weights(self) -> Settings:
        # Every priority class the kiosk offers needs a positive weight, and no class may be invented here.
        weights = self.queue_priority_weights
        if set(weights) != set(PRIORITIES) or any(w <= 0 for w in weights.values()):
            raise ValueError(f"SHUBBAK_QUEUE_PRIORITY_WEIGHTS: one positive weight for each of {list(PRIORITIES)}")
        return self

    @model_validator(mode="after")
    def _known_document_types(self) -> Settings:
        unknown = sorted(set(self.document_types) - KNOWN_TYPES.keys())
        if unknown:
            raise ValueError(f"SHUBBAK_DOCUMENT_TYPES: unknown types {unknown}; known: {sorted(KNOWN_TYPES)}")
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        # A forgotten secret in production means anybody can mint tokens: refuse to start.
        if self.environment == "production" and (self.secret_key is None or len(self.secret_key) < 32):
            raise ValueError("SHUBBAK_SECRET_KEY must be set to a random string of 32+ characters in production")
        return self

    @model_validator(mode="after")
    def _signing_key_in_production(self) -> Settings:
        # Seals and exports signed with a key anyone could know prove nothing: refuse to start without one.
        if self.signing_key is not None and not _is_signing_seed(self.signing_key):
            raise ValueError("SHUBBAK_SIGNING_KEY must be 32 random bytes in base64 (`shubbak audit new-key`)")
        if self.environment == "production" and self.signing_key is None:
            raise ValueError("SHUBBAK_SIGNING_KEY must be set in production (`shubbak audit new-key` makes one)")
        return self

    @model_validator(mode="after")
    def _public_url_in_production(self) -> Settings:
        # Messages carry links (the rating page): a relative link in an SMS leads nowhere. Refuse to start.
        if self.public_url is not None and not self.public_url.startswith(("https://", "http://")):
            raise ValueError("SHUBBAK_PUBLIC_URL must be an absolute address (https://...)")
        if self.environment == "production" and not self.public_url:
            raise ValueError("SHUBBAK_PUBLIC_URL must be set in production: links sent to citizens start with it")
        return self

    @model_validator(mode="after")
    def _trusted_proxies_are_networks(self) -> Settings:
        import ipaddress

        for name, entries in (("SHUBBAK_TRUSTED_PROXIES", self.trusted_proxies),
                              ("SHUBBAK_METRICS_ALLOWED_NETWORKS", self.metrics_allowed_networks)):
            for entry in entries:
                try:
                    ipaddress.ip_network(entry.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"{name}: {entry!r} is not an address or a network (CIDR)") from None
        return self

    @property
    def message_log_path(self) -> str:
        """The development gateway's file ("" for none): SHUBBAK_MESSAGE_LOG_FILE, else var_dir/messages.jsonl."""
        if self.message_log_file == "-":
            return ""
        return self.message_log_file or str(self.var_dir / "messages.jsonl")

    @property
    def public_base_url(self) -> str:
        """The site's address without a trailing slash, to prefix links sent to citizens (rating links);
        empty when ``public_url`` is not set, which leaves such links relative."""
        return (self.public_url or "").rstrip("/")

    @property
    def signing_secret(self) -> str:
        """The secret that signs tokens and cookies: the setting, or (development, test) the one kept under
        var_dir, made on first use (engine/core/secret.py)."""
        if self.secret_key is not None:
            return self.secret_key
        return development_secret(self.var_dir)

    @property
    def anchor_file(self) -> Path:
        return self.ledger_anchor_file or self.var_dir / "ledger-anchor.jsonl"


def _is_signing_seed(text: str) -> bool:
    try:
        return len(base64.b64decode(text.strip(), validate=True)) == 32
    except ValueError:
        return False


@lru_cache
def get_settings() -> Settings:
    return Settings()
