"""Session lifetime and the item rings kept in the session and profile hashes (store/sessions.py)."""

from __future__ import annotations

import redis

from personalize.store.keys import Keys
from personalize.store.sessions import (
    session_alive,
    session_expires_in,
    session_slack_s,
    split_profile,
    split_session,
)
from tests.helpers import NOW, api_client, event, hash_fields, keys_matching


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


async def test_history_ring_keeps_the_newest_items_newest_first(redis_url: str, redis_sync: redis.Redis) -> None:
    """60 views through the API with a ring of 50: the profile hash holds the newest 50, and
    no list key per customer."""
    async with api_client(redis_url, history_items_per_customer=50) as api:
        views = [event("product_view", user_id="ring", session_id=f"s{n // 10}", item_id=f"i{n}", timestamp=NOW - 600 + n)
                 for n in range(60)]
        for n in range(0, 60, 25):
            assert (await api.post("/v1/events", json={"events": views[n:n + 25]})).status_code == 202
    keys = Keys("pz")
    raw = {k.decode(): v.decode() for k, v in hash_fields(redis_sync, keys.profile("u:ring")).items()}
    fields, history = split_profile(raw)
    assert [h.split("|")[0] for h in history] == [f"i{n}" for n in range(59, 9, -1)]
    assert "hc" not in fields and not any(f[:1] == "h" and f[1:].isdigit() for f in fields)
    assert fields["n:product_view"] == "60"
    # one hash per session and the profile: no list key for the history
    stored = {k.decode() for k in keys_matching(redis_sync, keys.tag("u:ring") + "*")}
    assert stored == {keys.profile("u:ring"), *(keys.session("u:ring", f"s{n}") for n in range(6))}
