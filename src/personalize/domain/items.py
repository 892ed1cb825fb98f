"""Catalog items as the storefront sends them (PUT /v1/items, import-items)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from personalize.domain.events import Id, Money, ShortText

AttrKey = Annotated[str, Meta(min_length=1, max_length=64)]
AttrValue = Annotated[str, Meta(max_length=512)] | float | bool


class Item(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One item of an upsert: omitted (or null) fields keep what is stored for the item."""

    id: Id
    title: Annotated[str, Meta(max_length=512)] | None = None
    category: ShortText | None = None
    price: Money | None = None
    # None keeps the stored stock flag (a partial update must not restock an item);
    # an item seen for the first time is in stock.
    in_stock: bool | None = None
    attributes: Annotated[dict[AttrKey, AttrValue], Meta(max_length=100)] = {}


class ItemBatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    items: Annotated[list[Item], Meta(min_length=1, max_length=1000)]
