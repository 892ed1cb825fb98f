"""Offline/online feature parity: an online-shoppers row and the live session state that the
same visit produces through the ingest's own state operations give the same feature vector."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from personalize.clock import ManualClock
from personalize.domain import events as ev
from personalize.domain.facts import session_with_totals
from personalize.propensity.session_features import (
    ONLINE_FEATURES,
    SHOPPERS_MONTHS,
    session_features,
    shoppers_row_features,
)
from personalize.propensity.shoppers import load_shoppers
from personalize.service.runtime import Runtime
from personalize.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "propensity" / "online_shoppers_slice.csv"


def apply_session_ops(
    events: list[ev.BaseEvent], redis_url: str, profile: dict[str, str] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Run the events through the real ingest (real Redis) and read back the session and
    profile hashes as the decision path sees them (session_with_totals)."""
    settings = dataclasses.replace(Settings(), redis_url=redis_url)
    user = f"parity-{uuid.uuid4().hex}"
    events = [msgspec.structs.replace(e, user_id=user) for e in events]
    sid = events[0].session_id or ""

    async def run() -> tuple[dict[str, str], dict[str, str]]:
        runtime = Runtime.build(settings, ManualClock(events[-1].timestamp + 1))
        try:
            if profile:
                await runtime.client.hset(runtime.keys.profile(f"u:{user}"), mapping=profile)  # type: ignore[arg-type]
            result = await runtime.ingest.ingest(events)
            assert result.accepted == len(events), result
            state = await runtime.profiles.session(f"u:{user}", sid, runtime.clock.now())
            customer = await runtime.profiles.customer(f"u:{user}")
            return session_with_totals(state.fields), customer.profile
        finally:
            await runtime.close()

    return asyncio.run(run())


def visit_events(row: dict[str, Any], start: float) -> list[ev.BaseEvent]:
    """The storefront events of a visit with the row's page counts and product dwell."""
    out: list[ev.BaseEvent] = []
    ts = start
    n = 0

    def ctx(page_type: str) -> ev.Context:
        return ev.Context(page_type=page_type)  # type: ignore[arg-type]

    def next_id() -> str:
        nonlocal n, ts
        n += 1
        ts += 5
        return f"e{n}"

    admin_types = ["cart", "account", "checkout"]
    for i in range(int(row["Administrative"])):
        out.append(
            ev.PageView(
                event_id=next_id(),
                timestamp=ts,
                user_id="1",
                session_id="s1",
                context=ctx(admin_types[i % 3]),
            )
        )
    for _ in range(int(row["Informational"])):
        out.append(
            ev.PageView(
                event_id=next_id(),
                timestamp=ts,
                user_id="1",
                session_id="s1",
                context=ctx("content"),
            )
        )
    products = int(row["ProductRelated"])
    total_ms = round(float(row["ProductRelated_Duration"]) * 1000)
    for i in range(products):
        kind = i % 3
        if kind == 0:  # product pages carry the whole dwell (only product views have dwell_ms)
            share = total_ms // ((products + 2) // 3)
            extra = total_ms - share * ((products + 2) // 3) if i == 0 else 0
            out.append(
                ev.ProductView(
                    event_id=next_id(),
                    timestamp=ts,
                    user_id="1",
                    session_id="s1",
                    item_id=f"i{i}",
                    dwell_ms=share + extra,
                    context=ctx("product"),
                )
            )
        elif kind == 1:
            out.append(
                ev.PageView(
                    event_id=next_id(),
                    timestamp=ts,
                    user_id="1",
                    session_id="s1",
                    context=ctx("category"),
                )
            )
        else:
            out.append(
                ev.Search(
                    event_id=next_id(), timestamp=ts, user_id="1", session_id="s1", query="shoes"
                )
            )
    # Behaviour the offline data has no column for must not move the shared features.
    out.append(
        ev.ImageZoom(event_id=next_id(), timestamp=ts, user_id="1", session_id="s1", item_id="i0")
    )
    out.append(
        ev.AddToCart(
            event_id=next_id(), timestamp=ts, user_id="1", session_id="s1", item_id="i0", price=10.0
        )
    )
    return out


def start_time(month_name: str, weekend: bool) -> float:
    day = dt.datetime(2024, SHOPPERS_MONTHS.index(month_name) + 1, 1, 10, tzinfo=dt.UTC)
    while (day.weekday() >= 5) != weekend:
        day += dt.timedelta(days=1)
    return day.timestamp()


def test_feature_names_are_stable() -> None:
    assert ONLINE_FEATURES == (
        "admin_pages",
        "info_pages",
        "product_pages",
        "product_dwell_s",
        "month",
        "returning_visitor",
        "weekend",
    )


def test_known_session_gives_known_vector() -> None:
    sat_nov = dt.datetime(2024, 11, 16, 12, tzinfo=dt.UTC).timestamp()
    session = {
        b"first_ts": str(sat_nov).encode(),
        b"pt:cart": b"1",
        b"pt:account": b"2",
        b"pt:content": b"3",
        b"pt:product": b"4",  # as session_with_totals gives it: product pages + product views
        b"pt:category": b"1",
        b"pt:search": b"1",
        b"dw:product": b"12500",
        b"cart_adds": b"1",
        b"n:image_zoom": b"4",
    }
    x = session_features(session, {"sessions": "2"})
    np.testing.assert_array_equal(x, [3, 3, 6, 12.5, 10, 1, 1])
    # No profile: a first visit; no first_ts: January, weekday.
    np.testing.assert_array_equal(
        session_features({"pt:product": "2"}, None), [0, 0, 2, 0, 0, 0, 0]
    )


@pytest.mark.parametrize("returning", [False, True])
def test_offline_row_and_online_session_agree(returning: bool, redis_url: str) -> None:
    data = load_shoppers(FIXTURE)
    rows = [data.row(i) for i in range(0, data.n, 7)]  # ~86 real rows of varied shapes
    checked = 0
    for row in rows:
        if int(str(row["ProductRelated"])) > 60:
            continue  # keep the test fast; long visits exercise nothing new
        row = dict(row)
        row["VisitorType"] = "Returning_Visitor" if returning else "New_Visitor"
        events = visit_events(row, start_time(str(row["Month"]), bool(row["Weekend"])))
        profile = {"sessions": "1"} if returning else {}  # a session before this one
        session, profile_after = apply_session_ops(events, redis_url, profile)
        online = session_features(session, profile_after)
        offline = shoppers_row_features(row)
        # Durations in the data have fractions of a millisecond; events carry whole ms.
        np.testing.assert_allclose(online, offline, rtol=0, atol=1e-3, err_msg=str(row))
        checked += 1
    assert checked > 50
