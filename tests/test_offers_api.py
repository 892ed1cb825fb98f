"""Next-best offer through POST /v1/decide: the free-shipping scenario, caps, consent, holdout."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis

from tests.helpers import NOW, api_client, event, stream_entries

CATALOG: dict[str, Any] = {
    "no_offer_priority": 1.0,
    "contact_defaults": {
        "max_offers_per_day": 5,
        "max_per_day": 2,
        "max_per_week": 5,
        "suppress_after_dismissals": 2,
        "suppress_days": 7,
        "cooldown_after_redemption_days": 14,
    },
    "offers": [
        {
            "id": "free-shipping",
            "name": "free shipping",
            "kind": "free_shipping",
            "value": 4.95,
            "cost": 4.95,
            "store_value": 6.0,
            "channels": ["web"],
            "purpose": "marketing",
            "propensity_key": "p_purchase",
            "eligibility": ["cart.value >= 30", "profile.shipping_paid_ratio > 0.8"],
            "suitability": ["scores.p_purchase < 0.97"],
        },
        {
            "id": "winback-10",
            "name": "10% win-back",
            "kind": "percent_discount",
            "value": 10,
            "cost": 3,
            "store_value": 20.0,
            "channels": ["web", "email"],
            "purpose": "marketing",
            "propensity_key": "churn_risk",
            "eligibility": ["'dormant' in profile.segments or 'at_risk' in profile.segments"],
        },
    ],
}


def always_paid_shipping_buyer(user: str) -> list[dict[str, Any]]:
    evs = [
        event(
            "consent",
            user_id=user,
            granted=["personalization", "marketing"],
            timestamp=NOW - 40 * 86_400,
        )
    ]
    for n in range(5):
        evs.append(
            event(
                "purchase",
                user_id=user,
                order_id=f"{user}-o{n}",
                total=35.0 + n,
                shipping_fee=4.95,
                lines=[{"item_id": f"old{n}", "price": 30.0 + n}],
                timestamp=NOW - (30 - n) * 86_400,
            )
        )
    evs.append(
        event("product_view", user_id=user, session_id="now", item_id="jacket", dwell_ms=40_000)
    )
    evs.append(event("add_to_cart", user_id=user, session_id="now", item_id="jacket", price=42.0))
    return evs


async def setup(api: Any, redis_sync: redis.Redis, user: str, p_purchase: float = 0.8) -> None:
    r = await api.put("/v1/offers", json=CATALOG)
    assert r.status_code == 200, r.text
    r = await api.post("/v1/events", json={"events": always_paid_shipping_buyer(user)})
    assert r.json()["rejected"] == 0, r.text
    # a batch propensity, as `personalize train-propensity` writes them
    redis_sync.hset(f"pz:{{c:u:{user}}}:ps", mapping={"p_purchase": p_purchase, "version": "test"})
    await asyncio.sleep(0.15)  # workers pick the new catalog up


async def test_free_shipping_for_a_likely_converter_who_always_pays_shipping(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    async with api_client(
        redis_url, model_poll_s=0.05, holdout_share=0.0, exploration_rate=0.0
    ) as api:
        await setup(api, redis_sync, "sam")
        r = await api.post(
            "/v1/decide", json={"user_id": "sam", "session_id": "now", "page": {"type": "cart"}}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        offer = body["offer"]
        assert offer is not None, body["offer_explanation"]
        assert (offer["offer_id"], offer["kind"], offer["value"]) == (
            "free-shipping",
            "free_shipping",
            4.95,
        )
        assert offer["probability"] == 1.0 and offer["explored"] is False
        explanation = offer["explanation"]
        assert "cart.value >= 30" in explanation and "shipping_paid_ratio" in explanation, (
            explanation
        )
        assert "0.8" in explanation  # the propensity that drove it
        # logged with its probability, candidates and rule results
        record = json.loads(stream_entries(redis_sync, "pz:stream:decisions")[-1][1][b"d"])
        assert record["offer_id"] == "free-shipping" and record["probability"] == 1.0
        by_id = {c.get("offer_id"): c for c in record["candidates"]}
        assert by_id["free-shipping"]["eligible"] is True
        assert by_id["winback-10"]["eligible"] is False and by_id["winback-10"]["failed"]
        assert None in by_id  # "no offer" is always a candidate


async def test_no_offer_for_a_customer_who_buys_anyway_or_without_consent(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    async with api_client(
        redis_url, model_poll_s=0.05, holdout_share=0.0, exploration_rate=0.0
    ) as api:
        await setup(api, redis_sync, "certain", p_purchase=0.99)
        body = (
            await api.post("/v1/decide", json={"user_id": "certain", "session_id": "now"})
        ).json()
        assert body["offer"] is None
        await setup(api, redis_sync, "private")
        await api.post(
            "/v1/events",
            json={"events": [event("consent", user_id="private", withdrawn=["marketing"])]},
        )
        body = (
            await api.post("/v1/decide", json={"user_id": "private", "session_id": "now"})
        ).json()
        assert body["offer"] is None
        record = json.loads(stream_entries(redis_sync, "pz:stream:decisions")[-1][1][b"d"])
        fs = next(c for c in record["candidates"] if c.get("offer_id") == "free-shipping")
        assert "consent:marketing" in fs["failed"]


async def test_holdout_customers_never_get_offers(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(
        redis_url, model_poll_s=0.05, holdout_share=1.0, exploration_rate=0.0
    ) as api:
        await setup(api, redis_sync, "held")
        body = (await api.post("/v1/decide", json={"user_id": "held", "session_id": "now"})).json()
        assert body["offer"] is None and body["holdout"] is True
        record = json.loads(stream_entries(redis_sync, "pz:stream:decisions")[-1][1][b"d"])
        assert record["holdout"] is True


async def test_contact_caps_hold_under_parallel_decisions(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    async with api_client(
        redis_url, model_poll_s=0.05, holdout_share=0.0, exploration_rate=0.0
    ) as api:
        await setup(api, redis_sync, "busy")
        bodies = await asyncio.gather(
            *(
                api.post("/v1/decide", json={"user_id": "busy", "session_id": "now"})
                for _ in range(25)
            )
        )
        offers = [b.json()["offer"] for b in bodies]
        assert all(b.status_code == 200 for b in bodies)
        granted = [o for o in offers if o is not None]
        assert (
            len(granted) == 2
        )  # max_per_day of the offer, exactly, despite 25 parallel page views
        logged = [json.loads(e[1][b"d"]) for e in stream_entries(redis_sync, "pz:stream:decisions")]
        assert len(logged) == 25
        assert (
            sum(1 for r in logged if r.get("offer_id") == "free-shipping") == 2
        )  # log agrees with what was shown


async def test_dismissals_suppress_the_offer(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(
        redis_url, model_poll_s=0.05, holdout_share=0.0, exploration_rate=0.0
    ) as api:
        await setup(api, redis_sync, "annoyed")
        d = (await api.post("/v1/decide", json={"user_id": "annoyed", "session_id": "now"})).json()
        assert d["offer"]["offer_id"] == "free-shipping"
        dismissals = [
            event(
                "offer_dismiss",
                user_id="annoyed",
                decision_id=d["decision_id"],
                offer_id="free-shipping",
            )
            for _ in range(2)
        ]
        await api.post("/v1/events", json={"events": dismissals})
        d2 = (await api.post("/v1/decide", json={"user_id": "annoyed", "session_id": "now"})).json()
        assert d2["offer"] is None


async def test_invalid_offers_are_rejected_with_a_clear_message(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    async with api_client(redis_url) as api:
        bad = {**CATALOG["offers"][0], "eligibility": ["cart.value >= "]}
        r = await api.put("/v1/offers/free-shipping", json=bad)
        assert r.status_code == 400 and "free-shipping" in r.json()["detail"]
        r = await api.put(
            "/v1/offers/free-shipping", json={**CATALOG["offers"][0], "kind": "lottery"}
        )
        assert r.status_code == 400 and "kind" in r.json()["detail"]
        r = await api.put("/v1/offers/free-shipping", json=CATALOG["offers"][0])
        assert r.status_code == 200
        assert (await api.get("/v1/offers/free-shipping")).json()["id"] == "free-shipping"
        assert (await api.delete("/v1/offers/free-shipping")).status_code == 204
        assert (await api.get("/v1/offers/free-shipping")).status_code == 404


async def test_replacing_the_catalog_with_nothing_takes_the_explicit_form(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    """{} or [] is a typo, not a request to stop every offer; {"offers": []} clears the catalog."""
    async with api_client(redis_url) as api:
        assert (await api.put("/v1/offers", json=CATALOG)).status_code == 200
        typos: list[Any] = [
            {},
            [],
            {"offers": None},
            {"contact_defaults": CATALOG["contact_defaults"]},
        ]
        for body in typos:
            r = await api.put("/v1/offers", json=body)
            assert r.status_code == 400, (body, r.text)
            assert "offers" in r.json()["detail"], r.text
            assert len((await api.get("/v1/offers")).json()["offers"]) == 2, body
        r = await api.put("/v1/offers", json={"offers": []})
        assert r.status_code == 200 and r.json()["offers"] == 0, r.text
        assert (await api.get("/v1/offers")).json()["offers"] == []


async def test_the_offer_expires_expires_in_hours_after_the_decision(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    async with api_client(
        redis_url, model_poll_s=0.05, holdout_share=0.0, exploration_rate=0.0
    ) as api:
        await setup(api, redis_sync, "soon")
        free = {**CATALOG["offers"][0], "expires_in_hours": 2}
        assert (await api.put("/v1/offers/free-shipping", json=free)).status_code == 200
        await asyncio.sleep(0.15)  # workers pick the new catalog up
        body = (await api.post("/v1/decide", json={"user_id": "soon", "session_id": "now"})).json()
        assert body["offer"] is not None, body["offer_explanation"]
        assert body["offer"]["expires_at"] == NOW + 2 * 3600


async def only_offer_with_rules(api: Any, redis_sync: redis.Redis, user: str, offer_id: str, rules: list[str]) -> None:
    """The shipping buyer ``user`` set up, and a catalog of one offer eligible by ``rules``."""
    await setup(api, redis_sync, user)
    offer = {**CATALOG["offers"][0], "id": offer_id, "suitability": [], "eligibility": rules}
    assert (await api.put("/v1/offers", json={**CATALOG, "offers": [offer]})).status_code == 200


async def offer_on(api: Any, user: str, page: dict[str, Any]) -> str | None:
    r = await api.post("/v1/decide", json={"user_id": user, "session_id": "now", "page": page})
    return (r.json()["offer"] or {}).get("offer_id")


async def test_rules_on_the_price_of_the_item_in_view(redis_url: str, redis_sync: redis.Redis) -> None:
    """`item.price` is a documented rule fact: the catalog's price of the item in view."""
    async with api_client(redis_url, model_poll_s=0.05, holdout_share=0.0, exploration_rate=0.0) as api:
        await only_offer_with_rules(api, redis_sync, "pia", "pricey-item",
                                    ["context.page_type == 'product'", "item.price >= 20"])
        await api.put("/v1/items", json={"items": [{"id": "coat", "price": 130.0}, {"id": "socks", "price": 5.0}]})
        await asyncio.sleep(0.15)  # workers pick the catalogs up
        offers = {item: await offer_on(api, "pia", {"type": "product", "item_id": item}) for item in ("coat", "socks")}
        assert offers == {"coat": "pricey-item", "socks": None}, offers


async def test_rules_on_the_device_and_country_the_storefront_sends(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url, model_poll_s=0.05, holdout_share=0.0, exploration_rate=0.0) as api:
        await only_offer_with_rules(api, redis_sync, "dev", "mobile-fr",
                                    ["context.device == 'mobile'", "context.country == 'FR'"])
        await asyncio.sleep(0.15)
        got = {(device, country): await offer_on(api, "dev", {"type": "cart", "device": device, "country": country})
               for device, country in (("mobile", "FR"), ("desktop", "FR"), ("mobile", "DE"))}
        assert got == {("mobile", "FR"): "mobile-fr", ("desktop", "FR"): None, ("mobile", "DE"): None}, got
