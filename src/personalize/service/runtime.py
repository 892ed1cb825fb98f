"""Everything one server worker needs, built from settings: the composition root."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from personalize.clock import Clock, SystemClock
from personalize.offers.arbitration import ExplorationPolicy
from personalize.service.decide import DecideService, OfferPolicyConfig
from personalize.service.ingest import IngestService
from personalize.service.models import ModelHolder
from personalize.service.refresh import Refresher
from personalize.settings import Settings
from personalize.store.catalog import CatalogCache, CatalogStore
from personalize.store.client import make_async_client, with_deadline
from personalize.store.event_writer import EventWriter
from personalize.store.identity import IdentityStore
from personalize.store.keys import Keys
from personalize.store.offer_store import OfferStore
from personalize.store.popularity import PopularityBuffer
from personalize.store.profiles import ProfileStore
from personalize.store.resp import MultiplexedConnection


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    client: aioredis.Redis
    keys: Keys
    ingest: IngestService
    profiles: ProfileStore
    catalog: CatalogStore
    catalog_cache: CatalogCache
    decide: DecideService
    models: ModelHolder
    offer_store: OfferStore
    refresher: Refresher
    popularity: PopularityBuffer

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Runtime:
        if not settings.redis_url:
            raise RuntimeError("REDIS_URL is not set (personalize serve starts an embedded Redis and sets it)")
        clock = clock or SystemClock()
        client = make_async_client(settings.redis_url, settings.redis_timeout_ms)
        keys = Keys(settings.key_prefix)
        stall_s = max(settings.redis_timeout_ms * 4 / 1000, 2.0)  # as redis-py's socket timeout
        ingest_conn = MultiplexedConnection(settings.redis_url, stall_s=stall_s)
        writer = EventWriter(
            ingest_conn, keys, settings.session_ttl_s,
            settings.cart_ttl_s, settings.dedup_ttl_s, settings.event_stream_maxlen, settings.anonymous_ttl_s,
        )
        catalog = CatalogStore(client, keys)
        catalog_cache = CatalogCache(catalog)
        decide_conn = MultiplexedConnection(settings.redis_url, stall_s=stall_s)
        decide = DecideService(
            client, decide_conn, keys, clock, catalog_cache,
            session_ttl_s=settings.session_ttl_s,
            anonymous_ttl_s=settings.anonymous_ttl_s,
            read_timeout_ms=settings.redis_decide_timeout_ms,
            write_timeout_ms=settings.redis_timeout_ms,
            decision_stream_maxlen=settings.decision_stream_maxlen,
            policy=OfferPolicyConfig(
                exploration=ExplorationPolicy(epsilon=settings.exploration_rate),
                holdout_share=settings.holdout_share,
            ),
        )
        models = ModelHolder()
        popularity = PopularityBuffer(client, keys, clock, settings.popularity_half_life_h, settings.redis_timeout_ms)
        offer_store = OfferStore(client, keys)
        return cls(
            settings=settings,
            clock=clock,
            client=client,
            keys=keys,
            ingest=IngestService(writer, IdentityStore(ingest_conn, keys, settings.session_ttl_s, settings.anonymous_ttl_s), settings, clock, popularity),
            profiles=ProfileStore(client, keys, settings.session_ttl_s),
            catalog=catalog,
            catalog_cache=catalog_cache,
            decide=decide,
            models=models,
            offer_store=offer_store,
            refresher=Refresher(client, keys, settings, models, catalog_cache, offer_store, decide),
            popularity=popularity,
        )

    async def redis_latency_ms(self) -> float:
        start = time.perf_counter()
        await with_deadline(self.client.ping(), self.settings.redis_timeout_ms)
        return (time.perf_counter() - start) * 1000.0

    async def close(self) -> None:
        await self.ingest.close()
        await self.decide.close()
        await self.client.aclose()
