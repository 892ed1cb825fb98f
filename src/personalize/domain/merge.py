"""Identity merge: fold an anonymous visitor's state into a user's, as operations.

The operations are guarded by a ``merged:<visitor>`` marker on the user's side
(SETNX + IFNEW), so a repeated identify never merges twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from personalize.domain.state_ops import Op, OpSettings

FLOAT_FIELDS = frozenset({"revenue", "returned_value", "shipping_paid_total"})
MIN_FIELDS = frozenset({"first_ts", "first_purchase_ts"})
# Per-hash bookkeeping, never summed (last_session: written by older versions).
NEVER_ADD = frozenset({"last_session", "seen_at", "ttl_at", "xttl"})  # bookkeeping of the visitor, not facts


@dataclass(frozen=True, slots=True)
class VisitorSnapshot:
    anonymous_customer: str
    profile: Mapping[str, str]
    session: Mapping[str, str]
    session_items: Sequence[str]  # newest first
    cart: Mapping[str, str]
    history: Sequence[str]  # newest first
    purchased: Sequence[str]
    # Orders and returns already counted (order id -> total, "r:<order>:<item>" -> amount): the
    # user inherits them, so an order or return resent after the login is not counted again.
    orders: Mapping[str, str] = field(default_factory=dict)


def _hash_merge_ops(key: str, fields: Mapping[str, str]) -> list[Op]:
    ops: list[Op] = []
    for name, value in fields.items():
        if name in NEVER_ADD or name.startswith(("consent_ts:", "trait_ts:")):
            continue
        if name.startswith("consent:"):
            purpose = name.split(":", 1)[1]
            ts = fields.get(f"consent_ts:{purpose}", "0")
            ops.append(("HLATEST", key, name, value, f"consent_ts:{purpose}", ts))
        elif name.startswith("trait:"):
            trait = name.split(":", 1)[1]
            ts = fields.get(f"trait_ts:{trait}", "0")
            ops.append(("HLATEST", key, name, value, f"trait_ts:{trait}", ts))
        elif name in MIN_FIELDS:
            ops.append(("HMIN", key, name, value))
        elif name.endswith("_ts"):
            ops.append(("HMAX", key, name, value))
        elif name in FLOAT_FIELDS:
            ops.append(("HINCRF", key, name, value))
        elif name == "landing_ref":
            ops.append(("HSETNX", key, name, value))
        else:
            try:
                ops.append(("HINCR", key, name, int(value)))
            except ValueError:
                ops.append(("HSETNX", key, name, value))
    return ops


def merge_ops(snapshot: VisitorSnapshot, session_id: str | None, cfg: OpSettings) -> list[Op]:
    body: list[Op] = _hash_merge_ops("profile", snapshot.profile)
    if session_id:
        body += _hash_merge_ops(f"session:{session_id}", snapshot.session)
        if snapshot.session:
            # The identify event itself opened this session on the user's side already.
            body.append(("HINCR", "profile", "sessions", -1))
        for entry in reversed(snapshot.session_items):
            body.append(("LPUSHT", f"session_items:{session_id}", entry, cfg.recent_items_per_session))
    for name, value in snapshot.cart.items():
        if name.startswith("q:"):
            body.append(("HINCR", "cart", name, int(value)))
        elif name.startswith("p:"):
            body.append(("HSET", "cart", name, value))
        elif name == "updated_ts":
            body.append(("HMAX", "cart", name, value))
    for entry in reversed(snapshot.history):
        body.append(("LPUSHT", "history", entry, cfg.history_items_per_customer))
    for item in snapshot.purchased:
        body.append(("SADD", "purchased", item))
    for name, value in snapshot.orders.items():
        body.append(("HSETNX", "orders", name, value))
    body.append(("HINCR", "profile", "merged_visitors", 1))
    # The first visitor id stays the experiment/holdout unit after login (sticky arms).
    body.append(("HSETNX", "profile", "first_anon", snapshot.anonymous_customer.partition(":")[2]))
    return [("SETNX", f"merged:{snapshot.anonymous_customer}", "1"), ("IFNEW", None, len(body)), *body]
