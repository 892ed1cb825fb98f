"""Offer catalog admin API: PUT/GET/DELETE /v1/offers, validated like the catalog file."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, delete, get, put
from litestar.params import FromPath

from personalize.api.errors import ApiError
from personalize.offers.catalog import Catalog, CatalogError, parse_offer, replacement_catalog
from personalize.offers.model import ContactDefaults, Offer
from personalize.service.runtime import Runtime
from personalize.store.client import with_deadline


def _problems(exc: CatalogError) -> ApiError:
    first = exc.problems[0] if exc.problems else "invalid offer"
    field = first.split(":", 1)[0] if ":" in first else None
    return ApiError(400, "invalid_offer", "; ".join(exc.problems[:10]), field)


async def _current(runtime: Runtime) -> Catalog:
    _, catalog = await with_deadline(runtime.offer_store.load(), runtime.settings.redis_timeout_ms)
    return catalog


@get("/v1/offers", summary="The offer catalog")
async def list_offers(request: Request[Any, Any, Any]) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    return (await _current(runtime)).to_document()


@get("/v1/offers/{offer_id:str}", summary="One offer")
async def get_offer(request: Request[Any, Any, Any], offer_id: FromPath[str]) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    catalog = await _current(runtime)
    compiled = catalog.get(offer_id)
    if compiled is None:
        raise ApiError(404, "not_found", f"no offer {offer_id[:128]!r}")
    return msgspec.to_builtins(compiled.offer)  # type: ignore[no-any-return]


@put("/v1/offers/{offer_id:str}", summary="Create or replace one offer (rules validated)")
async def put_offer(request: Request[Any, Any, Any], offer_id: FromPath[str]) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    body = await request.body()
    catalog = await _current(runtime)
    try:
        compiled = parse_offer(body, catalog.contact_defaults)
    except CatalogError as exc:
        raise _problems(exc) from exc
    if compiled.id != offer_id:
        raise ApiError(400, "validation_error", f"id in the body ({compiled.id!r}) differs from the path", "id")
    offer = msgspec.to_builtins(compiled.offer)
    await with_deadline(runtime.offer_store.put(offer), runtime.settings.redis_timeout_ms)
    return offer  # type: ignore[no-any-return]


@put(
    "/v1/offers",
    summary="Replace the whole catalog (same document as the catalog file)",
    description=(
        'The body is {"offers": [...], "contact_defaults": {...}, "no_offer_priority": 1.0} or a '
        'non-empty list of offers. {"offers": []} removes every offer (clears the catalog); '
        "a body without 'offers' ({}) or a bare [] is refused with a 400."
    ),
)
async def replace_offers(request: Request[Any, Any, Any]) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    try:
        doc = msgspec.json.decode(await request.body())
        catalog = replacement_catalog(doc)
    except msgspec.DecodeError as exc:
        raise ApiError(400, "bad_request", f"malformed JSON ({exc})", "body") from exc
    except CatalogError as exc:
        raise _problems(exc) from exc
    await with_deadline(runtime.offer_store.replace_all(catalog), runtime.settings.redis_timeout_ms)
    return {"offers": len(catalog), "version": catalog.version}


@delete("/v1/offers/{offer_id:str}", summary="Remove an offer", status_code=204)
async def delete_offer(request: Request[Any, Any, Any], offer_id: FromPath[str]) -> None:
    runtime: Runtime = request.app.state.runtime
    if not await with_deadline(runtime.offer_store.delete(offer_id), runtime.settings.redis_timeout_ms):
        raise ApiError(404, "not_found", f"no offer {offer_id[:128]!r}")


class OfferCatalogBody(msgspec.Struct, kw_only=True):
    """The body of PUT /v1/offers, for the OpenAPI document (the handler validates the rules
    of every offer itself and answers all problems at once)."""

    offers: list[Offer]
    contact_defaults: ContactDefaults | None = None
    no_offer_priority: float | None = None
