"""Redis I/O of a decision: one pipelined read of everything a decision needs, one write.

Read: profile (with the item history, a ring in it), session (counters and recent items, one hash), purchased set, cart, shown-counters,
batch scores, contact-policy hash, alias, and, when asked, live popularity lists.
Write: the decision record (stream), shown-counters, the customer's latest decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from personalize.store.keys import Keys
from personalize.store.resp import (
    Arg,
    Command,
    MultiplexedConnection,
    Script,
    is_noscript,
    pack,
    raise_errors,
)
from personalize.store.sessions import live_session, split_profile


def _hash(flat: list[str]) -> dict[str, str]:
    it = iter(flat)
    return dict(zip(it, it))


@dataclass(frozen=True, slots=True)
class DecisionInputs:
    profile: dict[str, str]
    session: dict[str, str]
    session_items: list[str]  # newest first
    history: list[str]  # newest first
    purchased: set[str]
    cart: dict[str, str]
    shown: dict[str, int]
    scores: dict[str, str]
    contacts: dict[str, str]
    alias: str | None
    popular: list[str]
    popular_in_category: list[str]


@dataclass(frozen=True, slots=True)
class WriteScript:
    """A Lua script run by SHA in the write round trip (its source resent if Redis lost it)."""

    script: Script
    keys: Sequence[str]
    args: Sequence[Arg]


class DecisionStore:
    def __init__(
        self, conn: MultiplexedConnection, keys: Keys, history_items: int = 50, session_items: int = 20,
        session_ttl_s: int = 1800, anonymous_ttl_s: int = 0,
    ) -> None:
        self._conn = conn
        self._anonymous_ttl_s = anonymous_ttl_s
        self._keys = keys
        self._session_ttl_s = session_ttl_s
        self._history_items = history_items
        self._session_items = session_items

    async def close(self) -> None:
        await self._conn.aclose()

    async def read(
        self, cid: str, session_id: str | None, now: float, popular_n: int = 0, category: str | None = None
    ) -> DecisionInputs:
        """Everything for one decision in one round trip (an ended session reads as empty)."""
        k = self._keys
        cmds: list[Command] = [("HGETALL", k.profile(cid))]
        if session_id:
            cmds.append(("HGETALL", k.session(cid, session_id)))
        cmds += [
            ("SMEMBERS", k.purchased(cid)),
            ("HGETALL", k.cart(cid)),
            ("HGETALL", k.shown(cid)),
            ("HGETALL", k.scores(cid)),
            ("HGETALL", k.contacts(cid)),
            ("GET", k.alias(cid)),
        ]
        if popular_n:
            cmds.append(("ZREVRANGE", k.popularity, 0, popular_n - 1))
            if category:
                cmds.append(("ZREVRANGE", k.popularity_in(category), 0, popular_n - 1))
        replies = await self._conn.execute(pack(cmds), len(cmds))
        raise_errors(replies)
        if not session_id:
            replies[1:1] = [[]]
        profile, session, purchased, cart, shown, scores, contacts, alias = replies[:8]
        popular = replies[8] if popular_n else []
        popular_cat = replies[9] if popular_n and category else []
        session_fields, items, _ = live_session(_hash(session), now, self._session_ttl_s, self._session_items)
        profile_fields, history = split_profile(_hash(profile), self._history_items)
        return DecisionInputs(
            profile=profile_fields,
            session=session_fields,
            session_items=items,
            history=history,
            purchased=set(purchased),
            cart=_hash(cart),
            shown={kk: int(v) for kk, v in _hash(shown).items()},
            scores=_hash(scores),
            contacts=_hash(contacts),
            alias=alias or None,
            popular=popular,
            popular_in_category=popular_cat,
        )

    async def write(
        self,
        cid: str,
        decision_id: str,
        record_json: bytes | None,
        shown_items: Sequence[str],
        now: float,
        stream_maxlen: int,
        script: WriteScript | None = None,
        shown_ttl_s: int = 7 * 86_400,
    ) -> list[Any]:
        """The decision's writes in one round trip; the script's reply is last.

        ``record_json`` None: the script appends the record itself (with the offer reservation).
        """
        k = self._keys
        cmds: list[Command] = []
        if record_json is not None:
            cmds.append(("XADD", k.decision_stream, "MAXLEN", "~", stream_maxlen, "*", "d", record_json))
        shown_key = k.shown(cid)
        cmds += [("HINCRBY", shown_key, item, 1) for item in shown_items]
        if shown_items:
            cmds.append(("EXPIRE", shown_key, shown_ttl_s))
        cmds.append(("HSET", k.last_decision(cid), "id", decision_id, "ts", repr(now)))
        if self._anonymous_ttl_s and cid.startswith("a:"):  # goes with the visitor's other state
            cmds.append(("EXPIRE", k.last_decision(cid), self._anonymous_ttl_s))
        if script is not None:
            cmds.append(script.script.by_sha(script.keys, script.args))
        # Not retried after it left the process: counters and the log must not apply twice.
        replies = await self._conn.execute(pack(cmds), len(cmds), retry=False)
        if script is not None and is_noscript(replies[-1]):
            # Redis restarted or flushed its scripts: EVAL sends the source (and caches it).
            replies[-1:] = await self._conn.execute(pack([script.script.with_source(script.keys, script.args)]), 1, retry=False)
        raise_errors(replies)
        return replies
