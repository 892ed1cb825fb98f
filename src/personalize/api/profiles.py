"""Customer view: GET /v1/profiles/{user_id}, PATCH traits, GET /v1/sessions/{session_id}."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, patch
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from msgspec import Meta

from personalize.api.errors import ApiError
from personalize.api.ids import validated_id
from personalize.domain.events import TraitName
from personalize.domain.facts import session_with_totals
from personalize.domain.profile import ProfileView, build_profile, cart_view
from personalize.domain.state_ops import parse_item_entry, trait_text
from personalize.service.runtime import Runtime
from personalize.store.client import with_deadline
from personalize.store.keys import customer_id

TraitValue = Annotated[str, Meta(max_length=256)] | int | float | bool


class TraitsPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    traits: Annotated[dict[TraitName, TraitValue], Meta(max_length=50)] = {}
    remove: Annotated[list[TraitName], Meta(max_length=50)] = []


class SessionItem(msgspec.Struct, kw_only=True):
    item_id: str
    event_type: str
    weight: float
    at: float


class SessionView(msgspec.Struct, kw_only=True):
    session_id: str
    customer_id: str
    first_seen: float | None
    last_seen: float | None
    expires_in_s: int
    events: int
    counts_by_type: dict[str, int]
    page_types: dict[str, int]
    dwell_ms: int
    dwell_ms_by_page_type: dict[str, int]
    landing_referrer: str | None
    recent_items: list[SessionItem]
    cart: Any


@get("/v1/profiles/{user_id:str}", summary="The single customer view of a known user")
async def get_profile(
    request: Request[Any, Any, Any],
    user_id: FromPath[str],
    anonymous: Annotated[bool, QueryParameter(description="Treat the id as an anonymous visitor id")] = False,
) -> ProfileView:
    runtime: Runtime = request.app.state.runtime
    ident = validated_id(user_id, "user_id")
    cid = customer_id(None, ident) if anonymous else customer_id(ident, None)
    state = await with_deadline(runtime.profiles.customer(cid), runtime.settings.redis_timeout_ms)
    if anonymous and state.alias:
        # A visitor who logged in: its state lives on the user now (as decide reads it);
        # the answer's customer_id names that user.
        cid = state.alias
        state = await with_deadline(runtime.profiles.customer(cid), runtime.settings.redis_timeout_ms)
    if not state.profile:
        raise ApiError(404, "not_found", f"no profile for {'visitor' if anonymous else 'user'} {ident!r}")
    return build_profile(cid, state.profile, state.cart, state.scores, runtime.clock.now())


@patch("/v1/profiles/{user_id:str}/traits", summary="Progressive profiling: set or remove traits")
async def patch_traits(request: Request[Any, Any, Any], user_id: FromPath[str], data: JSONBody[TraitsPatch]) -> ProfileView:
    runtime: Runtime = request.app.state.runtime
    cid = customer_id(validated_id(user_id, "user_id"), None)
    now = runtime.clock.now()
    deadline = runtime.settings.redis_timeout_ms
    if data.traits:
        await with_deadline(runtime.profiles.set_traits(cid, {k: trait_text(v) for k, v in data.traits.items()}, now), deadline)
    if data.remove:
        await with_deadline(runtime.profiles.delete_traits(cid, list(data.remove)), deadline)
    state = await with_deadline(runtime.profiles.customer(cid), deadline)
    return build_profile(cid, state.profile, state.cart, state.scores, now)


@get("/v1/sessions/{session_id:str}", summary="Live session state (recent items, counts, cart)")
async def get_session(
    request: Request[Any, Any, Any],
    session_id: FromPath[str],
    user_id: FromQuery[str | None] = None,
    anonymous_id: FromQuery[str | None] = None,
) -> SessionView:
    runtime: Runtime = request.app.state.runtime
    sid = validated_id(session_id, "session_id")
    if not user_id and not anonymous_id:
        raise ApiError(400, "validation_error", "user_id or anonymous_id query parameter is required", "user_id")
    cid = customer_id(
        validated_id(user_id, "user_id") if user_id else None,
        validated_id(anonymous_id, "anonymous_id") if anonymous_id else None,
    )
    deadline = runtime.settings.redis_timeout_ms
    if not user_id:  # a visitor who logged in: the session continues on the user
        cid = (await with_deadline(runtime.profiles.customer(cid), deadline)).alias or cid
    session = await with_deadline(runtime.profiles.session(cid, sid, runtime.clock.now()), deadline)
    if not session.fields:
        raise ApiError(404, "not_found", f"no live session {sid!r} for this customer (expired or never seen)")
    customer = await with_deadline(runtime.profiles.customer(cid), deadline)
    f = session.fields
    items = [SessionItem(item_id=i, event_type=t, weight=w, at=ts) for i, t, w, ts in map(parse_item_entry, session.items)]
    return SessionView(
        session_id=sid,
        customer_id=cid,
        first_seen=float(f["first_ts"]) if "first_ts" in f else None,
        last_seen=float(f["last_ts"]) if "last_ts" in f else None,
        expires_in_s=round(session.expires_in_s),
        events=sum(int(v) for k, v in f.items() if k.startswith("n:")),
        counts_by_type={k[2:]: int(v) for k, v in f.items() if k.startswith("n:")},
        page_types={k[3:]: int(v) for k, v in session_with_totals(f).items() if k.startswith("pt:") and int(v)},
        dwell_ms=sum(int(v) for k, v in f.items() if k.startswith("dw:")),
        dwell_ms_by_page_type={k[3:]: int(v) for k, v in f.items() if k.startswith("dw:")},
        landing_referrer=f.get("landing_ref"),
        recent_items=items,
        cart=cart_view(customer.cart),
    )
