"""POST /v1/events through the HTTP API against a real Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis

from personalize.clock import ManualClock
from personalize.store.event_log import decode_entry
from tests.helpers import NOW, api_client, event, store_fingerprint, stream_entries


def pv(visitor: str, item: str, session: str = "s1", **kw: object) -> dict[str, object]:
    return event("product_view", anonymous_id=visitor, session_id=session, item_id=item, **kw)


async def test_duplicates_are_not_applied_twice(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        e = pv("v1", "i1", dwell_ms=4000)
        r = await api.post("/v1/events", json={"events": [e]})
        assert r.status_code == 202 and r.json()["results"][0]["status"] == "accepted"
        # same id again: across batches and twice inside one batch
        r = await api.post("/v1/events", json={"events": [e, e]})
        assert [x["status"] for x in r.json()["results"]] == ["duplicate", "duplicate"]
        # same id, different content: rejected, not applied
        r = await api.post("/v1/events", json={"events": [{**e, "item_id": "i2"}]})
        assert r.status_code == 422
        assert r.json()["results"][0] == {
            "index": 0, "status": "rejected", "event_id": e["event_id"], "field": "event_id",
            "reason": "already used by a different event within the dedup window",
        }
        profile = (await api.get("/v1/profiles/v1", params={"anonymous": True})).json()
        assert profile["product_views"] == 1
        assert profile["dwell_ms"] == 4000
        assert redis_sync.xlen("pz:stream:events") == 1


async def test_dedup_window_is_at_least_the_dedup_ttl(redis_url: str, redis_sync: redis.Redis) -> None:
    clock = ManualClock(NOW)
    async with api_client(redis_url, clock=clock, dedup_ttl_s=4 * 3600) as api:  # windows of 1 h
        e = pv("v-dd", "i1")
        assert (await api.post("/v1/events", json={"events": [e]})).json()["accepted"] == 1
        clock.advance(4 * 3600 - 1)  # just inside the dedup TTL, four windows later
        assert (await api.post("/v1/events", json={"events": [e]})).json()["duplicates"] == 1
        clock.advance(3600 + 2)  # past 1.25x the TTL: forgotten, applied again
        assert (await api.post("/v1/events", json={"events": [e]})).json()["accepted"] == 1
        profile = (await api.get("/v1/profiles/v-dd", params={"anonymous": True})).json()
        assert profile["product_views"] == 2
    # one hash per window, each with a TTL (no key per event)
    buckets = list(redis_sync.scan_iter("pz:dd:*"))
    assert buckets and all(0 < redis_sync.ttl(b) <= 5 * 3600 + 60 for b in buckets)


async def test_purchase_counted_once_per_order_even_with_new_event_id(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        order = event("purchase", user_id="u1", session_id="s1", order_id="o-1", total=30.0, shipping_fee=0.0,
                      lines=[{"item_id": "i1", "price": 30.0, "quantity": 1}])
        retry = {**order, "event_id": "another-id"}
        r = await api.post("/v1/events", json={"events": [order, retry]})
        assert [x["status"] for x in r.json()["results"]] == ["accepted", "accepted"]
        p = (await api.get("/v1/profiles/u1")).json()
        assert (p["orders"], p["revenue"]) == (1, 30.0)


async def test_realistic_sequence_builds_the_customer_view(redis_url: str, redis_sync: redis.Redis) -> None:
    """Views, zoom, cart, checkout, purchase with shipping paid -> stage action, shipping ratio 1."""
    async with api_client(redis_url) as api:
        ids = {"anonymous_id": "v9", "session_id": "s9"}
        seq = [
            event("page_view", **ids, context={"page_type": "home", "referrer": "https://search.example/q"}),
            event("product_view", **ids, item_id="shoe-1", category="shoes", price=60.0, dwell_ms=45_000),
            event("image_zoom", **ids, item_id="shoe-1"),
            event("product_view", **ids, item_id="shoe-2", category="shoes", price=80.0, dwell_ms=5_000),
            event("add_to_cart", **ids, item_id="shoe-1", price=60.0, quantity=1),
            event("add_to_cart", **ids, item_id="sock-1", price=5.0, quantity=2),
            event("identify", user_id="alice", anonymous_id="v9", session_id="s9"),
            event("consent", user_id="alice", session_id="s9", granted=["personalization", "marketing"]),
            event("checkout_started", user_id="alice", session_id="s9", cart_value=70.0, shipping_fee=4.9),
            event("purchase", user_id="alice", session_id="s9", order_id="A-1", total=74.9, shipping_fee=4.9,
                  lines=[{"item_id": "shoe-1", "price": 60.0, "quantity": 1}]),
        ]
        r = await api.post("/v1/events", json={"events": seq})
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == len(seq)
        p = (await api.get("/v1/profiles/alice")).json()
        assert p["stage"] == "action"
        assert (p["orders"], p["revenue"], p["orders_shipping_paid"], p["shipping_paid_ratio"]) == (1, 74.9, 1, 1.0)
        assert p["product_views"] == 2 and p["dwell_ms"] == 50_000 and p["cart_adds"] == 2
        assert p["consent"] == {"personalization": True, "marketing": True, "analytics": None}
        assert "new" in p["segments"] and "active" in p["segments"]
        assert p["rfm"]["code"] == "512"  # recent, one order, 74.90 revenue
        # the purchased shoe left the cart, the socks stay
        assert p["cart"]["lines"] == [{"item_id": "sock-1", "quantity": 2, "price": 5.0}]
        assert p["sessions"] == 1 and p["merged_visitors"] == 1
        s = (await api.get("/v1/sessions/s9", params={"user_id": "alice"})).json()
        assert s["landing_referrer"] == "https://search.example/q"
        assert s["counts_by_type"]["product_view"] == 2
        assert s["recent_items"][0]["item_id"] == "shoe-1" and s["recent_items"][0]["event_type"] == "purchase"


async def test_identity_merge_happens_once(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        views = [pv("anon-7", f"i{n}", session="s7") for n in range(3)]
        cart = event("add_to_cart", anonymous_id="anon-7", session_id="s7", item_id="i1", price=10.0)
        await api.post("/v1/events", json={"events": [*views, cart]})
        ident = event("identify", user_id="bob", anonymous_id="anon-7", session_id="s7")
        again = event("identify", user_id="bob", anonymous_id="anon-7", session_id="s7")  # new event id
        r = await api.post("/v1/events", json={"events": [ident]})
        assert r.json()["accepted"] == 1
        r = await api.post("/v1/events", json={"events": [again, ident]})
        assert [x["status"] for x in r.json()["results"]] == ["accepted", "duplicate"]
        p = (await api.get("/v1/profiles/bob")).json()
        assert p["product_views"] == 3 and p["cart_adds"] == 1 and p["merged_visitors"] == 1
        assert p["cart"]["lines"] == [{"item_id": "i1", "quantity": 1, "price": 10.0}]
        # later anonymous-only events of the merged visitor land on the user
        await api.post("/v1/events", json={"events": [pv("anon-7", "i9", session="s7")]})
        p = (await api.get("/v1/profiles/bob")).json()
        assert p["product_views"] == 4
        s = (await api.get("/v1/sessions/s7", params={"user_id": "bob"})).json()
        assert [i["item_id"] for i in s["recent_items"]][:1] == ["i9"]
        # asked by the visitor's id, the answers follow the login to the user (as decide does)
        by_visitor = (await api.get("/v1/profiles/anon-7", params={"anonymous": True})).json()
        assert by_visitor["customer_id"] == "u:bob" and by_visitor["product_views"] == 4
        assert (await api.get("/v1/sessions/s7", params={"anonymous_id": "anon-7"})).json() == s
        assert {i["item_id"] for i in s["recent_items"]} == {"i0", "i1", "i2", "i9"}
        # a second user claiming the same visitor does not get a second copy
        other = event("identify", user_id="carol", anonymous_id="anon-7", session_id="s7")
        await api.post("/v1/events", json={"events": [other]})
        assert (await api.get("/v1/profiles/carol")).json()["product_views"] == 0


async def test_a_retry_after_login_is_still_a_duplicate(redis_url: str, redis_sync: redis.Redis) -> None:
    """The storefront timed out, the visitor logged in, the storefront resends: once only."""
    async with api_client(redis_url) as api:
        cart = event("add_to_cart", anonymous_id="v-retry", session_id="s-retry", item_id="i1", price=3.0)
        assert (await api.post("/v1/events", json={"events": [cart]})).json()["accepted"] == 1
        login = event("identify", anonymous_id="v-retry", user_id="u-retry", session_id="s-retry")
        assert (await api.post("/v1/events", json={"events": [login]})).json()["accepted"] == 1
        r = await api.post("/v1/events", json={"events": [cart]})  # redirected to the user now
        assert [x["status"] for x in r.json()["results"]] == ["duplicate"]
        # and inside the batch that logs in
        cart2 = event("add_to_cart", anonymous_id="v-retry2", session_id="s-r2", item_id="i2", price=3.0)
        await api.post("/v1/events", json={"events": [cart2]})
        login2 = event("identify", anonymous_id="v-retry2", user_id="u-retry2", session_id="s-r2")
        r = await api.post("/v1/events", json={"events": [login2, cart2]})
        assert [x["status"] for x in r.json()["results"]] == ["accepted", "duplicate"]
        for user, item in (("u-retry", "i1"), ("u-retry2", "i2")):
            p = (await api.get(f"/v1/profiles/{user}")).json()
            assert p["cart_adds"] == 1 and p["cart"]["lines"] == [{"item_id": item, "quantity": 1, "price": 3.0}]


async def test_orders_and_returns_before_login_are_not_counted_again_after_it(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    async with api_client(redis_url) as api:
        def order() -> dict[str, object]:  # a new event id each time: the storefront resends the order
            return event("purchase", anonymous_id="v-ord", session_id="s", order_id="O-1", total=100.0,
                         shipping_fee=0.0, lines=[{"item_id": "i1", "price": 100.0, "quantity": 1}])

        def give_back() -> dict[str, object]:
            return event("return", anonymous_id="v-ord", order_id="O-1", item_id="i1", amount=100.0)

        await api.post("/v1/events", json={"events": [order(), give_back()]})
        await api.post("/v1/events", json={"events": [event("identify", anonymous_id="v-ord", user_id="u-ord")]})
        await api.post("/v1/events", json={"events": [order(), give_back()]})
        r = await api.post("/v1/events", json={"events": [{**order(), "user_id": "u-ord"}]})
        assert r.json()["accepted"] == 1  # a new event, but the same order: not counted
        p = (await api.get("/v1/profiles/u-ord")).json()
        assert (p["orders"], p["revenue"], p["returns"]) == (1, 100.0, 1), p
        # a retry after login with the user_id added is the visitor's event: not applied again
        cart = event("add_to_cart", anonymous_id="v-ord", session_id="s", item_id="i7", price=1.0)
        await api.post("/v1/events", json={"events": [cart]})
        r = await api.post("/v1/events", json={"events": [{**cart, "user_id": "u-ord"}]})
        assert r.json()["accepted"] == 0, r.text
        p = (await api.get("/v1/profiles/u-ord")).json()
        assert [line["quantity"] for line in p["cart"]["lines"] if line["item_id"] == "i7"] == [1]


async def test_two_logins_of_one_visitor_in_a_batch_follow_the_first(redis_url: str, redis_sync: redis.Redis) -> None:
    """Redis keeps a visitor's first link; the batch's own events must go where later ones go."""
    async with api_client(redis_url) as api:
        batch = [
            pv("v-two", "i1", session="s-two"),
            event("identify", anonymous_id="v-two", user_id="first", session_id="s-two"),
            event("identify", anonymous_id="v-two", user_id="second", session_id="s-two"),
            pv("v-two", "i2", session="s-two"),
        ]
        assert (await api.post("/v1/events", json={"events": batch})).json()["accepted"] == 4
        await api.post("/v1/events", json={"events": [pv("v-two", "i3", session="s-two")]})
        assert (await api.get("/v1/profiles/first")).json()["product_views"] == 3
        assert (await api.get("/v1/profiles/second")).json()["product_views"] == 0
        # a visitor already linked re-identifies as someone else with a cart add: the add stays
        # with the first user, where the visitor's next batches go too
        batch = [event("identify", anonymous_id="v-two", user_id="third", session_id="s-two"),
                 event("add_to_cart", anonymous_id="v-two", session_id="s-two", item_id="i4", price=2.0)]
        assert (await api.post("/v1/events", json={"events": batch})).json()["accepted"] == 2
        later = event("add_to_cart", anonymous_id="v-two", session_id="s-two", item_id="i5", price=2.0)
        await api.post("/v1/events", json={"events": [later]})
        first = (await api.get("/v1/profiles/first")).json()
        assert {line["item_id"] for line in first["cart"]["lines"]} == {"i4", "i5"}
        assert (await api.get("/v1/profiles/third")).json()["cart_adds"] == 0


async def test_a_non_object_in_the_array_is_rejected_alone(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        good = pv("v-mixed", "i1")
        r = await api.post("/v1/events", json={"events": [good, "oops", 1, None]})
        assert r.status_code == 202, r.text
        body = r.json()
        assert (body["accepted"], body["rejected"]) == (1, 3)
        assert {x["field"] for x in body["results"] if x["status"] == "rejected"} == {"(event)"}
        r = await api.post("/v1/events", json={"events": ["oops"]})
        assert r.status_code == 422


async def test_lead_form_trait_names_follow_the_traits_route_rule(redis_url: str, redis_sync: redis.Redis) -> None:
    """A trait the PATCH route could never remove is not stored in the first place."""
    async with api_client(redis_url) as api:
        bad = event("lead_form", user_id="lf1", traits={"bad key!": "x"})
        r = await api.post("/v1/events", json={"events": [bad]})
        assert r.status_code == 422 and r.json()["results"][0]["field"].startswith("traits"), r.text
        good = event("lead_form", user_id="lf1", traits={"shoe_size": 39, "newsletter.topic": "running"})
        assert (await api.post("/v1/events", json={"events": [good]})).json()["accepted"] == 1
        r = await api.patch("/v1/profiles/lf1/traits", json={"remove": ["newsletter.topic"]})
        assert r.status_code == 200 and r.json()["traits"] == {"shoe_size": "39"}


async def test_a_compressed_body_is_refused_by_name(redis_url: str, redis_sync: redis.Redis) -> None:
    import gzip
    import json

    async with api_client(redis_url) as api:
        body = gzip.compress(json.dumps({"events": [pv("v-gz", "i1")]}).encode())
        r = await api.post("/v1/events", content=body,
                           headers={"content-type": "application/json", "content-encoding": "gzip"})
        assert r.status_code == 415 and r.json()["field"] == "content-encoding", r.text


@pytest.mark.parametrize("path", ["/v1/events", "/v1/decide", "/v1/items"])
async def test_deeply_nested_json_is_a_400(redis_url: str, redis_sync: redis.Redis, path: str) -> None:
    async with api_client(redis_url) as api:
        before = store_fingerprint(redis_sync)
        body = '{"x":' + "[" * 1500 + "]" * 1500 + "}"
        method = api.put if path == "/v1/items" else api.post
        r = await method(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json()["field"] == "body" and "nested" in r.json()["detail"]
        assert store_fingerprint(redis_sync) == before


async def test_anonymous_visitors_expire_and_identified_customers_do_not(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    clock = ManualClock(NOW)
    day = 86_400
    async with api_client(redis_url, clock=clock, anonymous_ttl_s=90 * day) as api:
        buy = event("purchase", anonymous_id="v-ttl", session_id="s", order_id="o-ttl", total=5.0, shipping_fee=0.0,
                    lines=[{"item_id": "i1", "price": 5.0, "quantity": 1}])
        await api.post("/v1/events", json={"events": [pv("v-ttl", "i1"), buy]})
        await api.post("/v1/events", json={"events": [event("product_view", user_id="known", item_id="i1")]})
        await api.post("/v1/decide", json={"anonymous_id": "v-ttl", "session_id": "s", "count": 2})
        for key in ("p", "b", "o", "ld"):
            assert 89 * day < redis_sync.ttl(f"pz:{{c:a:v-ttl}}:{key}") <= 90 * day, key
        assert redis_sync.ttl("pz:{c:u:known}:p") == -1  # identified: kept
        # pushed forward once a day of activity, not on every event
        first = redis_sync.hget("pz:{c:a:v-ttl}:p", "xttl")
        clock.advance(3600)
        await api.post("/v1/events", json={"events": [pv("v-ttl", "i2")]})
        assert redis_sync.hget("pz:{c:a:v-ttl}:p", "xttl") == first
        clock.advance(day)
        await api.post("/v1/events", json={"events": [pv("v-ttl", "i3")]})
        assert redis_sync.hget("pz:{c:a:v-ttl}:p", "xttl") != first
        # a login: the alias expires like the visitor's state, the user's profile does not
        await api.post("/v1/events", json={"events": [event("identify", anonymous_id="v-ttl", user_id="ann-ttl")]})
        assert 89 * day < redis_sync.ttl("pz:{c:a:v-ttl}:alias") <= 90 * day
        assert redis_sync.ttl("pz:{c:u:ann-ttl}:p") == -1
        assert redis_sync.hget("pz:{c:u:ann-ttl}:p", "xttl") is None  # the visitor's bookkeeping is not merged


async def test_an_expired_visitor_is_gone_and_zero_keeps_visitors(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url, anonymous_ttl_s=1) as api:
        await api.post("/v1/events", json={"events": [pv("v-gone", "i1")]})
        assert (await api.get("/v1/profiles/v-gone", params={"anonymous": True})).json()["product_views"] == 1
        await asyncio.sleep(1.3)  # Redis's own clock: the TTL is real
        r = await api.get("/v1/profiles/v-gone", params={"anonymous": True})
        assert r.status_code == 404 or r.json()["product_views"] == 0, r.text
    async with api_client(redis_url, anonymous_ttl_s=0) as api:
        await api.post("/v1/events", json={"events": [pv("v-kept", "i1")]})
        assert redis_sync.ttl("pz:{c:a:v-kept}:p") == -1


async def test_session_ttl_expires(redis_url: str, redis_sync: redis.Redis) -> None:
    clock = ManualClock(NOW)
    async with api_client(redis_url, clock=clock, session_ttl_s=100) as api:
        await api.post("/v1/events", json={"events": [pv("v2", "i1", session="short")]})
        r = await api.get("/v1/sessions/short", params={"anonymous_id": "v2"})
        assert r.status_code == 200 and r.json()["expires_in_s"] == 100
        # the key's own TTL bounds memory: session TTL plus a slack of at most 300 s
        assert 100 < redis_sync.ttl("pz:{c:a:v2}:s:short") <= 100 + 16
        clock.advance(101)
        r = await api.get("/v1/sessions/short", params={"anonymous_id": "v2"})
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        # the long-lived profile stays
        assert (await api.get("/v1/profiles/v2", params={"anonymous": True})).json()["product_views"] == 1
        # the same session id after the end starts a new session: counts begin again
        await api.post("/v1/events", json={"events": [pv("v2", "i2", session="short")]})
        s = (await api.get("/v1/sessions/short", params={"anonymous_id": "v2"})).json()
        assert s["counts_by_type"] == {"product_view": 1} and [i["item_id"] for i in s["recent_items"]] == ["i2"]
        assert (await api.get("/v1/profiles/v2", params={"anonymous": True})).json()["sessions"] == 2


async def test_sliding_ttl_is_refreshed_by_activity(redis_url: str, redis_sync: redis.Redis) -> None:
    clock = ManualClock(NOW)
    async with api_client(redis_url, clock=clock, session_ttl_s=100) as api:
        await api.post("/v1/events", json={"events": [pv("v3", "i1", session="slide")]})
        clock.advance(80)
        await api.post("/v1/events", json={"events": [pv("v3", "i2", session="slide")]})
        clock.advance(80)  # 160 s after the first event, 80 s after the last
        s = (await api.get("/v1/sessions/slide", params={"anonymous_id": "v3"})).json()
        assert s["expires_in_s"] == 20 and [i["item_id"] for i in s["recent_items"]] == ["i2", "i1"]
        clock.advance(21)
        assert (await api.get("/v1/sessions/slide", params={"anonymous_id": "v3"})).status_code == 404


async def test_session_keys_ttl_is_refreshed_lazily(redis_url: str, redis_sync: redis.Redis) -> None:
    clock = ManualClock(NOW)
    key = "pz:{c:a:v4}:s:lazy"
    async with api_client(redis_url, clock=clock, session_ttl_s=100) as api:  # slack: 16 s
        await api.post("/v1/events", json={"events": [pv("v4", "i1", session="lazy")]})
        redis_sync.expire(key, 50)
        clock.advance(10)  # within the slack: no EXPIRE for this event
        await api.post("/v1/events", json={"events": [pv("v4", "i2", session="lazy")]})
        assert redis_sync.ttl(key) <= 50
        clock.advance(10)  # 20 s since the TTL was set: refreshed
        await api.post("/v1/events", json={"events": [pv("v4", "i3", session="lazy")]})
        assert redis_sync.ttl(key) > 100


async def test_parallel_batches_for_one_customer_give_exact_counts(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        async def send(b: int) -> None:
            evs = [pv("busy", f"i{n % 7}", session=f"s{b % 3}", dwell_ms=100) for n in range(50)]
            evs.append(event("add_to_cart", anonymous_id="busy", session_id=f"s{b % 3}", item_id="x", price=1.5, quantity=2))
            r = await api.post("/v1/events", json={"events": evs})
            assert r.json()["accepted"] == 51

        await asyncio.gather(*(send(b) for b in range(20)))
        p = (await api.get("/v1/profiles/busy", params={"anonymous": True})).json()
        assert p["product_views"] == 1000
        assert p["dwell_ms"] == 100_000
        assert p["cart_adds"] == 20
        assert p["cart"]["lines"] == [{"item_id": "x", "quantity": 40, "price": 1.5}]
        assert p["sessions"] == 3
        assert redis_sync.xlen("pz:stream:events") == 20  # one entry per batch
        assert sum(len(decode_entry(f)) for _, f in stream_entries(redis_sync, "pz:stream:events")) == 1020


BAD_EVENTS = [
    ("wrong type", {"dwell_ms": "long"}, "dwell_ms"),
    ("unknown type", {"type": "teleport"}, "type"),
    ("missing event id", {"event_id": None}, "event_id"),
    ("missing both ids", {"anonymous_id": None}, "user_id"),
    ("negative price", {"price": -3.0}, "price"),
    ("far future", {"timestamp": NOW + 86_400}, "timestamp"),
    ("milliseconds", {"timestamp": NOW * 1000}, "timestamp"),
    ("unknown field", {"colour": "red"}, "colour"),
    ("brace in id", {"anonymous_id": "a{b}"}, "anonymous_id"),
    ("control character in id", {"anonymous_id": "v\u0007x"}, "anonymous_id"),
    ("slash in a customer id", {"anonymous_id": "shop/1"}, "anonymous_id"),
    ("consent both ways", {"type": "consent", "item_id": None, "granted": ["marketing"], "withdrawn": ["marketing"]},
     "withdrawn"),
    ("long string", {"category": "x" * 300}, "category"),
]


@pytest.mark.parametrize(("name", "change", "field"), BAD_EVENTS, ids=[b[0] for b in BAD_EVENTS])
async def test_bad_events_are_rejected_with_the_field_and_change_nothing(
    redis_url: str, redis_sync: redis.Redis, name: str, change: dict[str, object], field: str
) -> None:
    async with api_client(redis_url) as api:
        await api.post("/v1/events", json={"events": [pv("v5", "i1", dwell_ms=10)]})
        before = store_fingerprint(redis_sync)
        bad = {k: v for k, v in {**pv("v5", "i2"), **change}.items() if v is not None}
        r = await api.post("/v1/events", json={"events": [bad]})
        assert r.status_code == 422, r.text
        result = r.json()["results"][0]
        if name == "milliseconds":  # the reason names the likely mistake
            assert "looks like milliseconds" in result["reason"], result
        assert result["status"] == "rejected" and result["field"] == field, result
        assert result["reason"]
        assert store_fingerprint(redis_sync) == before


async def test_valid_events_of_a_mixed_batch_are_applied(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        r = await api.post("/v1/events", json={"events": [pv("v6", "i1"), {"type": "nope"}, pv("v6", "i2", price=-1)]})
        assert r.status_code == 202
        body = r.json()
        assert (body["accepted"], body["rejected"]) == (1, 2)
        assert [x["index"] for x in body["results"] if x["status"] == "rejected"] == [1, 2]
        assert (await api.get("/v1/profiles/v6", params={"anonymous": True})).json()["product_views"] == 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, "body"),
        (b'{"events": {}}', 400, "events"),
        (b'{"items": []}', 400, "events"),
        (b'{"events": []}', 400, "events"),
        (b'{"events": [], "extra": 1}', 400, "extra"),
    ],
)
async def test_malformed_bodies_get_400(redis_url: str, redis_sync: redis.Redis, body: bytes, status: int, field: str) -> None:
    async with api_client(redis_url) as api:
        before = store_fingerprint(redis_sync)
        r = await api.post("/v1/events", content=body, headers={"content-type": "application/json"})
        assert r.status_code == status and r.json()["field"] == field
        assert store_fingerprint(redis_sync) == before


async def test_oversized_batches_and_bodies_get_413(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url, max_body_bytes=4_000_000) as api:
        before = store_fingerprint(redis_sync)
        r = await api.post("/v1/events", json={"events": [pv("v8", f"i{n}") for n in range(10_000)]})
        assert r.status_code == 413
        assert r.json()["field"] == "events" and "500" in r.json()["detail"]
        assert store_fingerprint(redis_sync) == before
    async with api_client(redis_url) as api:
        r = await api.post("/v1/events", json={"events": [pv("v8", "i1", category="x" * 1_048_576)]})
        assert r.status_code == 413
        assert store_fingerprint(redis_sync) == before


async def test_1mb_string_inside_the_body_limit_is_rejected_by_field(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url, max_body_bytes=4_000_000) as api:
        r = await api.post("/v1/events", json={"events": [pv("v8", "i1", category="x" * 1_048_576)]})
        assert r.status_code == 422 and r.json()["results"][0]["field"] == "category"


async def test_consent_keeps_the_latest_decision_even_out_of_order(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        late_withdraw = event("consent", user_id="dana", withdrawn=["marketing"], timestamp=NOW - 10)
        early_grant = event("consent", user_id="dana", granted=["marketing"], timestamp=NOW - 1000)
        await api.post("/v1/events", json={"events": [late_withdraw]})
        await api.post("/v1/events", json={"events": [early_grant]})
        assert (await api.get("/v1/profiles/dana")).json()["consent"]["marketing"] is False


async def test_traits_patch_and_validation(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url, clock=ManualClock(NOW)) as api:
        r = await api.patch("/v1/profiles/erin/traits", json={"traits": {"shoe_size": 39, "newsletter": True}})
        assert r.status_code == 200
        assert r.json()["traits"] == {"shoe_size": "39", "newsletter": "true"}
        r = await api.patch("/v1/profiles/erin/traits", json={"remove": ["newsletter"]})
        assert r.json()["traits"] == {"shoe_size": "39"}
        before = store_fingerprint(redis_sync)
        r = await api.patch("/v1/profiles/erin/traits", json={"traits": {"bad name!": 1}})
        assert r.status_code == 400 and "traits" in (r.json()["field"] or "")
        assert store_fingerprint(redis_sync) == before
        assert (await api.get("/v1/profiles/nobody")).status_code == 404


async def test_items_upsert_and_validation(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        r = await api.put("/v1/items", json={"items": [
            {"id": "sku-1", "title": "Trail shoe", "category": "shoes", "price": 89.0, "attributes": {"colour": "red"}},
            {"id": "sku-2", "category": "shoes", "price": 20.0, "in_stock": False},
        ]})
        assert r.status_code == 200 and r.json() == {"upserted": 2, "catalog_size": 2}
        item = (await api.get("/v1/items/sku-1")).json()
        assert item["price"] == 89.0 and item["attributes"] == {"colour": "red"} and item["in_stock"] is True
        assert redis_sync.smembers("pz:oos") == {b"sku-2"}
        before = store_fingerprint(redis_sync)
        r = await api.put("/v1/items", json={"items": [{"id": "sku-3", "price": -5}]})
        assert r.status_code == 400 and "price" in r.json()["field"]
        r = await api.put("/v1/items", json={"items": [{"id": f"x{n}"} for n in range(1001)]})
        assert r.status_code == 400 and "items" in r.json()["field"]
        assert store_fingerprint(redis_sync) == before


async def test_ingest_and_identify_survive_a_script_flush(redis_url: str, redis_sync: redis.Redis) -> None:
    """Redis lost its scripts (restart, SCRIPT FLUSH): the next batch sends their source once
    and is applied, identity merge included."""
    async with api_client(redis_url) as api:
        first = [event("product_view", anonymous_id="v-flush", session_id="s", item_id="a")]
        assert (await api.post("/v1/events", json={"events": first})).json()["accepted"] == 1
        redis_sync.script_flush()
        later = [event("product_view", anonymous_id="v-flush", session_id="s", item_id="b"),
                 event("identify", user_id="flo", anonymous_id="v-flush", session_id="s")]
        r = await api.post("/v1/events", json={"events": later})
        assert r.status_code == 202 and r.json()["accepted"] == 2, r.text
        p = (await api.get("/v1/profiles/flo")).json()
        assert p["product_views"] == 2 and p["merged_visitors"] == 1
