"""POST /v1/decide: the storefront's one call per page view."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody

from personalize.api.errors import ApiError
from personalize.api.openapi_docs import error_responses
from personalize.service.decide import DecideRequest, DecideResponse
from personalize.service.runtime import Runtime


@post(
    "/v1/decide",
    status_code=200,
    summary="Recommended items and the next-best offer for this page view",
    description=(
        "One call per page view. Items: the published model folds this session (and the customer's "
        "history) in; purchased, in-cart and out-of-stock items are excluded; a per-category cap keeps "
        "the list diverse; items shown repeatedly without a click are demoted. `fallback` names any "
        "fallback used (no_model, popularity, store_timeout, no_personalization_consent). Offer: the "
        "arbitrated next-best offer (or null), with its explanation and logged probability."
    ),
    responses=error_responses(400),
)
async def decide(request: Request[Any, Any, Any], data: JSONBody[DecideRequest]) -> DecideResponse:
    runtime: Runtime = request.app.state.runtime
    if not data.user_id and not data.anonymous_id:
        raise ApiError(400, "validation_error", "user_id or anonymous_id is required", "user_id")
    return await runtime.decide.decide(data)
