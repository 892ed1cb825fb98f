"""The offer as written in a catalog file or sent to the admin API.

``Offer`` is the wire/file shape (msgspec, unknown fields rejected). ``CompiledOffer``
(see ``catalog.py``) adds the parsed rules and the validity window as unix seconds.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

OfferId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
OfferKind = Literal[
    "free_shipping", "percent_discount", "fixed_discount", "bundle", "loyalty_points", "message"
]
OfferChannel = Literal["web", "email", "sms", "app"]
OfferPurpose = Literal["marketing", "service"]
NonNegative = Annotated[float, Meta(ge=0)]
Count = Annotated[int, Meta(ge=0)]
# Unix seconds or an ISO-8601 string ("2026-11-01", "2026-11-01T08:00:00+01:00"); naive = UTC.
Instant = float | str


class Budget(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """Global caps on how many times the offer is granted (shown), across all customers."""

    max_per_day: Count | None = None  # UTC day
    max_total: Count | None = None


class ContactPolicy(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """Per-customer limits; ``None`` means "use the catalog default" (see ``ContactDefaults``)."""

    max_per_day: Count | None = None  # impressions of this offer per customer per UTC day
    max_per_week: Count | None = None  # ... per ISO week
    suppress_after_dismissals: Annotated[int, Meta(ge=1)] | None = None  # M
    suppress_days: NonNegative | None = None  # N
    cooldown_after_redemption_days: NonNegative | None = None


class ContactDefaults(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Catalog-wide contact policy: the global cap and the defaults of every per-offer cap."""

    max_offers_per_day: Count = 3  # all offers together, per customer per UTC day
    max_per_day: Count = 2
    max_per_week: Count = 5
    suppress_after_dismissals: Annotated[int, Meta(ge=1)] = 2
    suppress_days: NonNegative = 7.0
    cooldown_after_redemption_days: NonNegative = 14.0


class Offer(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    id: OfferId
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    kind: OfferKind
    # To the customer: percent for percent_discount, money for fixed_discount/free_shipping
    # (the shipping fee waived), points for loyalty_points, 0 for a message.
    value: NonNegative = 0.0
    cost: NonNegative = 0.0  # expected cost to the store when redeemed
    # Worth of one acceptance to the store (e.g. expected margin of the order it unlocks
    # minus ``cost``); the "value" factor of the priority formula.
    store_value: NonNegative = 1.0
    channels: list[OfferChannel] = msgspec.field(default_factory=lambda: ["web"])
    valid_from: Instant | None = None
    valid_until: Instant | None = None
    budget: Budget = Budget()
    lever: NonNegative = 1.0  # business priority weight
    purpose: OfferPurpose = "marketing"  # marketing offers need marketing consent
    # Score in facts["scores"] (e.g. "p_purchase") or a rule-language expression giving a number.
    propensity_key: str | None = None
    default_propensity: Annotated[float, Meta(ge=0, le=1)] = 0.1  # when the score is missing
    # Multipliers applied when the context matches, keys "<context field>:<value>",
    # e.g. {"page_type:cart": 1.5, "device:mobile": 0.8}.
    context_weights: dict[str, NonNegative] = {}
    eligibility: list[str] = []  # who may get it at all
    applicability: list[str] = []  # does it apply now (not redeemed, item in stock...)
    suitability: list[str] = []  # is it right for this customer (no discount after many returns...)
    contact_policy: ContactPolicy = ContactPolicy()
    expires_in_hours: Annotated[float, Meta(gt=0)] = 24.0  # shown to the storefront as the expiry
