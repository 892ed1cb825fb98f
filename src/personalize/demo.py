"""The demo: replay a real storefront log (REES46, see data/CREDITS.md) through the API."""

from __future__ import annotations

import csv
import gzip
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

SHIPPING_FEE = 4.99  # synthetic: the log carries no shipping fees
FREE_SHIPPING_FROM = 50.0
ORDER_GAP_S = 60.0
MAX_DWELL_MS = 300_000


def demo_rows() -> list[dict[str, str]]:
    raw = resources.files("personalize.data").joinpath("rees46-2019-Oct-head.csv.gz").read_bytes()
    text = gzip.decompress(raw).decode()
    return list(csv.DictReader(text.splitlines()))


def _ts(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC).timestamp()


def _category(row: dict[str, str]) -> str:
    return row["category_code"] or f"cat-{row['category_id']}"


def catalog_items(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    for row in rows:
        title = " ".join(x for x in (row["brand"], row["category_code"].split(".")[-1] if row["category_code"] else "") if x)
        items[row["product_id"]] = {
            "id": row["product_id"],
            "title": title or f"product {row['product_id']}",
            "category": _category(row),
            "price": float(row["price"]),
            "in_stock": True,
            "attributes": {"brand": row["brand"]} if row["brand"] else {},
        }
    return list(items.values())


def convert(rows: list[dict[str, str]], end_at: float) -> list[dict[str, Any]]:
    """REES46 rows -> personalize events (see CREDITS.md for what is derived or synthetic)."""
    times = [_ts(r["event_time"]) for r in rows]
    shift = end_at - max(times)
    order = sorted(range(len(rows)), key=lambda i: times[i])
    next_in_session: dict[int, float] = {}
    last_seen: dict[str, int] = {}
    for i in order:
        sess = rows[i]["user_session"]
        if sess in last_seen:
            next_in_session[last_seen[sess]] = times[i]
        last_seen[sess] = i
    events: list[dict[str, Any]] = []
    identified: set[str] = set()
    open_order: dict[str, dict[str, Any]] = {}

    def flush(sess: str) -> None:
        order_ev = open_order.pop(sess, None)
        if order_ev is None:
            return
        total = round(sum(line["price"] * line["quantity"] for line in order_ev["lines"]), 2)
        fee = 0.0 if total >= FREE_SHIPPING_FROM else SHIPPING_FEE
        ids: dict[str, Any] = {k: order_ev[k] for k in ("user_id", "anonymous_id", "session_id") if k in order_ev}
        events.append({"type": "checkout_started", "event_id": order_ev["event_id"] + "-co", **ids,
                       "timestamp": order_ev["timestamp"] - 1, "cart_value": total, "shipping_fee": fee})
        order_ev.update(total=round(total + fee, 2), shipping_fee=fee)
        events.append(order_ev)

    for i in order:
        row = rows[i]
        user, sess, ts = row["user_id"], row["user_session"], times[i] + shift
        ids: dict[str, Any] = {"anonymous_id": f"v{user}", "session_id": sess[:128]}
        if user in identified:
            ids["user_id"] = user
        kind = row["event_type"]
        if kind != "purchase":
            flush(sess)
        if kind in ("cart", "purchase") and user not in identified:
            identified.add(user)
            events.append({"type": "identify", "event_id": f"rees46-{i}-id", "timestamp": ts, "user_id": user, **ids})
            events.append({"type": "consent", "event_id": f"rees46-{i}-consent", "timestamp": ts, "user_id": user,
                           **ids, "granted": ["personalization", "marketing", "analytics"]})
            ids["user_id"] = user
        base = {"event_id": f"rees46-{i}", "timestamp": ts, **ids}
        if kind == "view":
            nxt = next_in_session.get(i)
            dwell = int(min((nxt - times[i]) * 1000, MAX_DWELL_MS)) if nxt is not None else None
            ev: dict[str, Any] = {"type": "product_view", **base, "item_id": row["product_id"],
                                  "category": _category(row), "price": float(row["price"]),
                                  "context": {"page_type": "product"}}
            if dwell is not None:
                ev["dwell_ms"] = max(dwell, 0)
            events.append(ev)
        elif kind == "cart":
            events.append({"type": "add_to_cart", **base, "item_id": row["product_id"], "quantity": 1,
                           "price": float(row["price"]), "category": _category(row)})
        elif kind == "purchase":
            current = open_order.get(sess)
            if current is not None and ts - current["timestamp"] > ORDER_GAP_S:
                flush(sess)
                current = None
            if current is None:
                current = open_order[sess] = {"type": "purchase", **base, "order_id": f"o-{i}", "lines": [],
                                              "currency": "USD"}
            current["lines"].append({"item_id": row["product_id"], "price": float(row["price"]), "quantity": 1,
                                     "category": _category(row)})
    for sess in list(open_order):
        flush(sess)
    return [{k: v for k, v in e.items() if v is not None} for e in events]


def batches(seq: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


def _with_retries(send: Callable[[], httpx.Response], attempts: int = 5) -> httpx.Response:
    """A good client retries 503 (store busy); the API recognises duplicates, so it is safe."""
    for attempt in range(attempts):
        r = send()
        if r.status_code != 503:
            return r
        time.sleep(0.2 * (attempt + 1))
    return r


def wait_ready(base_url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API at {base_url} did not become ready")


def replay(base_url: str, console: Console) -> dict[str, Any]:
    rows = demo_rows()
    items = catalog_items(rows)
    events = convert(rows, end_at=time.time() - 60)
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        for chunk in batches(items, 500):
            _with_retries(partial(client.put, "/v1/items", json={"items": chunk})).raise_for_status()
        totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
        start = time.perf_counter()
        for chunk in batches(events, 200):
            r = _with_retries(partial(client.post, "/v1/events", json={"events": chunk}))
            if r.status_code not in (202, 422):
                r.raise_for_status()
            body = r.json()
            for key in totals:
                totals[key] += body[key]
        elapsed = time.perf_counter() - start
    buyer = next(e["user_id"] for e in events if e["type"] == "purchase")
    viewer = next(e for e in events if e["type"] == "product_view" and "user_id" not in e)
    return {"items": len(items), "events": len(events), "seconds": elapsed, "buyer": buyer,
            "visitor": viewer["anonymous_id"], "session": viewer["session_id"], "item": viewer["item_id"], **totals}


def run_demo(base_url: str, data_dir: Path, env: dict[str, str], console: Console) -> dict[str, Any]:
    console.print("[bold]Loading the demo data[/bold] (real REES46 log; shipping fees, consent and time shift are synthetic, see CREDITS)")
    wait_ready(base_url)
    stats = replay(base_url, console)
    console.print(
        f"catalog: {stats['items']:,} items; events: {stats['events']:,} replayed in {stats['seconds']:.1f} s "
        f"({stats['events'] / stats['seconds']:,.0f} events/s): accepted {stats['accepted']:,}, "
        f"duplicates {stats['duplicates']:,}, rejected {stats['rejected']:,}"
    )
    from personalize.demo_model import train_and_publish_demo_model

    train_and_publish_demo_model(base_url, data_dir, env, console)
    console.print(f"\n[bold green]personalize is running at {base_url}[/bold green]  (OpenAPI: {base_url}/schema)\n")
    print(example_calls(base_url, stats), flush=True)  # plain print: copy-pasteable, never wrapped
    return stats


def example_calls(base_url: str, stats: dict[str, Any]) -> str:
    return f"""Try:
  curl -s {base_url}/v1/profiles/{stats['buyer']} | python3 -m json.tool
  curl -s '{base_url}/v1/sessions/{stats['session']}?anonymous_id={stats['visitor']}' | python3 -m json.tool
  curl -s -X POST {base_url}/v1/decide -H 'content-type: application/json' \\
       -d '{{"anonymous_id": "{stats['visitor']}", "session_id": "{stats['session']}", "page": {{"type": "product", "item_id": "{stats['item']}"}}, "count": 5}}' | python3 -m json.tool
  curl -s -X POST {base_url}/v1/events -H 'content-type: application/json' \\
       -d '{{"events": [{{"type": "product_view", "event_id": "demo-1", "timestamp": {time.time():.0f}, "anonymous_id": "new-visitor", "session_id": "s-new", "item_id": "{stats['item']}", "dwell_ms": 12000}}]}}'
  curl -s {base_url}/v1/models | python3 -m json.tool
  curl -s {base_url}/metrics | grep personalize_
"""
