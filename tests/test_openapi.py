"""The OpenAPI document describes what the API takes and answers (GET /schema/openapi.json)."""

from __future__ import annotations

import redis

from tests.helpers import api_client


async def test_the_events_route_documents_its_body_results_and_errors(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url, openapi_bodies=True) as api:
        doc = (await api.get("/schema/openapi.json")).json()
        assert (await api.get("/schema")).status_code == 200
    schemas = doc["components"]["schemas"]
    post = doc["paths"]["/v1/events"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/EventBatch"}
    events = schemas["EventBatch"]["properties"]["events"]["items"]
    # every event type is there, told apart by its `type` (msgspec's tagged union)
    tags = {ref["$ref"].rsplit("/", 1)[1] for ref in events["anyOf"]}
    assert {"ProductView", "Purchase", "Identify", "Consent", "OfferDismiss"} <= tags
    assert events["discriminator"]["propertyName"] == "type"
    purchase = schemas["Purchase"]
    assert {"event_id", "timestamp", "order_id", "lines", "shipping_fee"} <= set(purchase["properties"])
    assert "event_id" in purchase["required"]
    assert set(post["responses"]) == {"202", "400", "413", "415", "422", "503"}
    assert "off-line" not in post["responses"]["202"]["description"]
    assert post["responses"]["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert set(schemas["ErrorBody"]["properties"]) >= {"error", "field", "detail"}

    for path, method in (("/v1/offers", "put"), ("/v1/offers/{offer_id}", "put"),
                         ("/v1/experiments/{experiment_id}", "put")):
        assert doc["paths"][path][method]["requestBody"]["required"] is True, path
    assert "offers" in schemas["OfferCatalogBody"]["properties"] and "variants" in schemas["Experiment"]["properties"]
