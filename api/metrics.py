"""``GET /metrics``: Prometheus' text format, for the operator's scraper (docs/deployment.md).

Three kinds of figures:

* counted where the work happens (requests, engine steps: api/observability.py, engine/core/metrics.py) and, under
  several API processes, summed over them from ``PROMETHEUS_MULTIPROC_DIR`` at scrape time;
* the database pool's connections, counted by SQLAlchemy's pool events in each process (summed over the live
  processes);
* read from the database at scrape time (engine/operations/gauges.py), a few indexed counts, cached for
  ``SHUBBAK_METRICS_QUERY_CACHE_SECONDS`` so that many scrapers (or processes) do not multiply the queries.

Who may read it is set explicitly: a scraper that sends ``Authorization: Bearer <SHUBBAK_METRICS_TOKEN>``, and/or
one connecting straight (not through a proxy) from ``SHUBBAK_METRICS_ALLOWED_NETWORKS``; with neither set,
nobody. The figures name services and lanes, never a person, but they do show the volumes of each lane.
"""

from __future__ import annotations

import atexit
import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import Pool

from api.deps import SettingsDep, allow
from engine.core.errors import Forbidden, NotFound, Unauthorized
from engine.core.settings import Settings
from engine.operations import gauges
from storage.db import session_for

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])

POOL_IN_USE = Gauge("shubbak_db_pool_connections_in_use", "Database connections lent out by the pools now",
                    multiprocess_mode="livesum")
POOL_OPEN = Gauge("shubbak_db_pool_connections_open", "Database connections the pools hold open",
                  multiprocess_mode="livesum")


def _counting(gauge: Gauge, by: int) -> Any:
    def listener(*_args: Any) -> None:
        gauge.inc(by)
    return listener


# The pools' own events keep the two gauges: lent out and returned, opened and closed.
for _name, _gauge, _by in (("checkout", POOL_IN_USE, 1), ("checkin", POOL_IN_USE, -1),
                           ("connect", POOL_OPEN, 1), ("close", POOL_OPEN, -1)):
    event.listen(Pool, _name, _counting(_gauge, _by))


