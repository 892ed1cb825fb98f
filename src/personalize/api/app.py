"""The litestar application factory. Controllers are thin: they translate HTTP to services."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig

from personalize import __version__
from personalize.api import decide, experiments, ingest, items, models, offers, ops, profiles
from personalize.api.errors import EXCEPTION_HANDLERS
from personalize.api.middleware import timing_middleware
from personalize.api.openapi_docs import document_request_bodies
from personalize.clock import Clock
from personalize.heap import tune_for_serving
from personalize.offers.model import Offer
from personalize.reports.experiments import Experiment
from personalize.service.runtime import Runtime
from personalize.settings import Settings, get_settings

ROUTES = [
    ingest.ingest_events,
    decide.decide,
    models.models,
    offers.list_offers,
    offers.get_offer,
    offers.put_offer,
    offers.replace_offers,
    offers.delete_offer,
    experiments.put_experiment,
    experiments.list_experiments,
    experiments.delete_experiment,
    experiments.experiment_results,
    experiments.report_summary,
    profiles.get_profile,
    profiles.patch_traits,
    profiles.get_session,
    items.put_items,
    items.get_item,
    ops.live,
    ops.ready,
    ops.metrics,
]


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, serving: bool = False, openapi_bodies: bool = True,
) -> Litestar:
    """``serving``: a server worker (tunes the garbage collector for a long-lived process).
    ``openapi_bodies``: complete the OpenAPI document now (~70 ms; tests that never read it skip it)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = Runtime.build(settings, clock)
        app.state.runtime = runtime
        try:
            await runtime.refresher.refresh_once()
        except Exception:
            logging.getLogger("personalize").exception("initial refresh failed")
        if serving:
            tune_for_serving()  # after the first model and catalog load: they are long-lived
        runtime.refresher.start()
        runtime.popularity.start(settings.popularity_flush_s)
        try:
            yield
        finally:
            await runtime.refresher.stop()
            await runtime.popularity.stop()
            await runtime.close()

    app = Litestar(
        route_handlers=ROUTES,
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[timing_middleware],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="personalize",
            version=__version__,
            description="Real-time personalization and next-best-offer API for online stores.",
        ),
        debug=False,
        logging_config=None,  # logging_setup.configure() owns logging: JSON lines, no personal data
    )
    if openapi_bodies:
        document_request_bodies(app, {
            ("/v1/events", "POST"): (ingest.EventBatch, f"At most {settings.max_batch_events} typed events (field `type`)"),
            ("/v1/offers", "PUT"): (offers.OfferCatalogBody, "The whole catalog; {\"offers\": []} empties it"),
            ("/v1/offers/{offer_id}", "PUT"): (Offer, "One offer; its id must be the path's"),
            ("/v1/experiments/{experiment_id}", "PUT"): (Experiment, "The experiment; its id must be the path's"),
        })
    return app


def app_from_env() -> Litestar:
    """Entry point for ASGI servers (granian/uvicorn --factory)."""
    from personalize.logging_setup import configure

    # Read the environment afresh: a forked worker may have inherited a cached Settings
    # from before `serve` started the embedded Redis and set REDIS_URL.
    settings = Settings.from_env()
    configure(settings.log_level)
    return create_app(settings, serving=True)
