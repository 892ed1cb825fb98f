"""Session lifetime: a sliding TTL kept logically in the session hash.

The ingest script stamps ``seen_at`` (server clock) on every event of a session and
treats a session not seen for ``session_ttl_s`` as over (it starts afresh). Readers use
the same rule, so a session is gone exactly when a sliding Redis TTL would have removed
it. The keys' own TTL is ttl + slack and is refreshed at most once per slack: an EXPIRE
per key and event cost ~1.5 us of Redis CPU per event and reclaimed nothing sooner.
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_SLACK_S = 300


def session_slack_s(session_ttl_s: int) -> int:
    """How much longer than the session TTL the keys may live (memory, not semantics)."""
    return max(1, min(MAX_SLACK_S, session_ttl_s // 6))


def session_expires_in(fields: Mapping[str, str], now: float, session_ttl_s: int) -> float | None:
    """Seconds until the session ends, or None when it has ended (or never existed).
    A session hash without ``seen_at`` (written by an older version) lives by its key's TTL."""
    if not fields:
        return None
    seen = fields.get("seen_at")
    if seen is None:
        return float(session_ttl_s)
    left = float(seen) + session_ttl_s - now
    return left if left >= 0 else None


def session_alive(fields: Mapping[str, str], now: float, session_ttl_s: int) -> bool:
    return session_expires_in(fields, now, session_ttl_s) is not None


def live_session(
    fields: Mapping[str, str], now: float, session_ttl_s: int, limit: int | None = None
) -> tuple[dict[str, str], list[str], float]:
    """What every reader sees of a stored session hash: its counters, recent items (newest
    first, at most ``limit``) and seconds left; empty with 0 s left once it has ended."""
    counters, items = split_session(fields, limit)
    left = session_expires_in(counters, now, session_ttl_s)
    if left is None:
        return {}, [], 0.0
    return counters, items, left


def _split_ring(
    fields: Mapping[str, str], prefix: str, limit: int | None
) -> tuple[dict[str, str], list[str]]:
    """A hash's own fields and the entries of the ring kept in it, newest first.

    The ring (written by the ingest script): "<prefix>c" counts the entries pushed,
    "<prefix>cap" is the ring's size, entry k is in field "<prefix><k % cap>".
    """
    count, size = prefix + "c", prefix + "cap"
    own = {
        name: value for name, value in fields.items()
        if not (name == count or name == size or (name[:1] == prefix and name[1:].isdigit()))
    }
    pushed = int(fields.get(count, 0) or 0)
    if not pushed:
        return own, []
    cap = int(fields.get(size, 0) or 0) or pushed
    n = min(pushed, cap if limit is None else min(cap, limit))
    entries = [fields.get(f"{prefix}{k % cap}") for k in range(pushed - 1, pushed - 1 - n, -1)]
    return own, [e for e in entries if e is not None]


def split_session(fields: Mapping[str, str], limit: int | None = None) -> tuple[dict[str, str], list[str]]:
    """A session hash's counters and its recent item entries (ring "i"), newest first."""
    return _split_ring(fields, "i", limit)


def split_profile(fields: Mapping[str, str], limit: int | None = None) -> tuple[dict[str, str], list[str]]:
    """A profile hash's fields and the customer's item history (ring "h"), newest first."""
    return _split_ring(fields, "h", limit)
