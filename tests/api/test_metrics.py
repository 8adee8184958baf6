"""/metrics: what it counts, what it reads from the database, who may read it, and several processes at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, text, update
from sqlmodel import Session

from api.app import create_app
from engine.audit import ledger
from engine.core.settings import Settings
from engine.reports import projector
from harness.api import Api
from harness.settings import ROOT, TEST_PROCESSES, make_settings
from storage.db import engine_for
from storage.models.cases import Case

LOOPBACK = ("127.0.0.1", 50000)
SCRAPER_NET = {"metrics_allowed_networks": ["127.0.0.1/32"]}  # a Prometheus agent on the host, said explicitly


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by (name, sorted labels); parsing also proves the format is valid."""
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(body: str, name: str, **labels: str) -> float | None:
    return samples(body).get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def ops(settings: Settings) -> Iterator[Api]:
    """The API on SQLite and PostgreSQL, asked from the machine itself, with figures read on every scrape."""
    settings = settings.model_copy(update={"metrics_query_cache_seconds": 0, **SCRAPER_NET})
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        yield Api(client, settings)


def scrape(api: Api) -> str:
    r = api.client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def test_requests_are_counted_by_route_template_never_by_the_path_sent(ops: Api) -> None:
    before = value(scrape(ops), "shubbak_http_requests_total", method="GET", route="/api/cases/{case_id}",
                   status="401") or 0
    for case_id in ("987654321", "29001011234567"):  # an id, and what looks like a national number
        assert ops.client.get(f"/api/cases/{case_id}?phone=%2B201001234567").status_code == 401
    ops.client.get("/no/such/page/29001011234567")
    body = scrape(ops)
    assert value(body, "shubbak_http_requests_total", method="GET", route="/api/cases/{case_id}",
                 status="401") == before + 2
    assert value(body, "shubbak_http_request_duration_seconds_count", method="GET",
                 route="/api/cases/{case_id}", status="401") is not None
    assert (value(body, "shubbak_http_requests_total", method="GET", route="<unmatched>", status="404") or 0) >= 1
    for personal in ("987654321", "29001011234567", "201001234567", "/no/such/page"):
        assert personal not in body


def test_an_invented_method_is_one_label_not_a_new_one_per_request(ops: Api) -> None:
    ops.client.request("BREW", "/api/services")
    body = scrape(ops)
    assert "BREW" not in body
    assert (value(body, "shubbak_http_requests_total", method="OTHER", route="/api/services", status="405")
            or 0) >= 1


def test_database_figures_follow_the_cases(ops: Api) -> None:
    assert ops.deploy(TEST_PROCESSES / "test_permit", ops.user("analyst")).status_code == 201
    clerk = ops.user("front_desk")
    body = scrape(ops)
    assert value(body, "shubbak_open_cases", service="test_permit") is None
    assert value(body, "shubbak_ledger_age_seconds") == float("inf")  # never sealed
    assert value(body, "shubbak_ledger_seals") == 0
    cases = [ops.open_case("test_permit", clerk).json() for _ in range(3)]
    r = ops.complete(cases[0]["tasks"][0]["id"], {"area": 120, "purpose": "family house"}, clerk)
    assert r.status_code == 200, r.text
    body = scrape(ops)
    assert value(body, "shubbak_open_cases", service="test_permit") == 3
    assert value(body, "shubbak_ready_tasks", lane="front_desk") == 2
    assert value(body, "shubbak_ready_tasks", lane="reviewer") == 1
    steps = value(body, "shubbak_engine_step_duration_seconds_count", service="test_permit", task="register")
    opened = value(body, "shubbak_engine_step_duration_seconds_count", service="test_permit", task="(open)")
    assert steps is not None and steps >= 1 and opened is not None and opened >= 3

    # A timer due five minutes ago that no tick has fired, and a message due two minutes ago not sent.
    now = datetime.now(UTC)
    with Session(engine_for(ops.settings.database_url)) as session:
        session.execute(update(Case).where(Case.id == cases[1]["id"]).values(timer_due_at=now - timedelta(minutes=5)))
        session.execute(text("UPDATE outbox_message SET status='pending', next_attempt_at=:t"),
                        {"t": now - timedelta(minutes=2)})
        pending = session.execute(text("SELECT count(*) FROM outbox_message")).scalar_one()
        session.commit()
        ledger.seal(session=session, settings=ops.settings)
    body = scrape(ops)
    assert value(body, "shubbak_timers_due") == 1
    assert 300 <= (value(body, "shubbak_timers_oldest_due_seconds") or 0) < 400
    assert pending >= 1, "the test service sends a message when a case opens"
    assert value(body, "shubbak_outbox_messages", status="pending") == pending
    assert 120 <= (value(body, "shubbak_outbox_oldest_due_seconds") or 0) < 220
    assert (value(body, "shubbak_ledger_age_seconds") or 99) < 60
    assert value(body, "shubbak_ledger_seals") == 1


