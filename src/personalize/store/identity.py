"""Identity links: an anonymous visitor becomes a known user (identify / login)."""

from __future__ import annotations

from collections.abc import Sequence

from personalize.domain.merge import VisitorSnapshot
from personalize.store.keys import Keys
from personalize.store.resp import Arg, MultiplexedConnection, Script, raise_errors
from personalize.store.scripts import lua_source
from personalize.store.sessions import live_session, split_profile


def _s(x: bytes | str) -> str:
    return x.decode() if isinstance(x, bytes) else x


def _pairs(flat: list[bytes]) -> dict[str, str]:
    return {_s(flat[i]): _s(flat[i + 1]) for i in range(0, len(flat), 2)}


class IdentityStore:
    def __init__(
        self, conn: MultiplexedConnection, keys: Keys, session_ttl_s: int = 1800, anonymous_ttl_s: int = 0
    ) -> None:
        # The ingest script's connection: a link is one pipelined round trip (redis-py's
        # pipeline asked SCRIPT EXISTS first, a second round trip per batch with logins).
        self._conn = conn
        self._keys = keys
        self._session_ttl_s = session_ttl_s
        self._anonymous_ttl_s = anonymous_ttl_s
        self._script = Script(lua_source("link_alias"))

    async def link_many(self, links: Sequence[tuple[str, str, str | None]], now: float) -> list[VisitorSnapshot | str]:
        """For each (visitor, user, session_id): set the alias and return the visitor's state
        (an ended session is not part of it).

        When the visitor was already linked to a different user: that user's customer id (the
        first link stands; nothing is merged again).
        """
        k = self._keys
        ttl: Arg = self._anonymous_ttl_s
        calls = [
            ([k.alias(visitor), k.profile(visitor), k.session(visitor, session_id or "-"), k.cart(visitor),
              k.purchased(visitor), k.orders(visitor)], [user, ttl])
            for visitor, user, session_id in links
        ]
        # Safe to resend after a connection error: linking again answers "already linked".
        replies = await self._script.run(self._conn, calls)
        raise_errors(replies)
        out: list[VisitorSnapshot | str] = []
        for (visitor, _user, _sid), reply in zip(links, replies, strict=True):
            if int(reply[0]) == 0:
                out.append(_s(reply[1]))
                continue
            session, items, _ = live_session(_pairs(reply[2]), now, self._session_ttl_s)
            profile, history = split_profile(_pairs(reply[1]))
            out.append(
                VisitorSnapshot(
                    anonymous_customer=visitor,
                    profile=profile,
                    session=session,
                    session_items=items,
                    cart=_pairs(reply[3]),
                    history=history,
                    purchased=[_s(x) for x in reply[4]],
                    orders=_pairs(reply[5]),
                )
            )
        return out
