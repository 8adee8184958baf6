"""Counters of failed attempts that slow guessing down, shared by every API process.

A ``Rule`` names what is counted (wrong passwords per username, per client address; wrong phone digits per
tracking number...). Each failure of a key adds one; past ``free`` failures, the key must wait before it is
looked at again, ``base_delay * 2**(n-1)`` seconds after its n-th extra failure, at most ``max_delay``. A key
forgets its failures ``window_seconds`` after the last one. A fixed limit per window is the rule whose delays
are the window itself.

Where the counters live: the database's ``throttle_counter`` table, or Redis when ``SHUBBAK_BROKER_URL`` is set
(the database again while Redis does not answer), so that N API processes do not allow N times the guesses. A
key is stored as SHA-256 of the rule's scope and the key, so a megabyte typed as a username costs one row of 64
characters; rows expire and are deleted (the next clean-up, every ``throttle_cleanup_every`` writes on average,
and the periodic tick). Redis expires its own.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from engine.core.errors import RateLimited
from engine.core.settings import Settings
from storage.db import session_for, write_lock
from storage.models.accounts import ThrottleCounter
from storage.models.base import table


@dataclass(frozen=True)
class Rule:
    scope: str
    free: int
    window_seconds: float
    base_delay: float
    max_delay: float

    def delay(self, count: int) -> float:
        """How long a key must wait after its ``count``-th failure."""
        extra = count - self.free
        if extra <= 0:
            return 0.0
        return min(self.max_delay, self.base_delay * 2.0 ** min(extra - 1, 60))

    @classmethod
    def fixed(cls, scope: str, *, limit: int, window_seconds: float) -> Rule:
        """At most ``limit`` failures per window: the ``limit``-th makes the next try wait out the window."""
        return cls(scope, limit - 1, window_seconds, window_seconds, window_seconds)


class Throttled(RateLimited):
    """A key (or one of several) must wait: ``retry_after`` whole seconds (the Retry-After header)."""

    def __init__(self, message: str, /, retry_after: int, **params: Any) -> None:
        super().__init__(message, **params)
        self.retry_after = retry_after


def hashed(rule: Rule, key: str) -> str:
    return hashlib.sha256(f"{rule.scope}\x00{key}".encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> float:
    return time.time()  # wall clock: every process and Redis agree on it, unlike a monotonic clock


class Counters(Protocol):
    def wait_until(self, keys: Sequence[str], now: float) -> float: ...
    def fail(self, rule: Rule, key: str, now: float) -> int: ...
    def forget(self, keys: Sequence[str]) -> None: ...
    def purge(self, now: float) -> int: ...


_TABLE = table(ThrottleCounter)


class DatabaseCounters:
    """Counters in the ``throttle_counter`` table, each change in a short transaction of its own (a refused
    request's own transaction is rolled back; its failure must still count)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _session(self) -> Session:
        return session_for(self.url)

    def wait_until(self, keys: Sequence[str], now: float) -> float:
        with self._session() as session:
            found = session.connection().execute(
                select(func.max(_TABLE.c.wait_until)).where(_TABLE.c.key.in_(keys), _TABLE.c.expires_at > now)
            ).scalar()
        return float(found or 0.0)

    def fail(self, rule: Rule, key: str, now: float) -> int:
        with self._session() as session, write_lock(session):
            conn = session.connection()
            insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_TABLE)
            upsert = insert.values(key=key, scope=rule.scope[:32], count=1, wait_until=0.0,
                                   expires_at=now + rule.window_seconds)
            upsert = upsert.on_conflict_do_update(index_elements=[_TABLE.c.key], set_={
                # A row past its expiry is a fresh start, whether or not the clean-up has deleted it yet.
                "count": case((_TABLE.c.expires_at <= now, 1), else_=_TABLE.c.count + 1)})
            count = int(conn.execute(upsert.returning(_TABLE.c.count)).scalar_one())
            delay = rule.delay(count)
            conn.execute(update(_TABLE).where(_TABLE.c.key == key).values(
                wait_until=now + delay, expires_at=now + max(rule.window_seconds, delay)))
            session.commit()
        return count

    def forget(self, keys: Sequence[str]) -> None:
        with self._session() as session, write_lock(session):
            session.connection().execute(delete(_TABLE).where(_TABLE.c.key.in_(keys)))
            session.commit()

    def purge(self, now: float) -> int:
        with self._session() as session, write_lock(session):
            gone = session.connection().execute(delete(_TABLE).where(_TABLE.c.expires_at <= now)).rowcount
            session.commit()
        return int(gone or 0)