def test_the_reports_lag_is_a_figure_of_its_own(ops: Api) -> None:
    """Steps the reports have not counted yet, and the time since the projector's last round: what the alert
    ShubbakReportsStalled watches (the tests' projector runs only when asked)."""
    assert ops.deploy(TEST_PROCESSES / "test_permit", ops.user("analyst")).status_code == 201
    clerk = ops.user("front_desk")
    body = scrape(ops)
    assert value(body, "shubbak_reports_age_seconds") == float("inf")  # never ran
    for _ in range(2):
        assert ops.open_case("test_permit", clerk).status_code == 201
    body = scrape(ops)
    behind = value(body, "shubbak_reports_events_behind")
    assert behind is not None and behind >= 2  # each opening's events at least
    assert projector.catch_up(ops.settings) >= 2
    body = scrape(ops)
    assert value(body, "shubbak_reports_events_behind") == 0
    assert 0 <= (value(body, "shubbak_reports_age_seconds") or 99) < 60
    assert ops.open_case("test_permit", clerk).status_code == 201
    assert (value(scrape(ops), "shubbak_reports_events_behind") or 0) >= 1


def test_the_scrape_reads_a_few_aggregates_and_caches_them(settings: Settings) -> None:
    """Each figure is one aggregate query (no rows are loaded), and a scrape within the cache window asks nothing."""
    settings = settings.model_copy(update={"metrics_query_cache_seconds": 3600, **SCRAPER_NET})
    statements: list[str] = []
    engine = engine_for(settings.database_url)

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    with TestClient(create_app(settings), client=LOOPBACK) as client:
        event.listen(engine, "before_cursor_execute", count)
        try:
            first = client.get("/metrics").text
            asked = len(statements)
            client.get("/metrics")
            again = len(statements)
        finally:
            event.remove(engine, "before_cursor_execute", count)
    # The reports' lag: its cursors, its blocks' first events, one count (one more for a cursor with holes).
    assert 1 <= asked <= 11, statements
    assert again == asked
    assert all("count(" in s.lower() or "min(" in s.lower() or "audit_seal" in s or "projection_cursor" in s
               for s in statements), statements
    assert value(first, "shubbak_metrics_query_seconds") is not None
    assert value(first, "shubbak_metrics_database_up") == 1


def metrics_as(settings: Settings, peer: tuple[str, int], **headers: str) -> Response:
    with TestClient(create_app(settings), client=peer) as client:
        return client.get("/metrics", headers=headers)


def refused(r: Response, status: int = 403) -> bool:
    return r.status_code == status and "shubbak_" not in r.text


def test_with_nothing_set_nobody_may_read_not_even_the_machine_itself(settings: Settings) -> None:
    """A reverse proxy on the same host makes every outside request come from loopback: loopback is no proof."""
    for peer in (LOOPBACK, ("::1", 50000), ("10.1.2.3", 50000)):
        r = metrics_as(settings, peer)
        assert refused(r), (peer, r.status_code)
        assert "SHUBBAK_METRICS_TOKEN" in r.json()["detail"]


def test_the_allowed_networks_admit_their_own_connections_only(settings: Settings) -> None:
    settings = settings.model_copy(update={"metrics_allowed_networks": ["10.9.0.0/16", "::1"]})
    assert metrics_as(settings, ("10.9.4.2", 50000)).status_code == 200
    assert metrics_as(settings, ("::1", 50000)).status_code == 200
    assert metrics_as(settings, ("::ffff:10.9.4.2", 50000)).status_code == 200  # an IPv4 peer on a dual socket
    assert refused(metrics_as(settings, ("10.10.0.1", 50000)))
    assert refused(metrics_as(settings, LOOPBACK))  # 127.0.0.1 is not ::1, nor listed
    assert refused(metrics_as(settings, ("testclient", 50000)))  # not an address at all


def test_a_forwarded_header_never_makes_an_outsider_look_allowed(settings: Settings) -> None:
    """The attacker's side: claiming loopback (or an allowed address) in the proxy headers changes nothing, and a
    request relayed by an allowed proxy on the host is not the host's own scraper."""
    settings = settings.model_copy(update={"metrics_allowed_networks": ["127.0.0.1"],
                                           "trusted_proxies": ["127.0.0.1", "10.0.0.0/8"]})
    outsider = ("203.0.113.9", 50000)
    for header in ("X-Forwarded-For", "X-Real-IP"):
        assert refused(metrics_as(settings, outsider, **{header: "127.0.0.1"}))
    assert refused(metrics_as(settings, outsider, Forwarded="for=127.0.0.1"))
    # a local nginx relaying an outside request: it comes from loopback, but names someone else
    r = metrics_as(settings, LOOPBACK, **{"X-Forwarded-For": "203.0.113.9"})
    assert refused(r) and "proxy" in r.json()["detail"]
    assert refused(metrics_as(settings, LOOPBACK, **{"X-Forwarded-For": "127.0.0.1"}))
    assert refused(metrics_as(settings, LOOPBACK, Via="1.1 nginx"))
    assert metrics_as(settings, LOOPBACK).status_code == 200


