"""Every Redis key, stream name and TTL-bearing structure lives here.

Per-customer keys carry the customer's hash tag (``{c:u:123}`` / ``{c:a:abc}``) so
that one customer's keys share a Redis Cluster slot and a Lua script may touch
them together. Global keys (streams, popularity, catalog) carry no customer tag.
"""

from __future__ import annotations

from dataclasses import dataclass


def customer_id(user_id: str | None, anonymous_id: str | None) -> str:
    """The customer a request or event belongs to: the user when known, else the visitor."""
    if user_id:
        return f"u:{user_id}"
    if anonymous_id:
        return f"a:{anonymous_id}"
    raise ValueError("user_id or anonymous_id is required")


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "pz"

    # --- per customer (hash-tagged) -------------------------------------------------
    def tag(self, cid: str) -> str:
        return f"{self.prefix}:{{c:{cid}}}"

    def profile(self, cid: str) -> str:
        """Hash: the long-lived customer profile (counters, consent, traits) and the customer's
        item history, a ring of fields (store/sessions.split_profile). No TTL for a user; an
        anonymous visitor's expires PERSONALIZE_ANONYMOUS_TTL_S after its last event."""
        return f"{self.tag(cid)}:p"

    def session(self, cid: str, session_id: str) -> str:
        """Hash with a sliding, logical TTL: one session's counters and first/last seen.

        ``seen_at`` (server clock of its last event) older than the session TTL means the
        session is over, whatever the key's own TTL (ttl + slack, refreshed lazily) says.
        Its recent items are a ring of fields in the same hash (store/sessions.py).
        """
        return f"{self.tag(cid)}:s:{session_id}"

    def cart(self, cid: str) -> str:
        """Hash: open cart lines (q:<item> quantity, p:<item> unit price)."""
        return f"{self.tag(cid)}:cart"

    def purchased(self, cid: str) -> str:
        """Set: items the customer bought (excluded from recommendations)."""
        return f"{self.tag(cid)}:b"

    def orders(self, cid: str) -> str:
        """Hash: order id -> total, so a return can find what it returns."""
        return f"{self.tag(cid)}:o"

    def alias(self, cid: str) -> str:
        """String: for an anonymous visitor merged into a user, that user's customer id."""
        return f"{self.tag(cid)}:alias"

    def merged(self, cid: str, from_cid: str) -> str:
        """String: marks that from_cid's history was merged into cid (merge once)."""
        return f"{self.tag(cid)}:m:{from_cid}"

    def shown(self, cid: str) -> str:
        """Hash with TTL: item -> times shown without a click (demotion of repeats)."""
        return f"{self.tag(cid)}:shown"

    def scores(self, cid: str) -> str:
        """Hash: batch propensity scores written by train-propensity (with model version)."""
        return f"{self.tag(cid)}:ps"

    def contacts(self, cid: str) -> str:
        """Hash: offer contact-policy counters (impressions per day/week, dismissals...)."""
        return f"{self.tag(cid)}:cp"

    def last_decision(self, cid: str) -> str:
        """Hash: the customer's latest decision id and time (attribution fallback)."""
        return f"{self.tag(cid)}:ld"

    # --- global ---------------------------------------------------------------------
    def dedup_bucket(self, window: int) -> str:
        """Hash with TTL: "<customer> <event_id>" -> fingerprint of the events applied in one
        time window (the dedup TTL / 4); ingest reads the newest five with one HMGET each.

        One hash per window instead of one key per event: the per-event SET cost ~4 us of
        Redis CPU per event. On Redis Cluster this becomes one hash per slot and window
        (a tag chosen to hash to the customer's slot), read by that slot's script call.
        """
        return f"{self.prefix}:dd:{window}"

    @property
    def event_stream(self) -> str:
        return f"{self.prefix}:stream:events"

    @property
    def decision_stream(self) -> str:
        return f"{self.prefix}:stream:decisions"

    @property
    def popularity(self) -> str:
        """Sorted set: item -> decayed popularity (scores grow as 2^(t/half-life))."""
        return f"{self.prefix}:pop"

    def popularity_in(self, category: str) -> str:
        return f"{self.prefix}:pop:c:{category}"

    def item(self, item_id: str) -> str:
        """Hash: catalog item (title, category, price, in_stock, attributes JSON)."""
        return f"{self.prefix}:item:{item_id}"

    @property
    def out_of_stock(self) -> str:
        """Set: items currently out of stock (read on every decision)."""
        return f"{self.prefix}:oos"

    @property
    def active_model(self) -> str:
        """Hash: version and path of the published recommendation model, plus history."""
        return f"{self.prefix}:model:active"

    @property
    def model_history(self) -> str:
        return f"{self.prefix}:model:history"

    @property
    def offers(self) -> str:
        """Hash: offer id -> offer JSON (the catalog)."""
        return f"{self.prefix}:offers"

    def offer_budget(self, offer_id: str, day: str) -> str:
        return f"{self.prefix}:budget:{offer_id}:{day}"

    def offer_budget_total(self, offer_id: str) -> str:
        return f"{self.prefix}:budget:{offer_id}:total"

    @property
    def experiments(self) -> str:
        return f"{self.prefix}:experiments"
