"""Session lifetime and the item ring kept in the session hash (store/sessions.py)."""

from __future__ import annotations

from personalize.store.sessions import (
    session_alive,
    session_expires_in,
    session_slack_s,
    split_session,
)


def ring(entries: list[str], cap: int) -> dict[str, str]:
    """The fields the ingest script leaves after pushing ``entries`` (oldest first)."""
    fields = {"ic": str(len(entries)), "icap": str(cap)}
    for k, entry in enumerate(entries):
        fields[f"i{k % cap}"] = entry
    return fields


def test_ring_reads_newest_first_across_wraparound() -> None:
    fields = {"n:product_view": "7", "first_ts": "1.0", **ring([f"e{k}" for k in range(7)], cap=3)}
    counters, items = split_session(fields)
    assert items == ["e6", "e5", "e4"]
    assert counters == {"n:product_view": "7", "first_ts": "1.0"}  # ring fields are not counters
    assert split_session(fields, limit=2)[1] == ["e6", "e5"]


def test_ring_before_wraparound_and_empty() -> None:
    assert split_session(ring(["a", "b"], cap=5))[1] == ["b", "a"]
    assert split_session({"n:page_view": "1"}) == ({"n:page_view": "1"}, [])


def test_logical_expiry_follows_seen_at() -> None:
    fields = {"seen_at": "1000.0"}
    assert session_expires_in(fields, 1100.0, 1800) == 1700.0
    assert session_alive(fields, 2800.0, 1800)
    assert not session_alive(fields, 2800.5, 1800)
    assert session_expires_in({}, 1000.0, 1800) is None  # never seen
    assert session_alive({"first_ts": "1"}, 10**10, 1800)  # written before seen_at existed: its key TTL rules


def test_slack_is_bounded() -> None:
    assert session_slack_s(1800) == 300 and session_slack_s(100) == 16 and session_slack_s(1) == 1
