"""Identity links: an anonymous visitor becomes a known user (identify / login)."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from personalize.domain.merge import VisitorSnapshot
from personalize.store.keys import Keys
from personalize.store.scripts import lua_source
from personalize.store.sessions import live_session, split_profile


def _s(x: bytes | str) -> str:
    return x.decode() if isinstance(x, bytes) else x


def _pairs(flat: list[bytes]) -> dict[str, str]:
    return {_s(flat[i]): _s(flat[i + 1]) for i in range(0, len(flat), 2)}


class IdentityStore:
    def __init__(self, client: aioredis.Redis, keys: Keys, session_ttl_s: int = 1800) -> None:
        self._client = client
        self._keys = keys
        self._session_ttl_s = session_ttl_s
        self._script: AsyncScript = client.register_script(lua_source("link_alias"))

    async def link_many(self, links: Sequence[tuple[str, str, str | None]], now: float) -> list[VisitorSnapshot | None]:
        """For each (visitor, user, session_id): set the alias and return the visitor's state
        (an ended session is not part of it).

        None when the visitor was already linked to a different user (not merged again).
        """
        k = self._keys
        pipe = self._client.pipeline(transaction=False)
        for visitor, user, session_id in links:
            sid = session_id or "-"
            await self._script(
                keys=[
                    k.alias(visitor), k.profile(visitor), k.session(visitor, sid),
                    k.cart(visitor), k.purchased(visitor),
                ],
                args=[user],
                client=pipe,
            )
        replies = await pipe.execute()
        out: list[VisitorSnapshot | None] = []
        for (visitor, _user, _sid), reply in zip(links, replies, strict=True):
            if int(reply[0]) == 0:
                out.append(None)
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
                )
            )
        return out
