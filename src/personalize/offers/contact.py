"""Contact policy, the pure half: field names, reading state, and event ops.

State lives in one Redis hash per customer (``Keys.contacts(cid)``) plus two global
budget counters per offer. Counters carry the day/week they count, so a stale counter
reads as zero and the hash never grows with time (one set of fields per offer shown).

Fields of the customer hash (``<o>`` = offer id; days are UTC ``YYYYMMDD``, weeks ISO
``YYYY-Www``):

=================  =====================================================================
``imp:<o>``        impressions granted of offer ``<o>`` on day ``impd:<o>``
``impd:<o>``       the day ``imp:<o>`` counts
``impw:<o>``       impressions granted of ``<o>`` in ISO week ``impwk:<o>``
``impwk:<o>``      the week ``impw:<o>`` counts
``all``            offers granted (all offers together) on day ``alld``
``alld``           the day ``all`` counts
``dis:<o>``        dismissals of ``<o>`` (ever; see ``offer_dismiss_ops``)
``dist:<o>``       unix time of the last dismissal of ``<o>``
``red:<o>``        unix time of the last redemption (accept) of ``<o>``
=================  =====================================================================

Global keys: ``Keys.offer_budget(o, YYYYMMDD)`` (grants that UTC day, expires after
3 days) and ``Keys.offer_budget_total(o)`` (grants ever). Budgets count *grants* (a
decision that shows the offer), which is what can be enforced atomically at decision
time; redemptions happen later and are counted by attribution.

Impressions are counted when a decision grants the offer (``reserve_offer``), not from
``offer_impression`` events, which must therefore not touch these fields. Dismissals and
redemptions come from events: see ``offer_dismiss_ops`` / ``offer_accept_ops``.

Suppression: once ``dis:<o>`` reaches M, the offer is suppressed until N days after the
latest dismissal; the count is not reset, so after the suppression ends one more
dismissal suppresses again for N days.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal

from personalize.offers.catalog import Catalog, EffectivePolicy
from personalize.store.keys import Keys

DAY_S: Final = 86_400.0
CONTACTS_TTL_S: Final = 400 * 86_400  # outlives any sane suppression/cooldown; refreshed on writes
BUDGET_DAY_TTL_S: Final = 3 * 86_400

# Reasons, as they appear in OfferCandidate.failed and ReserveResult.reason.
CAP_GLOBAL: Final = "cap:offers_per_day"
CAP_DAY: Final = "cap:per_day"
CAP_WEEK: Final = "cap:per_week"
SUPPRESSED: Final = "suppressed:dismissals"
COOLDOWN: Final = "cooldown:redemption"
BUDGET_DAY: Final = "budget:per_day"
BUDGET_TOTAL: Final = "budget:total"


def day_stamp(now: float) -> str:
    return _stamps(now)[0]


def week_stamp(now: float) -> str:
    return _stamps(now)[1]


# (from, until, day, week): the UTC day the last stamps were made for, minus a second at each
# end, so that rounding ``now`` to microseconds (as datetime does) cannot cross midnight.
_last_day: tuple[float, float, str, str] = (math.inf, -math.inf, "", "")


def _stamps(now: float) -> tuple[str, str]:
    """``YYYYMMDD`` and ISO ``YYYY-Www`` of ``now`` in UTC; formatted once per UTC day."""
    global _last_day
    start, until, day, week = _last_day
    if start <= now < until:
        return day, week
    moment = datetime.fromtimestamp(now, tz=UTC)
    year, number, _ = moment.isocalendar()
    day, week = moment.strftime("%Y%m%d"), f"{year}-W{number:02d}"
    midnight = math.floor(now / DAY_S) * DAY_S
    if midnight + 1.0 <= now < midnight + DAY_S - 1.0:  # else near midnight: do not remember
        _last_day = (midnight + 1.0, midnight + DAY_S - 1.0, day, week)
    return day, week


def offer_fields(offer_id: str) -> tuple[str, ...]:
    o = offer_id
    return (f"imp:{o}", f"impd:{o}", f"impw:{o}", f"impwk:{o}", f"dis:{o}", f"dist:{o}", f"red:{o}")


GLOBAL_FIELDS: Final = ("all", "alld")


def contact_fields_to_read(offer_ids: Iterable[str], now: float | None = None) -> list[str]:
    """Fields to HMGET from ``Keys.contacts(cid)`` for these offers (``now`` is unused: the
    fields carry their own day; kept so callers need not change if that ever changes).

    With a large catalog, ``HGETALL`` of the hash is usually cheaper (it only holds offers
    this customer has seen); ``contact_state_from_fields`` accepts either.
    """
    fields_: list[str] = list(GLOBAL_FIELDS)
    for offer_id in offer_ids:
        fields_.extend(offer_fields(offer_id))
    return fields_


def budget_keys_to_read(keys: Keys, offer_ids: Iterable[str], now: float) -> list[str]:
    """Budget counters to MGET, two per offer: [day, total, day, total, ...]."""
    day = day_stamp(now)
    out: list[str] = []
    for offer_id in offer_ids:
        out.append(keys.offer_budget(offer_id, day))
        out.append(keys.offer_budget_total(offer_id))
    return out


def budget_counts_from_values(
    offer_ids: Sequence[str], values: Sequence[bytes | str | int | None]
) -> dict[str, tuple[int, int]]:
    """Pair the MGET answer of ``budget_keys_to_read`` back to offers: id -> (today, total)."""
    return {
        offer_id: (_int(values[2 * i]), _int(values[2 * i + 1]))
        for i, offer_id in enumerate(offer_ids)
    }


@dataclass(frozen=True, slots=True)
class ContactState:
    """Which offers the contact policy or budgets block for one customer now, and why."""

    blocked: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    global_reasons: tuple[str, ...] = ()  # block every offer (the global daily cap)
    offers_today: int = 0

    def reasons(self, offer_id: str) -> tuple[str, ...]:
        return self.global_reasons + tuple(self.blocked.get(offer_id, ()))


def _text(value: bytes | str | float | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _int(value: bytes | str | float | None) -> int:
    text = _text(value)
    try:
        return int(float(text)) if text else 0
    except ValueError:
        return 0


def _float(value: bytes | str | float | None) -> float | None:
    text = _text(value)
    try:
        return float(text) if text else None
    except ValueError:
        return None


def blocked_reasons(
    policy: EffectivePolicy,
    get: Mapping[str, bytes | str | None],
    offer_id: str,
    now: float,
    budget: tuple[int, int] | None = None,
) -> list[str]:
    """Per-offer reasons (not the global cap); ``get`` maps field name -> raw value."""
    return _blocked_reasons(policy, get, offer_id, now, day_stamp(now), week_stamp(now), budget)


def _blocked_reasons(
    policy: EffectivePolicy,
    get: Mapping[str, bytes | str | None],
    offer_id: str,
    now: float,
    day: str,
    week: str,
    budget: tuple[int, int] | None,
) -> list[str]:
    reasons: list[str] = []
    o = offer_id
    imp = _int(get.get(f"imp:{o}")) if _text(get.get(f"impd:{o}")) == day else 0
    impw = _int(get.get(f"impw:{o}")) if _text(get.get(f"impwk:{o}")) == week else 0
    if imp >= policy.max_per_day:
        reasons.append(CAP_DAY)
    if impw >= policy.max_per_week:
        reasons.append(CAP_WEEK)
    dismissed_at = _float(get.get(f"dist:{o}"))
    if (
        _int(get.get(f"dis:{o}")) >= policy.suppress_after_dismissals
        and dismissed_at is not None
        and now < dismissed_at + policy.suppress_days * DAY_S
    ):
        reasons.append(SUPPRESSED)
    redeemed_at = _float(get.get(f"red:{o}"))
    if (
        redeemed_at is not None
        and now < redeemed_at + policy.cooldown_after_redemption_days * DAY_S
    ):
        reasons.append(COOLDOWN)
    if budget is not None:
        today, total = budget
        if policy.budget_per_day is not None and today >= policy.budget_per_day:
            reasons.append(BUDGET_DAY)
        if policy.budget_total is not None and total >= policy.budget_total:
            reasons.append(BUDGET_TOTAL)
    return reasons


def contact_state_from_fields(
    fields: Mapping[bytes, bytes | str | None] | Mapping[str, bytes | str | None] | Sequence[bytes | str | None],
    catalog: Catalog,
    now: float,
    *,
    offer_ids: Sequence[str] | None = None,
    budgets: Mapping[str, tuple[int, int]] | None = None,
) -> ContactState:
    """Pure: which offers are blocked and why.

    ``fields`` is either the HGETALL mapping of ``Keys.contacts(cid)`` or the list answer of
    HMGET over ``contact_fields_to_read(offer_ids)`` (then pass the same ``offer_ids``).
    ``budgets`` is ``budget_counts_from_values(...)``; without it budgets are not checked
    here (``reserve_offer`` still enforces them).
    """
    ids = list(offer_ids) if offer_ids is not None else list(catalog.offers)
    if isinstance(fields, Mapping):
        get: dict[str, bytes | str | None] = {
            (k.decode() if isinstance(k, bytes) else k): v for k, v in fields.items()
        }
    else:
        get = dict(zip(contact_fields_to_read(ids), fields, strict=True))
    # The UTC day and ISO week once per customer (formatting them is the costly part), and only
    # when a counter needs them: most visitors have no contact record at all.
    day = day_stamp(now) if ids or get.get("alld") is not None else ""  # "" never matches None
    offers_today = _int(get.get("all")) if _text(get.get("alld")) == day else 0
    global_reasons = (
        (CAP_GLOBAL,) if offers_today >= catalog.contact_defaults.max_offers_per_day else ()
    )
    blocked: dict[str, tuple[str, ...]] = {}
    week = week_stamp(now) if ids else ""
    for offer_id in ids:
        compiled = catalog.offers.get(offer_id)
        if compiled is None:
            continue
        budget = budgets.get(offer_id, (0, 0)) if budgets is not None else None
        reasons = _blocked_reasons(compiled.policy, get, offer_id, now, day, week, budget)
        if reasons:
            blocked[offer_id] = tuple(reasons)
    return ContactState(blocked=blocked, global_reasons=global_reasons, offers_today=offers_today)


def no_contact_state(catalog: Catalog) -> ContactState:
    """What ``contact_state_from_fields`` says for a customer with no contact record and no
    offer to check (no fields, no offer ids): nothing blocked, unless the global cap is 0.
    Cached on the catalog and shared: never mutate it."""
    state = catalog.plans.get("no_contact")
    if state is None:
        state = catalog.plans["no_contact"] = contact_state_from_fields({}, catalog, 0.0, offer_ids=())
    assert isinstance(state, ContactState)
    return state


# --- ops for outcome events ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactOp:
    """One write to ``Keys.contacts(cid)``: HINCRBY field by value, or HSET field to value."""

    op: Literal["hincrby", "hset"]
    field: str
    value: int | float


def offer_dismiss_ops(offer_id: str, now: float) -> list[ContactOp]:
    """Writes for an ``offer_dismiss`` event (apply once per event id: ingest dedupes)."""
    return [ContactOp("hincrby", f"dis:{offer_id}", 1), ContactOp("hset", f"dist:{offer_id}", now)]


def offer_accept_ops(offer_id: str, now: float) -> list[ContactOp]:
    """Writes for an ``offer_accept`` event (a redemption starts the cooldown)."""
    return [ContactOp("hset", f"red:{offer_id}", now)]