def _up(value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily("shubbak_metrics_database_up", "1 when the last scrape could read the database's "
                             "figures, 0 when it could not", value=value)


class DatabaseCollector(Collector):
    """The figures that need a query, read at most every ``metrics_query_cache_seconds``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._families: list[GaugeMetricFamily] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:  # one reader at a time; the others get its answer
            if time.monotonic() - self._read_at >= self.settings.metrics_query_cache_seconds:
                try:
                    self._families = [*self._read(), _up(1)]
                    self._read_at = time.monotonic()
                except SQLAlchemyError as exc:
                    # The database is down: the scrape still answers (the counters say what the requests
                    # met), and says so; the next scrape tries again.
                    log.warning("metrics: the database figures could not be read: %s", type(exc).__name__)
                    self._families = [_up(0)]
            yield from self._families

    def _read(self) -> list[GaugeMetricFamily]:
        started = time.perf_counter()
        with session_for(self.settings.database_url) as session:
            g = gauges.read(session, replicates=self.settings.node_role != "single")
        open_cases = GaugeMetricFamily("shubbak_open_cases", "Open cases, by service", labels=["service"])
        for service, count in sorted(g.open_cases.items()):
            open_cases.add_metric([service], count)
        ready = GaugeMetricFamily("shubbak_ready_tasks", "User tasks waiting in a lane's inbox", labels=["lane"])
        for lane, count in sorted(g.ready_tasks.items()):
            ready.add_metric([lane], count)
        outbox = GaugeMetricFamily("shubbak_outbox_messages", "Messages to citizens not sent yet, by status "
                                   "(failed: given up after the last attempt)", labels=["status"])
        for status, count in g.outbox.items():
            outbox.add_metric([status], count)
        incidents = GaugeMetricFamily("shubbak_open_incidents", "Cases whose step failed and waits for a retry, "
                                      "skip or cancel, by reason", labels=["reason"])
        for reason, count in sorted(g.open_incidents.items()):
            incidents.add_metric([reason], count)
        heard = GaugeMetricFamily("shubbak_node_link_last_heard_seconds", "Time since a subscription of this node "
                                  "last heard its publisher (+Inf: never); center is the center node's code at "
                                  "central, empty for a center node's line to central",
                                  labels=["subscription", "center"])
        down = GaugeMetricFamily("shubbak_node_link_down", "1 while a subscription's line is down (silent longer "
                                 "than node_offline_seconds), else 0", labels=["subscription", "center"])
        for line in g.links:
            labels = [line.subscription, line.center]
            heard.add_metric(labels, line.heard_seconds)
            down.add_metric(labels, 1 if line.down else 0)
        node_ledgers = GaugeMetricFamily("shubbak_node_ledger_age_seconds", "At central: time since each center "
                                         "node's latest seal held here (its seals' copies, replicated)",
                                         labels=["center"])
        for node, age in sorted(g.node_ledger_age_seconds.items()):
            node_ledgers.add_metric([node], age)
        return [
            open_cases, ready, outbox, incidents, heard, down, node_ledgers,
            GaugeMetricFamily("shubbak_outbox_oldest_due_seconds", "How long the oldest pending message has "
                              "been due to be sent (0 when none is due)", value=g.outbox_oldest_due_seconds),
            GaugeMetricFamily("shubbak_timers_due", "Open cases whose timer is due and has not fired yet",
                              value=g.timers_due),
            GaugeMetricFamily("shubbak_timers_oldest_due_seconds", "How long the most overdue timer has been due "
                              "(0 when none is)", value=g.timers_oldest_due_seconds),
            GaugeMetricFamily("shubbak_ledger_age_seconds", "Time since the ledger's last seal (+Inf: never "
                              "sealed)", value=g.ledger_age_seconds),
            GaugeMetricFamily("shubbak_ledger_seals", "Seals in the ledger", value=g.seals),
            GaugeMetricFamily("shubbak_reports_events_behind", "Audit events committed and not yet counted into "
                              "the reports (engine/reports/projector.py)", value=g.reports_behind),
            GaugeMetricFamily("shubbak_reports_age_seconds", "Time since the reports' projector last ran a round "
                              "(+Inf: never)", value=g.reports_age_seconds),
            GaugeMetricFamily("shubbak_seal_interval_seconds", "How often the ledger is sealed "
                              "(SHUBBAK_SEAL_INTERVAL_HOURS): what the alerts on the ledgers' age compare with",
                              value=self.settings.seal_interval_hours * 3600),
            GaugeMetricFamily("shubbak_metrics_query_seconds", "Time the figures above took to read",
                              value=time.perf_counter() - started),
        ]


def _registry(settings: Settings) -> CollectorRegistry:
    """The database figures, plus the counters: this process's, or every process's in multiprocess mode."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(settings))
    if settings.prometheus_multiproc_dir is not None:
        MultiProcessCollector(registry, path=str(settings.prometheus_multiproc_dir))
    return registry


# Headers a proxy adds when it relays a request: a connection carrying one was relayed, so the address it
# comes from is the proxy's, not the reader's.
_RELAYED = ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host", "x-forwarded-proto", "via")


def _check_reader(request: Request, settings: Settings) -> None:
    """Who may read is said by the settings, never guessed: the scraper's token, the networks a scraper connects
    from, or both (then both must hold). Neither set: nobody. A reverse proxy on the same host makes every
    outside request arrive from loopback, so the machine itself is not trusted by default."""
    if not settings.metrics_token and not settings.metrics_allowed_networks:
        raise Forbidden("metrics.closed")
    if settings.metrics_token:
        sent = request.headers.get("authorization")
        if not sent:
            raise Unauthorized("metrics.token_needed")
        if not hmac.compare_digest(sent.encode(), f"Bearer {settings.metrics_token}".encode()):
            raise Forbidden("metrics.wrong_token")
    if settings.metrics_allowed_networks:
        if any(name in request.headers for name in _RELAYED):
            raise Forbidden("metrics.relayed")
        if not _peer_in(request, settings.metrics_allowed_networks):
            raise Forbidden("metrics.address_not_allowed")


def _peer_in(request: Request, networks: list[str]) -> bool:
    """The connection's own address (never a header's) is inside one of the networks."""
    host = request.client.host if request.client else ""
    try:
        peer = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return any(peer in ipaddress.ip_network(entry.strip(), strict=False) for entry in networks)


@router.get("/metrics", include_in_schema=False, dependencies=[allow("metrics.scrape")])
def metrics(request: Request, settings: SettingsDep) -> Response:
    if not settings.metrics_enabled:
        raise NotFound("metrics.off")
    _check_reader(request, settings)
    registry: CollectorRegistry = request.app.state.metrics_registry
    body = generate_latest(registry)
    if settings.prometheus_multiproc_dir is None:
        body += generate_latest(REGISTRY)  # this process's counters (the default registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


_marked_at_exit: set[str] = set()


def install(app: Any, settings: Settings) -> None:
    app.state.metrics_registry = _registry(settings)
    app.include_router(router)
    folder = settings.prometheus_multiproc_dir
    if folder is not None and str(folder) not in _marked_at_exit:
        # A process that ends (a restart, one worker of several stopping) takes its share of the "live" gauges
        # (the pool's connections) with it; its counters stay, as they must.
        _marked_at_exit.add(str(folder))
        atexit.register(lambda: mark_process_dead(os.getpid(), str(folder)))
