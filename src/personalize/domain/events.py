"""Storefront events: a msgspec tagged union on ``type``.

Limits on every string and list keep one event small; the ingest service adds
the rules msgspec cannot express (one of user_id/anonymous_id, clock skew).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import msgspec
from msgspec import Meta

# Identifiers: printable, no braces (they would break Redis Cluster hash tags), no spaces.
# No whitespace, braces (Redis Cluster hash tags) or control characters; "/" only inside
# (an item id names the end of a URL, /v1/items/AB/123, where "/x", "x/" or "a//b" cannot be told apart).
Id = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^(?!/)(?!.*//)(?!.*/$)[^\s{}\x00-\x1f\x7f]+$")]
# Ids of customers and sessions also name a URL path segment (GET /v1/profiles/{user_id},
# /v1/sessions/{session_id}): no "/", which a router cannot tell from a path separator.
CustomerId = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[^\s{}/\x00-\x1f\x7f]+$")]
# Trait names: the same rule for lead forms, imports and PATCH /v1/profiles/{id}/traits.
TraitName = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
ShortText = Annotated[str, Meta(max_length=256)]
Url = Annotated[str, Meta(max_length=2048)]
Money = Annotated[float, Meta(ge=0, le=10_000_000)]
Quantity = Annotated[int, Meta(ge=1, le=10_000)]
# Unix seconds; lower bound 2000-01-01, the upper bound (clock skew) is checked at ingest.
Timestamp = Annotated[float, Meta(ge=946_684_800, le=4_102_444_800)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]

PageType = Literal["home", "category", "product", "cart", "checkout", "search", "account", "content", "other"]
Purpose = Literal["personalization", "marketing", "analytics"]
Channel = Literal["web", "email", "sms", "app"]


# omit_defaults: events are stored as JSON in the event stream; unset fields (most of
# them) are left out, ~25 % fewer bytes per event to send, log and keep in Redis.
class Context(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    page_type: PageType | None = None
    url: Url | None = None
    referrer: Url | None = None
    device: Annotated[str, Meta(max_length=32)] | None = None
    country: Annotated[str, Meta(max_length=2, min_length=2)] | None = None
    category: ShortText | None = None
    item_id: Id | None = None


class BaseEvent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="type", omit_defaults=True):
    event_id: Id
    timestamp: Timestamp
    user_id: CustomerId | None = None
    anonymous_id: CustomerId | None = None
    session_id: CustomerId | None = None
    context: Context | None = None


class PageView(BaseEvent, kw_only=True, tag="page_view"):
    pass


class ProductView(BaseEvent, kw_only=True, tag="product_view"):
    item_id: Id
    category: ShortText | None = None
    price: Money | None = None
    dwell_ms: Annotated[int, Meta(ge=0, le=86_400_000)] | None = None


class ImageZoom(BaseEvent, kw_only=True, tag="image_zoom"):
    item_id: Id


class VideoPlay(BaseEvent, kw_only=True, tag="video_play"):
    item_id: Id
    seconds_watched: Annotated[float, Meta(ge=0, le=86_400)] | None = None


class Search(BaseEvent, kw_only=True, tag="search"):
    query: ShortText
    results: Annotated[int, Meta(ge=0)] | None = None


class AddToCart(BaseEvent, kw_only=True, tag="add_to_cart"):
    item_id: Id
    quantity: Quantity = 1
    price: Money
    category: ShortText | None = None


class RemoveFromCart(BaseEvent, kw_only=True, tag="remove_from_cart"):
    item_id: Id
    quantity: Quantity = 1


class CheckoutStarted(BaseEvent, kw_only=True, tag="checkout_started"):
    cart_value: Money | None = None
    shipping_fee: Money | None = None


class OrderLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    item_id: Id
    price: Money
    quantity: Quantity = 1
    category: ShortText | None = None


class Purchase(BaseEvent, kw_only=True, tag="purchase"):
    order_id: Id
    lines: Annotated[list[OrderLine], Meta(min_length=1, max_length=200)]
    shipping_fee: Money = 0.0
    total: Money
    currency: Currency = "EUR"
    decision_id: Id | None = None
    offer_id: Id | None = None


class Return(BaseEvent, kw_only=True, tag="return"):
    order_id: Id
    item_id: Id | None = None
    amount: Money
    reason: ShortText | None = None


class EmailOpen(BaseEvent, kw_only=True, tag="email_open"):
    campaign_id: Id | None = None


class EmailClick(BaseEvent, kw_only=True, tag="email_click"):
    campaign_id: Id | None = None
    url: Url | None = None


class OfferImpression(BaseEvent, kw_only=True, tag="offer_impression"):
    decision_id: Id
    offer_id: Id


class OfferAccept(BaseEvent, kw_only=True, tag="offer_accept"):
    decision_id: Id
    offer_id: Id


class OfferDismiss(BaseEvent, kw_only=True, tag="offer_dismiss"):
    decision_id: Id
    offer_id: Id


class RecommendationClick(BaseEvent, kw_only=True, tag="recommendation_click"):
    decision_id: Id
    item_id: Id


class LeadForm(BaseEvent, kw_only=True, tag="lead_form"):
    form_id: Id | None = None
    traits: Annotated[dict[TraitName, ShortText | int | float | bool], Meta(max_length=50)] = {}


class Identify(BaseEvent, kw_only=True, tag="identify"):
    user_id: CustomerId
    anonymous_id: CustomerId


class Consent(BaseEvent, kw_only=True, tag="consent"):
    granted: list[Purpose] = []
    withdrawn: list[Purpose] = []


Event = (
    PageView | ProductView | ImageZoom | VideoPlay | Search | AddToCart | RemoveFromCart
    | CheckoutStarted | Purchase | Return | EmailOpen | EmailClick | OfferImpression
    | OfferAccept | OfferDismiss | RecommendationClick | LeadForm | Identify | Consent
)

EVENT_TYPES: tuple[str, ...] = tuple(
    cls.__struct_config__.tag for cls in get_args(Event)
)

# Events that carry one item the visitor interacted with, and how strongly
# (used by session state, history and popularity).
ITEM_EVENT_WEIGHTS: dict[str, float] = {
    "product_view": 1.0,
    "image_zoom": 1.5,
    "video_play": 1.5,
    "add_to_cart": 4.0,
    "purchase": 8.0,
}