class RedisCounters:
    """Counters in Redis (one hash per key, with Redis's own expiry)."""

    PREFIX = "shubbak:throttle:"

    def __init__(self, url: str) -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)

    def wait_until(self, keys: Sequence[str], now: float) -> float:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(self.PREFIX + key, "wait_until")
        return max([float(v) for v in pipe.execute() if v is not None], default=0.0)

    def fail(self, rule: Rule, key: str, now: float) -> int:
        name = self.PREFIX + key
        count = int(self.client.hincrby(name, "count", 1))
        delay = rule.delay(count)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(name, "wait_until", now + delay)
        pipe.pexpire(name, math.ceil(max(rule.window_seconds, delay) * 1000))
        pipe.execute()
        return count

    def forget(self, keys: Sequence[str]) -> None:
        self.client.delete(*(self.PREFIX + k for k in keys))

    def purge(self, now: float) -> int:
        return 0  # Redis expires keys itself


class RedisOrDatabase:
    """Redis while it answers; the database's counters (shared too) while it does not, so an outage of Redis
    neither stops sign-ins nor lifts the limits."""

    def __init__(self, redis_counters: RedisCounters, database: DatabaseCounters) -> None:
        self.redis = redis_counters
        self.database = database

    def _try(self, name: str, *args: Any) -> Any:
        import redis

        try:
            return getattr(self.redis, name)(*args)
        except redis.RedisError:
            log.warning("Redis did not answer; failed attempts are counted in the database meanwhile")
            return getattr(self.database, name)(*args)

    def wait_until(self, keys: Sequence[str], now: float) -> float:
        return float(self._try("wait_until", keys, now))

    def fail(self, rule: Rule, key: str, now: float) -> int:
        return int(self._try("fail", rule, key, now))

    def forget(self, keys: Sequence[str]) -> None:
        self._try("forget", keys)

    def purge(self, now: float) -> int:
        return self.database.purge(now)  # what was counted there during an outage


_lock = threading.Lock()
log = logging.getLogger(__name__)


@lru_cache(maxsize=16)
def _counters(database_url: str, broker_url: str | None) -> Counters:
    if broker_url and broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisOrDatabase(RedisCounters(broker_url), DatabaseCounters(database_url))
    return DatabaseCounters(database_url)


def counters_for(settings: Settings) -> Counters:
    with _lock:
        return _counters(settings.database_url, settings.broker_url)


def check(settings: Settings, message: str, *pairs: tuple[Rule, str], error: type[Throttled] = Throttled) -> None:
    """``error`` (Throttled: 429 with Retry-After) when any of the (rule, key) pairs must still wait."""
    now = _now()
    until = counters_for(settings).wait_until([hashed(rule, key) for rule, key in pairs], now)
    if until > now:
        raise error(message, retry_after=max(1, math.ceil(until - now)))


def fail(settings: Settings, *pairs: tuple[Rule, str]) -> None:
    """Count one failure for each (rule, key) pair."""
    counters = counters_for(settings)
    now = _now()
    for rule, key in pairs:
        counters.fail(rule, hashed(rule, key), now)
    if settings.throttle_cleanup_every and random.randrange(settings.throttle_cleanup_every) == 0:  # noqa: S311
        counters.purge(now)


def forget(settings: Settings, *pairs: tuple[Rule, str]) -> None:
    counters_for(settings).forget([hashed(rule, key) for rule, key in pairs])


def purge(settings: Settings) -> int:
    """Delete the counters that have expired; how many went."""
    return counters_for(settings).purge(_now())
