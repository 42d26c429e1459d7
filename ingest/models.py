"""Ingest keeps no tables of its own: calls and attribution are ``costwatch.usage``'s, the per-key
rate limit lives in memory or Redis (``ingest/ratelimit.py``)."""