def test_with_a_token_the_scraper_must_send_it(settings: Settings) -> None:
    token = "scrape-" + "k" * 24
    settings = settings.model_copy(update={"metrics_token": token})
    with TestClient(create_app(settings), client=LOOPBACK) as client:  # loopback alone is not enough then
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 31})
        prefix = client.get("/metrics", headers={"Authorization": f"Bearer {token[:-1]}"})
        longer = client.get("/metrics", headers={"Authorization": f"Bearer {token}x"})
        basic = client.get("/metrics", headers={"Authorization": f"Basic {token}"})
        forged = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
        right = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 401 and "Authorization: Bearer" in missing.json()["detail"]
    assert wrong.status_code == 403 and "scraper's token" in wrong.json()["detail"]
    assert refused(prefix) and refused(longer) and refused(basic) and refused(forged, 401)
    assert right.status_code == 200 and "shubbak_ledger_seals" in right.text
    # from anywhere, through a proxy too: the token is the proof
    assert metrics_as(settings, ("203.0.113.9", 1), Authorization=f"Bearer {token}",
                      **{"X-Forwarded-For": "198.51.100.1"}).status_code == 200


def test_token_and_networks_together_both_must_hold(settings: Settings) -> None:
    token = "scrape-" + "q" * 24
    settings = settings.model_copy(update={"metrics_token": token, "metrics_allowed_networks": ["10.9.0.0/16"]})
    assert metrics_as(settings, ("10.9.0.5", 1), Authorization=f"Bearer {token}").status_code == 200
    assert refused(metrics_as(settings, ("10.8.0.5", 1), Authorization=f"Bearer {token}"))
    assert refused(metrics_as(settings, ("10.9.0.5", 1)), 401)
    assert refused(metrics_as(settings, ("10.9.0.5", 1), Authorization="Bearer " + "q" * 31))


def test_a_network_that_is_not_one_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="SHUBBAK_METRICS_ALLOWED_NETWORKS"):
        Settings(metrics_allowed_networks=["localhost"])  # type: ignore[call-arg]


def test_a_short_token_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="metrics_token"):
        Settings(metrics_token="short")  # type: ignore[call-arg]


def test_metrics_can_be_turned_off(settings: Settings) -> None:
    settings = settings.model_copy(update={"metrics_enabled": False, **SCRAPER_NET})
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        r = client.get("/metrics")
    assert r.status_code == 404 and "SHUBBAK_METRICS_ENABLED" in r.json()["detail"]


_WORKER = textwrap.dedent("""
    import sys
    from fastapi.testclient import TestClient
    from api.app import create_app
    from tests.conftest import make_settings
    from pathlib import Path

    url, var, requests, scrape = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "scrape"
    settings = make_settings(url, var, metrics_query_cache_seconds=0, metrics_allowed_networks=["127.0.0.1"])
    assert settings.prometheus_multiproc_dir is not None
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        for _ in range(requests):
            assert client.get("/api/cases/1").status_code == 401
        if scrape:
            print(client.get("/metrics").text)
""")


@pytest.mark.slow
def test_several_processes_add_up_in_multiprocess_mode(sqlite_url: str, tmp_path: Path) -> None:
    """Two API processes count at the same time into one folder; a third one's scrape shows the sum."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(shared)}

    def start(requests: int, mode: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", _WORKER, sqlite_url, str(tmp_path), str(requests), mode],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(process: subprocess.Popen[str]) -> str:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-2000:]
        return out

    counting = [start(30, "count"), start(20, "count")]
    for process in counting:
        finish(process)
    body = finish(start(0, "scrape"))
    # each process wrote its own counters, which stay (the scraper's: its own /metrics request)
    assert len(list(shared.glob("counter_*.db"))) == 3
    found = [v for (name, labels), v in samples(body).items()
             if name == "shubbak_http_requests_total" and ("route", "/api/cases/{case_id}") in labels]
    assert sum(found) == 50, body
    assert body.count("# TYPE shubbak_ledger_seals gauge") == 1  # the database figures are there once
    assert (value(body, "shubbak_db_pool_connections_open") or 0) >= 1  # the scraping process's, while it ran
    assert list(shared.glob("gauge_livesum_*.db")) == []  # an ended process's live gauges (the pool) went with it

def test_a_scrape_while_the_database_is_down_still_answers(tmp_path: Path) -> None:
    settings = make_settings("postgresql+psycopg://nobody@127.0.0.1:1/none", tmp_path, metrics_query_cache_seconds=0,
                             **SCRAPER_NET)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        client.get("/docs")
        r = client.get("/metrics")
    assert r.status_code == 200
    assert value(r.text, "shubbak_metrics_database_up") == 0
    assert value(r.text, "shubbak_open_cases") is None and "shubbak_http_requests_total" in r.text
