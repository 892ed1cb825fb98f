"""The catalog through PUT/GET /v1/items: partial updates keep stock, ids are never truncated."""

from __future__ import annotations

import redis

from tests.helpers import api_client, store_fingerprint


async def test_a_partial_update_keeps_the_stock_flag(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    async with api_client(redis_url) as api:
        r = await api.put(
            "/v1/items", json={"items": [{"id": "1004856", "title": "Boot", "in_stock": False}]}
        )
        assert r.status_code == 200, r.text
        r = await api.put("/v1/items", json={"items": [{"id": "1004856", "price": 120.0}]})
        assert r.status_code == 200, r.text
        item = (await api.get("/v1/items/1004856")).json()
        assert item["in_stock"] is False and item["price"] == 120.0 and item["title"] == "Boot"
        # decisions read stock from this set, not from the item hash: both must agree
        assert redis_sync.smembers("pz:oos") == {b"1004856"}
        await api.put("/v1/items", json={"items": [{"id": "1004856", "in_stock": True}]})
        assert (await api.get("/v1/items/1004856")).json()["in_stock"] is True
        assert redis_sync.smembers("pz:oos") == set()


async def test_a_new_item_without_a_stock_flag_is_in_stock(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    async with api_client(redis_url) as api:
        r = await api.put(
            "/v1/items", json={"items": [{"id": "new-1", "category": "hats"}, {"id": "new-2"}]}
        )
        assert r.status_code == 200 and r.json() == {"upserted": 2, "catalog_size": 2}
        for item_id in ("new-1", "new-2"):
            assert (await api.get(f"/v1/items/{item_id}")).json()["in_stock"] is True
        assert redis_sync.hget("pz:item:new-2", "in_stock") == b"1"
        assert redis_sync.smembers("pz:oos") == set()


async def test_an_id_over_the_limit_is_a_400_not_another_item(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    longest = "i" * 128
    async with api_client(redis_url) as api:
        await api.put(
            "/v1/items", json={"items": [{"id": longest, "title": "the 128-character item"}]}
        )
        assert (await api.get(f"/v1/items/{longest}")).json()["title"] == "the 128-character item"
        before = store_fingerprint(redis_sync)
        r = await api.get(f"/v1/items/{longest}EXTRA_SUFFIX")
        assert r.status_code == 400, r.text
        assert r.json()["field"] == "item_id" and "the 128-character item" not in r.text
        assert store_fingerprint(redis_sync) == before


async def test_ids_in_profile_and_session_paths_are_not_truncated(redis_url: str) -> None:
    too_long = "u" * 129
    async with api_client(redis_url) as api:
        for path, field in (
            (f"/v1/profiles/{too_long}", "user_id"),
            (f"/v1/sessions/{too_long}?user_id=u", "session_id"),
            (f"/v1/sessions/s?anonymous_id={too_long}", "anonymous_id"),
        ):
            r = await api.get(path)
            assert r.status_code == 400 and r.json()["field"] == field, (path, r.text)
        r = await api.patch(f"/v1/profiles/{too_long}/traits", json={"traits": {"size": 39}})
        assert r.status_code == 400 and r.json()["field"] == "user_id", r.text


async def test_an_item_id_with_a_slash_reads_back(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        r = await api.put("/v1/items", json={"items": [{"id": "AB/123", "title": "sku with a slash"}]})
        assert r.status_code == 200, r.text
        for path in ("/v1/items/AB/123", "/v1/items/AB%2F123"):
            r = await api.get(path)
            assert r.status_code == 200 and r.json()["id"] == "AB/123" and r.json()["title"] == "sku with a slash", r.text
        assert (await api.get("/v1/items/AB")).status_code == 404


async def test_an_id_given_twice_in_a_batch_counts_once(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        r = await api.put("/v1/items", json={"items": [{"id": "twice", "price": 1.0}, {"id": "twice", "price": 2.0}]})
        assert r.json() == {"upserted": 1, "catalog_size": 1}, r.text
        assert (await api.get("/v1/items/twice")).json()["price"] == 2.0  # the last one wins


async def test_item_ids_a_url_cannot_carry_are_refused(redis_url: str, redis_sync: redis.Redis) -> None:
    async with api_client(redis_url) as api:
        for bad in ("/lead", "trail/", "dbl//x"):
            r = await api.put("/v1/items", json={"items": [{"id": bad, "title": "x"}]})
            assert r.status_code == 400 and "id" in r.json()["field"], (bad, r.text)
