"""The per-key export rate limit (ingest/ratelimit.py): token buckets on a test clock, windows in
the real local Redis, and what happens when that Redis is down.

The 429 through the ingest view is in test_views.py, the gRPC answer in test_grpc.py.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest
import redis
from opentelemetry.trace import SpanKind

from costwatch.usage.models import LlmCall
from ingest import ratelimit
from ingest.accept import accept_export
from ingest.ratelimit import REDIS_RETRY_SECONDS, REDIS_TIMEOUT_SECONDS, ExportRateLimit, TokenBuckets

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[tuple[int, socket.socket]]:
    """A loopback port that takes connections but never answers (a hung Redis)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1], listener


def _connections_made(listener: socket.socket) -> int:
    listener.settimeout(0.2)
    accepted = []
    try:
        while True:
            accepted.append(listener.accept()[0])
    except TimeoutError:
        pass
    for conn in accepted:
        conn.close()
    return len(accepted)


# --- In this process: a token bucket per key ----------------------------------------------


def test_a_bucket_allows_a_minutes_budget_then_one_token_per_sixtieth_of_the_limit() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock)
    assert [buckets.take("k", 6) for _ in range(7)] == [(True, 0)] * 6 + [(False, 10)]
    clock.advance(2.5)
    assert buckets.take("k", 6) == (False, 8)  # a quarter token: 7.5 s to the next, rounded up
    clock.advance(7.4)
    assert buckets.take("k", 6) == (False, 1)
    clock.advance(0.1)
    assert buckets.take("k", 6) == (True, 0)
    assert buckets.take("k", 6) == (False, 10)


def test_an_idle_bucket_refills_to_one_minutes_budget_and_no_more() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock)
    for _ in range(6):
        buckets.take("k", 6)
    clock.advance(3600)
    assert [buckets.take("k", 6)[0] for _ in range(7)] == [True] * 6 + [False]


def test_retry_after_is_at_least_one_second() -> None:
    buckets = TokenBuckets(Clock())
    for _ in range(6000):
        assert buckets.take("k", 6000) == (True, 0)
    assert buckets.take("k", 6000) == (False, 1)  # the next token is 10 ms away


def test_each_key_has_its_own_bucket() -> None:
    buckets = TokenBuckets(Clock())
    assert buckets.take("a", 1) == (True, 0)
    assert buckets.take("a", 1) == (False, 60)
    assert buckets.take("b", 1) == (True, 0)
    assert buckets.take("a", 1) == (False, 60)


def test_threads_sharing_a_bucket_never_take_more_than_its_tokens() -> None:
    buckets = TokenBuckets(Clock())  # the clock stands still: no refill
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so unguarded updates would race
    counts: list[int] = []

    def worker() -> None:
        counts.append(sum(buckets.take("k", 20_000)[0] for _ in range(5_000)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert sum(counts) == 20_000  # without the lock: 22,000 to 35,000 here


def test_full_buckets_are_forgotten_past_the_cap_and_spent_ones_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_BUCKETS", 3)
    clock = Clock()
    buckets = TokenBuckets(clock)
    buckets.take("spent", 1)
    buckets.take("b", 60)
    buckets.take("c", 60)
    clock.advance(1)  # b and c are full again, spent is not
    buckets.take("d", 60)
    assert set(buckets._buckets) == {("spent", 1), ("d", 60)}
    assert buckets.take("spent", 1) == (False, 59)


def test_no_limit_when_the_limit_is_zero(settings) -> None:
    limiter = ExportRateLimit()
    assert all(limiter.allow("k", 0) == (True, 0) for _ in range(1000))
    settings.COSTWATCH_INGEST_RATE_PER_MINUTE = 0
    assert all(ratelimit.allow_export("k") == (True, 0) for _ in range(1000))


def test_without_redis_each_process_counts_alone() -> None:
    first, second = ExportRateLimit(), ExportRateLimit()
    assert [first.allow("k", 2)[0] for _ in range(3)] == [True, True, False]
    assert [second.allow("k", 2)[0] for _ in range(3)] == [True, True, False]


# --- Redis: one window per key, shared ------------------------------------------------------


def test_two_processes_share_one_budget_in_redis(redis_url: str) -> None:
    key = uuid4().hex
    first, second = ExportRateLimit(redis_url), ExportRateLimit(redis_url)
    try:
        assert first.allow(key, 3) == (True, 0)
        assert second.allow(key, 3) == (True, 0)
        assert first.allow(key, 3) == (True, 0)
        for limiter in (second, first):
            allowed, retry_after = limiter.allow(key, 3)
            assert not allowed and 59 <= retry_after <= 60
        assert second.allow(uuid4().hex, 3) == (True, 0)  # another key has its own window
    finally:
        first.close()
        second.close()


def test_a_redis_window_always_expires_within_a_minute(redis_url: str) -> None:
    key = uuid4().hex
    limiter = ExportRateLimit(redis_url)
    limiter.allow(key, 5)
    limiter.allow(key, 5)
    client = redis.Redis.from_url(redis_url)
    names = list(client.scan_iter(match=f"costwatch:ingest-rate:*{key}"))
    assert len(names) == 1
    assert 0 < client.pttl(names[0]) <= 60_000
    assert int(client.get(names[0]) or 0) == 2
    limiter.close()
    client.close()


def test_an_unreachable_redis_falls_back_to_this_process_with_one_warning(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = ExportRateLimit(f"redis://127.0.0.1:{closed_port}/0", Clock())
    with caplog.at_level(logging.INFO, logger="ingest.ratelimit"):
        decisions = [limiter.allow("k", 2) for _ in range(3)]
    # Never refused for the outage: counted by the in-process bucket instead.
    assert decisions[:2] == [(True, 0), (True, 0)]
    assert decisions[2] == (False, 30)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"127.0.0.1:{closed_port}" in warnings[0] and "ConnectionError" in warnings[0]


def test_a_hung_redis_costs_one_timeout_per_retry_interval(silent_port: tuple[int, socket.socket]) -> None:
    port, listener = silent_port
    clock = Clock()
    limiter = ExportRateLimit(f"redis://127.0.0.1:{port}/0", clock)
    began = time.monotonic()
    assert all(limiter.allow("k", 100) == (True, 0) for _ in range(20))
    assert time.monotonic() - began < 4 * REDIS_TIMEOUT_SECONDS  # one wait, not twenty
    assert _connections_made(listener) == 1
    clock.advance(REDIS_RETRY_SECONDS)
    assert limiter.allow("k", 100) == (True, 0)
    assert _connections_made(listener) == 1  # tried again after the interval


def test_a_malformed_redis_url_counts_in_this_process(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="ingest.ratelimit"):
        limiter = ExportRateLimit("redis://127.0.0.1:notaport/0")
    assert [limiter.allow("k", 1)[0] for _ in range(2)] == [True, False]
    assert "COSTWATCH_RATE_LIMIT_REDIS_URL is unusable" in caplog.text


@pytest.mark.django_db
def test_an_export_is_stored_while_the_limits_redis_is_down(
    recorder, acme, acme_ingest_key, settings, closed_port: int
) -> None:
    settings.COSTWATCH_RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    settings.COSTWATCH_INGEST_RATE_PER_MINUTE = 100
    recorder.record("chat gpt-4o", CHAT, kind=SpanKind.CLIENT)
    response = accept_export(acme_ingest_key, recorder.payload(), "application/x-protobuf", address="198.51.100.7")
    assert response.partial_success.rejected_spans == 0
    assert LlmCall.objects.filter(project=acme).count() == 1
