"""The per-key export rate limit, off PostgreSQL: a token bucket in this process, or Redis.

``COSTWATCH_INGEST_RATE_PER_MINUTE`` exports per minute per ingest key; 0 means no limit.
``allow_export`` decides one export and says how long a refused exporter should wait.

- **In this process** (``COSTWATCH_RATE_LIMIT_REDIS_URL`` empty): a token bucket per key holding
  at most one minute's budget and refilled at ``limit / 60`` tokens per second, so a key may send
  a minute's budget at once and then ``limit`` per minute. Every web worker process and the gRPC
  receiver keep their own buckets: with N such processes a key can reach N × the limit.
- **Redis** (``COSTWATCH_RATE_LIMIT_REDIS_URL``; by default the broker's URL when the broker is
  Redis): one fixed 60-second window per key, counted by one atomic script and shared by every
  process that points at the same Redis. The window opens with the key's first export; a refused
  export is told to wait until it closes. Only Redis's clock counts, so process clocks may differ.
  If Redis cannot be reached, a warning is logged and the export is counted by the in-process
  bucket instead: an export is never refused or answered 5xx because the limiter's store is down.
  Redis is tried again ``REDIS_RETRY_SECONDS`` later, not on every export.

A changed limit starts a fresh budget (the limit is part of the bucket's and the window's name).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Seconds on a monotonic scale (``time.monotonic``); tests pass their own."""

WINDOW_SECONDS = 60
# How long a Redis outage is remembered before the next export tries Redis again.
REDIS_RETRY_SECONDS = 5.0
# A Redis that does not answer within this costs an export no more than this, once per retry interval.
REDIS_TIMEOUT_SECONDS = 0.5
# Buckets kept before full ones are forgotten (a full bucket is the same as no bucket).
MAX_BUCKETS = 10_000

# INCR and the window's expiry in one step: no window is ever left without an expiry.
_WINDOW_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {count, ttl}
"""


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """A token bucket per (key, limit) in this process; safe to share between threads."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, int], _Bucket] = {}

    def take(self, key_id: str, per_minute: int) -> tuple[bool, int]:
        """Take one token from ``key_id``'s bucket (capacity ``per_minute`` > 0).

        Returns (allowed, retry_after): retry_after is 0 when allowed, else the whole seconds
        (at least 1, rounded up) until the bucket holds a token again.
        """
        rate = per_minute / WINDOW_SECONDS
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get((key_id, per_minute))
            if bucket is None:
                if len(self._buckets) >= MAX_BUCKETS:
                    self._forget_full(now)
                bucket = self._buckets[(key_id, per_minute)] = _Bucket(float(per_minute), now)
            else:
                bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.stamp) * rate)
                bucket.stamp = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return True, 0
            return False, max(1, math.ceil((1 - bucket.tokens) * WINDOW_SECONDS / per_minute))

    def _forget_full(self, now: float) -> None:
        self._buckets = {
            (key_id, per_minute): b
            for (key_id, per_minute), b in self._buckets.items()
            if b.tokens + (now - b.stamp) * per_minute / WINDOW_SECONDS < per_minute
        }


class RedisWindows:
    """A fixed ``WINDOW_SECONDS`` window per (key, limit) in Redis, shared by every process using it."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),  # the caller falls back at once rather than waiting on retries
        )
        self._script = self._client.register_script(_WINDOW_SCRIPT)

    def take(self, key_id: str, per_minute: int) -> tuple[bool, int]:
        """Count one export in ``key_id``'s current window; (allowed, retry_after) as ``TokenBuckets.take``.

        Raises ``redis.RedisError`` when Redis cannot be reached or refuses the script.
        """
        count, ttl_ms = self._script(
            keys=[f"costwatch:ingest-rate:{per_minute}:{key_id}"], args=[WINDOW_SECONDS * 1000]
        )
        if int(count) <= per_minute:
            return True, 0
        return False, max(1, math.ceil(int(ttl_ms) / 1000))

    def close(self) -> None:
        self._client.close()


class ExportRateLimit:
    """The limit one process applies: Redis windows when ``redis_url`` is set, else (and while
    Redis is unreachable) token buckets in this process."""

    def __init__(self, redis_url: str = "", clock: Clock = time.monotonic) -> None:
        self.redis_url = redis_url
        self._clock = clock
        self._local = TokenBuckets(clock)
        self._redis_down_until: float | None = None
        self._redis: RedisWindows | None = None
        if redis_url:
            try:
                self._redis = RedisWindows(redis_url)
            except ValueError as exc:  # redis-py's parse of a malformed URL (settings check the scheme)
                log.error("COSTWATCH_RATE_LIMIT_REDIS_URL is unusable (%s); counting exports in this process", exc)

    def allow(self, key_id: str, per_minute: int) -> tuple[bool, int]:
        """Count one export of ``key_id`` against ``per_minute`` (<= 0: no limit); (allowed, retry_after)."""
        if per_minute <= 0:
            return True, 0
        if self._redis is not None and self._redis_usable():
            try:
                decision = self._redis.take(key_id, per_minute)
            except redis.RedisError as exc:
                if self._redis_down_until is None:
                    log.warning(
                        "the ingest rate limit's Redis (%s) is unreachable (%s: %s); counting exports in this "
                        "process until it answers again",
                        _redacted(self.redis_url),
                        type(exc).__name__,
                        exc,
                    )
                self._redis_down_until = self._clock() + REDIS_RETRY_SECONDS
            else:
                if self._redis_down_until is not None:
                    log.info("the ingest rate limit's Redis answers again; counting exports there")
                    self._redis_down_until = None
                return decision
        return self._local.take(key_id, per_minute)

    def _redis_usable(self) -> bool:
        return self._redis_down_until is None or self._clock() >= self._redis_down_until

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}***@{rest.rpartition('@')[2]}" if "@" in rest else url


_limiter: ExportRateLimit | None = None
_limiter_lock = threading.Lock()


def allow_export(key_id: str) -> tuple[bool, int]:
    """Count one export of the ingest key ``key_id`` (its ``key_hash``) against
    ``COSTWATCH_INGEST_RATE_PER_MINUTE``.

    Returns (allowed, retry_after): when not allowed the caller refuses with 429 /
    RESOURCE_EXHAUSTED and asks the exporter to wait ``retry_after`` whole seconds (>= 1).
    Never raises for an unreachable Redis (see the module docstring).
    """
    per_minute = settings.COSTWATCH_INGEST_RATE_PER_MINUTE
    if per_minute <= 0:
        return True, 0
    return _process_limiter().allow(key_id, per_minute)


def _process_limiter() -> ExportRateLimit:
    """This process's limiter, made on first use (after gunicorn forks) and again if the URL changes."""
    global _limiter
    url = settings.COSTWATCH_RATE_LIMIT_REDIS_URL
    limiter = _limiter
    if limiter is not None and limiter.redis_url == url:
        return limiter
    with _limiter_lock:
        if _limiter is None or _limiter.redis_url != url:
            if _limiter is not None:
                _limiter.close()
            _limiter = ExportRateLimit(url)
        return _limiter
