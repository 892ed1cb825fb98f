"""The canonical event file (CSV or Parquet) reduced to per-customer orders and checkouts.

Columns used: timestamp, session_id, user_id, item_id, event_type, price, quantity and, when
present, order_id, shipping_fee, customer_id. Other columns are ignored. ``timestamp`` may be
unix seconds or an ISO-8601 date-time (a trailing " UTC" is accepted).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from personalize.propensity.histories import DAY, Purchase
from personalize.propensity.shipping import ShippingCounts

REQUIRED = ("timestamp", "session_id", "user_id", "item_id", "event_type", "price", "quantity")
OPTIONAL = ("order_id", "shipping_fee", "customer_id")


@dataclass(slots=True)
class _Order:
    ts: float
    value: float = 0.0
    quantity: float = 0.0
    shipping_fee: float = 0.0


@dataclass(slots=True)
class CustomerActivity:
    orders: dict[str, _Order] = field(default_factory=dict)
    # session -> (time of the last charged checkout, time of the last purchase)
    checkouts: dict[str, list[float]] = field(default_factory=dict)

    def purchases(self) -> list[Purchase]:
        return [
            Purchase(day=int(o.ts // DAY), value=o.value, quantity=o.quantity)
            for o in self.orders.values()
        ]

    def shipping_counts(self) -> ShippingCounts:
        paid = sum(1 for o in self.orders.values() if o.shipping_fee > 0)
        abandoned = sum(1 for charged, bought in self.checkouts.values() if charged > bought)
        return ShippingCounts(
            orders_paid=paid, orders_free=len(self.orders) - paid, abandoned_charged=abandoned
        )


@dataclass(frozen=True, slots=True)
class EventLog:
    customers: dict[str, CustomerActivity]
    first_ts: float
    last_ts: float
    rows: int
    skipped_rows: int
    has_shipping: bool  # the file has a shipping_fee column: shipping sensitivity can be scored


def _read_table(path: Path) -> pa.Table:
    if path.suffix.lower() in {".parquet", ".pq"}:
        table = pq.read_table(path)
    else:
        options = pa_csv.ConvertOptions(
            column_types={
                c: pa.string()
                for c in ("session_id", "user_id", "item_id", "order_id", "customer_id")
            },
        )
        table = pa_csv.read_csv(path, convert_options=options)
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    return table


def _seconds(column: pa.ChunkedArray) -> list[float | None]:
    if pa.types.is_timestamp(column.type):
        micros = pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64())
        return [None if v is None else v / 1e6 for v in micros.to_pylist()]
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return [None if v is None else float(v) for v in column.to_pylist()]
    out: list[float | None] = []
    for raw in column.to_pylist():
        if raw is None:
            out.append(None)
            continue
        text = str(raw).strip().removesuffix(" UTC").replace("Z", "+00:00")
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            out.append(None)
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        out.append(when.timestamp())
    return out


def _customer(user_id: Any, customer_id: Any) -> str | None:
    if user_id not in (None, ""):
        return f"u:{user_id}"
    if customer_id not in (None, ""):
        text = str(customer_id)
        return text if text[:2] in ("u:", "a:") else f"u:{text}"
    return None


def _float(value: Any) -> float:
    try:
        return float(value) if value not in (None, "") else 0.0
    except (TypeError, ValueError):
        return 0.0


def _rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    names = [c for c in (*REQUIRED, *OPTIONAL) if c in table.column_names]
    columns = {c: table.column(c).to_pylist() for c in names if c != "timestamp"}
    columns["timestamp"] = _seconds(table.column("timestamp"))
    for i in range(table.num_rows):
        yield {c: columns[c][i] for c in columns}


def read_event_log(path: Path) -> EventLog:
    table = _read_table(path)
    customers: dict[str, CustomerActivity] = defaultdict(CustomerActivity)
    rows = skipped = 0
    first, last = float("inf"), float("-inf")
    # Events are applied in time order so "a purchase after the checkout" is well defined.
    ordered = sorted(
        _rows(table), key=lambda r: r["timestamp"] if r["timestamp"] is not None else -1.0
    )
    for row in ordered:
        rows += 1
        ts = row["timestamp"]
        cid = _customer(row.get("user_id"), row.get("customer_id"))
        if ts is None or cid is None:
            skipped += 1
            continue
        first, last = min(first, ts), max(last, ts)
        kind = str(row["event_type"])
        session = str(row.get("session_id") or "")
        if kind == "purchase":
            activity = customers[cid]
            order_id = str(row.get("order_id") or f"{session}@{ts:.0f}")
            order = activity.orders.setdefault(order_id, _Order(ts=ts))
            quantity = _float(row.get("quantity")) or 1.0
            order.value += _float(row.get("price")) * quantity
            order.quantity += quantity
            order.shipping_fee = max(order.shipping_fee, _float(row.get("shipping_fee")))
            if session:
                activity.checkouts.setdefault(session, [0.0, 0.0])[1] = ts
        elif kind == "checkout_started" and _float(row.get("shipping_fee")) > 0 and session:
            customers[cid].checkouts.setdefault(session, [0.0, 0.0])[0] = ts
    return EventLog(
        customers=dict(customers),
        first_ts=first if rows > skipped else 0.0,
        last_ts=last if rows > skipped else 0.0,
        rows=rows,
        skipped_rows=skipped,
        has_shipping="shipping_fee" in table.column_names,
    )
