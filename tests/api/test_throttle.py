"""Throttles under scale and attack: counters shared by every API process (the database, or Redis), keys of
bounded size that expire, sign-in slowed per username and per address with a growing delay instead of a
lock-out, public tracking limited per number and per address, X-Forwarded-For believed only from trusted proxies.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from api.app import create_app
from engine.core import throttle
from engine.core.client_address import client_address
from engine.core.settings import Settings
from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for
from storage.models.accounts import ThrottleCounter

PASSWORD = "correct horse"
PROXY = "10.0.0.1"


class Clock:
    """The throttle's wall clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(throttle, "_now", c)
    return c


def login(client: TestClient, username: str, password: str, via: str | None = None) -> Any:
    headers = {"X-Forwarded-For": via} if via else {}
    return client.post("/api/auth/token", data={"username": username, "password": password}, headers=headers)


def rows(settings: Settings) -> list[ThrottleCounter]:
    with Session(engine_for(settings.database_url)) as session:
        return list(session.exec(select(ThrottleCounter)).scalars().all())  # type: ignore[call-overload]


@pytest.fixture
def two(settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    """Two API processes (two apps) on one database."""
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        yield a, b


def test_failures_in_one_process_slow_the_other(api: Api, two: tuple[TestClient, TestClient], clock: Clock) -> None:
    a, b = two
    api.user("front_desk", username="shared")
    free = api.settings.login_free_failures
    for i in range(free):
        assert login((a, b)[i % 2], "shared", "wrong wrong").status_code == 401
    assert login(a, "shared", "wrong wrong").status_code == 401  # the first one past the free ones: a wait begins
    r = login(b, "shared", PASSWORD)
    assert r.status_code == 429, r.text
    assert r.json()["detail"] == "too many wrong passwords; wait and try again"
    assert r.headers["retry-after"] == str(int(api.settings.login_base_delay_seconds))


def test_the_delay_grows_but_the_real_user_is_never_locked_out(api: Api, clock: Clock) -> None:
    s = api.settings
    api.user("front_desk", username="victim")
    for _ in range(s.login_free_failures):
        login(api.client, "victim", "guess guess")
    waits = []
    for _ in range(12):  # the guesser waits out each delay and tries again
        assert login(api.client, "victim", "guess guess").status_code == 401
        r = login(api.client, "victim", "guess guess")
        assert r.status_code == 429
        waits.append(int(r.headers["retry-after"]))
        clock.now += waits[-1]
    assert waits[:4] == [2, 4, 8, 16]
    assert max(waits) == s.login_user_max_delay_seconds  # capped: never a lock-out
    assert waits == sorted(waits)
    # The real user, after at most the cap, gets in; success forgets the username's failures.
    assert login(api.client, "victim", "guess guess").status_code == 401
    clock.now += s.login_user_max_delay_seconds
    assert login(api.client, "victim", PASSWORD).status_code == 200
    assert login(api.client, "victim", "one typo").status_code == 401
    assert login(api.client, "victim", PASSWORD).status_code == 200


def test_one_password_across_many_usernames_is_slowed_per_address(sqlite_settings: Settings, clock: Clock) -> None:
    settings = sqlite_settings.model_copy(update={"trusted_proxies": [PROXY]})
    with TestClient(create_app(settings), client=(PROXY, 4000)) as client:
        api = Api(client, settings)
        api.user("front_desk", username="real_one")
        for i in range(settings.login_address_free_failures):
            assert login(client, f"user{i}", "Summer2026!", via="203.0.113.7").status_code == 401
        assert login(client, "user_x", "Summer2026!", via="203.0.113.7").status_code == 401
        r = login(client, "real_one", PASSWORD, via="203.0.113.7")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # Another client behind the same proxy is not slowed by the sprayer.
        assert login(client, "real_one", PASSWORD, via="198.51.100.20").status_code == 200
        # A forged header from the sprayer itself is not believed: the proxy appends the address it saw.
        r = login(client, "real_one", PASSWORD, via="198.51.100.20, 203.0.113.7")
        assert r.status_code == 429


def test_a_forwarded_header_from_an_untrusted_peer_is_ignored(api: Api, clock: Clock) -> None:
    # No trusted proxies: the socket's address counts, whatever the header says.
    for i in range(api.settings.login_address_free_failures + 1):
        login(api.client, f"spray{i}", "Summer2026!", via=f"192.0.2.{i}")
    r = login(api.client, "spray-last", "Summer2026!", via="192.0.2.250")
    assert r.status_code == 429


def test_client_address_reads_only_trusted_hops() -> None:
    trusted = ["10.0.0.0/8", "2001:db8::/32"]
    assert client_address("203.0.113.9", ["1.2.3.4"], trusted) == "203.0.113.9"
    assert client_address("10.1.2.3", ["1.2.3.4"], trusted) == "1.2.3.4"
    assert client_address("10.1.2.3", ["6.6.6.6, 1.2.3.4, 10.9.9.9"], trusted) == "1.2.3.4"
    assert client_address("10.1.2.3", ["6.6.6.6", "1.2.3.4"], trusted) == "1.2.3.4"
    assert client_address("10.1.2.3", ["not-an-address"], trusted) == "not-an-address"
    assert client_address("10.1.2.3", [], trusted) == "10.1.2.3"
    assert client_address("10.1.2.3", ["10.4.4.4"], trusted) == "10.4.4.4"
    assert client_address("2001:db8::1", ["2001:db9::5"], trusted) == "2001:db9::5"
    assert client_address(None, ["1.2.3.4"], []) == "unknown"
    assert len(client_address("10.1.2.3", ["x" * 10_000], trusted)) == 64
    with pytest.raises(ValueError, match="SHUBBAK_TRUSTED_PROXIES"):
        Settings(trusted_proxies=["not a network"])


def test_megabyte_usernames_leave_no_memory_and_one_row(api: Api, clock: Clock) -> None:
    huge = "u" * 1_000_000  # a megabyte (a form field may hold up to 1 MiB)
    login(api.client, huge, "x")  # first-call caches are not what is measured
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(8):
            r = login(api.client, huge + str(i), "whatever")
            assert r.status_code == 401
        del r  # the last response (and its request's megabyte) is the test's own, not the server's
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 512 * 1024, f"{grown} bytes kept after the requests"
    stored = rows(api.settings)
    assert len(stored) == 1  # the address only: a name no user can have is never stored
    assert all(len(row.key) == 64 for row in stored)


def test_counters_of_plausible_unknown_names_are_bounded_and_expire(api: Api, clock: Clock) -> None:
    s = api.settings
    for i in range(10):
        login(api.client, f"nobody{i}", "whatever")
    stored = rows(s)
    assert len(stored) <= 11 and {len(r.key) for r in stored} == {64}
    assert all("nobody" not in r.key for r in stored)
    clock.now += s.login_address_max_delay_seconds + s.login_window_seconds + 1
    assert throttle.purge(s) == len(stored)
    assert rows(s) == []


def test_a_counter_past_its_window_starts_again(api: Api, clock: Clock) -> None:
    api.user("front_desk", username="patient")
    for _ in range(api.settings.login_free_failures):
        login(api.client, "patient", "nope nope")
    clock.now += api.settings.login_window_seconds + 1
    assert login(api.client, "patient", "nope nope").status_code == 401  # counted as the first again
    assert login(api.client, "patient", PASSWORD).status_code == 200


def test_cleanup_runs_from_the_write_path(sqlite_settings: Settings, clock: Clock) -> None:
    settings = sqlite_settings.model_copy(update={"throttle_cleanup_every": 1})
    rule = throttle.Rule.fixed("test", limit=3, window_seconds=10)
    throttle.fail(settings, (rule, "old"))
    clock.now += 11
    throttle.fail(settings, (rule, "new"))  # every write cleans up here: "old" has expired
    assert [r.count for r in rows(settings)] == [1]


def issue_case(api: Api) -> str:
    admin = api.user("admin")
    assert api.deploy(TEST_PROCESSES / "test_permit", admin).status_code in (200, 201)
    r = api.open_case("test_permit", api.user("front_desk"))
    assert r.status_code == 201, r.text
    number: str = r.json()["tracking_number"]
    return number


def test_public_tracking_is_limited_per_number_and_per_address(api: Api, clock: Clock) -> None:
    number = issue_case(api)
    right = CITIZEN["phone"][-4:]
    wrong = "0000" if right != "0000" else "1111"
    s = api.settings
    for _ in range(s.public_track_max_failures):
        r = api.client.get(f"/api/public/track/{number}", params={"phone_last4": wrong})
        assert r.status_code == 404
    r = api.client.get(f"/api/public/track/{number}", params={"phone_last4": right})
    assert r.status_code == 429 and int(r.headers["retry-after"]) == s.public_track_window_seconds
    assert r.json()["detail"] == "too many attempts for this tracking number; try again later"
    clock.now += s.public_track_window_seconds
    assert api.client.get(f"/api/public/track/{number}", params={"phone_last4": right}).status_code == 200


def test_public_tracking_guesses_across_numbers_are_limited_per_address(sqlite_settings: Settings,
                                                                        clock: Clock) -> None:
    settings = sqlite_settings.model_copy(update={"public_track_max_failures_per_address": 5})
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        number = issue_case(api)
        for i in range(5):
            assert client.get(f"/api/public/track/{i:010d}", params={"phone_last4": "1234"}).status_code == 404
        r = client.get(f"/api/public/track/{number}", params={"phone_last4": CITIZEN["phone"][-4:]})
        assert r.status_code == 429


def test_the_kiosk_limit_is_shared_by_processes(settings: Settings, clock: Clock) -> None:
    local = settings.model_copy(update={"queue_issue_max_per_ip": 2})
    with TestClient(create_app(local)) as a, TestClient(create_app(local)) as b:
        codes = [c.post("/api/queue/tickets", json={"category": "permits", "priority": "normal"}).status_code
                 for c in (a, b, a)]
    assert codes == [201, 201, 429]


def test_with_a_broker_the_counters_live_in_redis(sqlite_url: str, tmp_path: Any, redis_url: str,
                                                  clock: Clock) -> None:
    settings = make_settings(sqlite_url, tmp_path, broker_url=redis_url)
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        Api(a, settings).user("front_desk", username="redisuser")
        for i in range(settings.login_free_failures + 1):
            assert login((a, b)[i % 2], "redisuser", "wrong wrong").status_code == 401
        r = login(b, "redisuser", PASSWORD)
        assert r.status_code == 429 and r.headers["retry-after"] == "2"
        clock.now += 2
        assert login(a, "redisuser", PASSWORD).status_code == 200
    assert rows(settings) == []  # nothing in the database
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = client.keys(throttle.RedisCounters.PREFIX + "*")
    assert keys and all(len(k) == len(throttle.RedisCounters.PREFIX) + 64 for k in keys)
    assert all(0 < client.ttl(k) <= settings.login_address_max_delay_seconds for k in keys)


def test_while_redis_is_down_the_database_counts(sqlite_url: str, tmp_path: Any, clock: Clock) -> None:
    from harness.postgres import free_port

    settings = make_settings(sqlite_url, tmp_path, broker_url=f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(settings)) as a:
        Api(a, settings).user("front_desk", username="outage")
        for _ in range(settings.login_free_failures + 1):
            assert login(a, "outage", "wrong wrong").status_code == 401
        r = login(a, "outage", PASSWORD)
        assert r.status_code == 429  # still slowed, and not a 500
    assert rows(settings)
