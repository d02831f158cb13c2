"""How long to wait before trying an outgoing call again (push services, webhooks).

One rule for every peer: exponential from `base`, capped, and never shorter than what the peer
asked for with Retry-After (but never longer than the cap either: a peer must not be able to
park our deliveries for a day).
"""
from __future__ import annotations

from datetime import timedelta


def backoff(attempts: int, *, base: timedelta, cap: timedelta,
            retry_after: int | None = None) -> timedelta:
    """Delay after the `attempts`-th failure: base, 2*base, 4*base, ... at most `cap`."""
    delay = min(base * (2 ** min(max(attempts - 1, 0), 16)), cap)
    if retry_after:
        delay = min(max(delay, timedelta(seconds=retry_after)), cap)
    return delay


def retry_after_seconds(value) -> int | None:
    """A Retry-After header in seconds (the HTTP-date form is treated as absent)."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return None
