"""Catalog: PUT /v1/items (batch upsert), GET /v1/items/{item_id}."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, put
from litestar.params import FromPath, JSONBody

from personalize.api.errors import ApiError
from personalize.api.ids import validated_id
from personalize.domain.items import ItemBatch
from personalize.service.runtime import Runtime
from personalize.store.client import with_deadline


class UpsertResult(msgspec.Struct, kw_only=True):
    upserted: int
    catalog_size: int


@put(
    "/v1/items",
    summary="Upsert catalog items (at most 1,000 per call)",
    description="Omitted fields keep the stored value (in_stock included); a new item is in stock.",
)
async def put_items(request: Request[Any, Any, Any], data: JSONBody[ItemBatch]) -> UpsertResult:
    runtime: Runtime = request.app.state.runtime
    deadline = runtime.settings.redis_timeout_ms
    # like ingest: the deadline guards against a stuck Redis, and grows with the batch
    n = await with_deadline(runtime.catalog.upsert(data.items), deadline + len(data.items))
    return UpsertResult(upserted=n, catalog_size=await with_deadline(runtime.catalog.count(), deadline))


# A path parameter: item ids may hold "/" (SKUs like "AB/123"), sent as /v1/items/AB/123 or AB%2F123.
@get("/v1/items/{item_id:path}", summary="One catalog item")
async def get_item(request: Request[Any, Any, Any], item_id: FromPath[str]) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    item_id = validated_id(item_id.removeprefix("/"), "item_id")
    item = await with_deadline(runtime.catalog.get(item_id), runtime.settings.redis_timeout_ms)
    if item is None:
        raise ApiError(404, "not_found", f"no item {item_id!r}")
    out: dict[str, Any] = {"id": item_id, **item}
    out["in_stock"] = item.get("in_stock", "1") == "1"
    if "price" in item:
        out["price"] = float(item["price"])
    if "attributes" in item:
        out["attributes"] = msgspec.json.decode(item["attributes"])
    return out
