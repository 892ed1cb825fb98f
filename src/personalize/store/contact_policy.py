"""Contact policy, the Redis half: atomic reservation of an offer impression.

``reserve_offer`` runs ``lua/contact_policy.lua``: one script checks the global daily
cap, the offer's daily/weekly caps, dismissal suppression, redemption cooldown and both
budgets, then increments every counter - or changes nothing. Concurrent decisions for
one customer (or one budget) therefore never exceed a cap.

Redis Cluster limitation: the script touches the customer's hash-tagged key and two
global budget keys, which can hash to different slots. It is correct on a single Redis
(and on a replica set); a cluster needs budgets split per slot or checked separately.

Field layout and the pure reading side: ``personalize.offers.contact``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from personalize.offers.catalog import CompiledOffer, EffectivePolicy
from personalize.offers.contact import (
    BUDGET_DAY_TTL_S,
    CONTACTS_TTL_S,
    DAY_S,
    ContactOp,
    ContactState,
    budget_counts_from_values,
    budget_keys_to_read,
    contact_fields_to_read,
    contact_state_from_fields,
    day_stamp,
    offer_accept_ops,
    offer_dismiss_ops,
    week_stamp,
)
from personalize.store.keys import Keys

__all__ = [  # the pure reading side is re-exported so the service needs one import
    "ContactOp",
    "ContactState",
    "ReserveResult",
    "apply_contact_ops",
    "budget_counts_from_values",
    "budget_keys_to_read",
    "contact_fields_to_read",
    "contact_state_from_fields",
    "offer_accept_ops",
    "offer_dismiss_ops",
    "queue_contact_ops",
    "reserve_args",
    "reserve_offer",
]

RESERVE_SCRIPT: Final = (
    resources.files("personalize.store").joinpath("lua/contact_policy.lua").read_text("utf-8")
)
RESERVE_SHA: Final = hashlib.sha1(RESERVE_SCRIPT.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ReserveResult:
    ok: bool
    reason: str | None = None  # the blocking cap/budget when not ok (see offers.contact)
    impressions_today: int = 0  # of this offer, for this customer, including this one
    offers_today: int = 0  # all offers, for this customer, including this one


def reserve_args(
    keys: Keys, cid: str, offer_id: str, policy: EffectivePolicy, now: float
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of the script (exposed so a caller can queue it in its own pipeline)."""
    day = day_stamp(now)
    script_keys = [
        keys.contacts(cid),
        keys.offer_budget(offer_id, day),
        keys.offer_budget_total(offer_id),
    ]
    argv: list[Any] = [
        offer_id,
        day,
        week_stamp(now),
        repr(float(now)),
        policy.max_per_day,
        policy.max_per_week,
        policy.max_offers_per_day,
        policy.suppress_after_dismissals,
        repr(policy.suppress_days * DAY_S),
        repr(policy.cooldown_after_redemption_days * DAY_S),
        -1 if policy.budget_per_day is None else policy.budget_per_day,
        -1 if policy.budget_total is None else policy.budget_total,
        BUDGET_DAY_TTL_S,
        CONTACTS_TTL_S,
    ]
    return script_keys, argv


def parse_reserve_reply(reply: list[Any]) -> ReserveResult:
    status = int(reply[0])
    reason = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
    if status != 1:
        return ReserveResult(ok=False, reason=reason)
    return ReserveResult(ok=True, impressions_today=int(reply[2]), offers_today=int(reply[3]))


async def reserve_offer(
    client: aioredis.Redis,
    keys: Keys,
    cid: str,
    offer: CompiledOffer | str,
    policy: EffectivePolicy | None,
    now: float,
) -> ReserveResult:
    """Atomically check every cap and budget for (cid, offer) and count the impression.

    ``policy`` defaults to the compiled offer's own; pass it when ``offer`` is an id.
    """
    if isinstance(offer, CompiledOffer):
        offer_id, policy = offer.id, policy or offer.policy
    else:
        offer_id = offer
    if policy is None:
        raise ValueError("reserve_offer needs the offer's EffectivePolicy")
    script_keys, argv = reserve_args(keys, cid, offer_id, policy, now)
    try:
        reply = await client.evalsha(RESERVE_SHA, len(script_keys), *script_keys, *argv)
    except NoScriptError:
        # First call on this server (or after SCRIPT FLUSH / restart): EVAL loads it.
        reply = await client.eval(RESERVE_SCRIPT, len(script_keys), *script_keys, *argv)
    return parse_reserve_reply(list(reply))


def queue_contact_ops(pipe: Any, keys: Keys, cid: str, ops: Iterable[ContactOp]) -> int:
    """Add the writes of ``offer_dismiss_ops`` / ``offer_accept_ops`` to a redis pipeline.

    Returns the number of commands queued (the last one refreshes the hash's TTL).
    """
    key = keys.contacts(cid)
    queued = 0
    for op in ops:
        if op.op == "hincrby":
            pipe.hincrby(key, op.field, int(op.value))
        else:
            pipe.hset(
                key, op.field, repr(float(op.value)) if isinstance(op.value, float) else op.value
            )
        queued += 1
    pipe.expire(key, CONTACTS_TTL_S)
    return queued + 1


async def apply_contact_ops(
    client: aioredis.Redis, keys: Keys, cid: str, ops: Iterable[ContactOp]
) -> None:
    """Apply dismissal/redemption writes in one transaction (convenience for ingest/tests)."""
    async with client.pipeline(transaction=True) as pipe:
        queue_contact_ops(pipe, keys, cid, ops)
        await pipe.execute()


