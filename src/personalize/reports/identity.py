"""Identity merges as seen in the event log: an anonymous visitor later identified as a user.

Sources: ``identify`` events (anonymous_id -> user_id), and any event whose resolved
customer id is a user while it still carries the visitor's anonymous_id. Decisions and
outcomes of ``a:<anon>`` then count for ``u:<user>``.
"""

from __future__ import annotations

from collections.abc import Iterable

from personalize.reports.records import LoggedEvent


class IdentityMap:
    def __init__(self) -> None:
        self._alias: dict[str, str] = {}

    def merge(self, anonymous_cid: str, user_cid: str) -> None:
        if anonymous_cid == user_cid or not anonymous_cid.startswith("a:"):
            return
        # First merge wins: an anonymous id belongs to one person.
        self._alias.setdefault(anonymous_cid, user_cid)

    def canonical(self, cid: str) -> str:
        seen = 0
        while cid in self._alias and seen < 8:  # bounded: guards against accidental cycles
            cid = self._alias[cid]
            seen += 1
        return cid

    def aliases(self) -> dict[str, str]:
        return {a: self.canonical(a) for a in self._alias}

    @classmethod
    def from_events(cls, events: Iterable[LoggedEvent]) -> IdentityMap:
        ids = cls()
        for ev in events:
            e = ev.event
            anon = e.get("anonymous_id")
            user = e.get("user_id")
            if anon and user:
                ids.merge(f"a:{anon}", f"u:{user}")
            elif anon and ev.customer_id.startswith("u:"):
                ids.merge(f"a:{anon}", ev.customer_id)
        return ids
