"""Parquet exports of the event and decision logs, joinable on ``decision_id``.

Events: the canonical training columns first (timestamp, session_id, user_id, item_id,
event_type, price, quantity, dwell_ms, category), one row per order line for
purchases, then identifiers and money fields, and ``event_json`` (the whole event) so
an export can be reloaded losslessly, e.g. to rebuild a log after an erasure.
Decisions: one row per decision with flat columns plus ``record_json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from personalize.domain.decisions import DecisionRecord
from personalize.reports.records import LoggedEvent, decode_decision

EVENT_SCHEMA = pa.schema(
    [
        ("timestamp", pa.float64()),
        ("session_id", pa.string()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("event_type", pa.string()),
        ("price", pa.float64()),
        ("quantity", pa.int64()),
        ("dwell_ms", pa.int64()),
        ("category", pa.string()),
        ("event_id", pa.string()),
        ("customer_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("order_id", pa.string()),
        ("decision_id", pa.string()),
        ("offer_id", pa.string()),
        ("shipping_fee", pa.float64()),
        ("total", pa.float64()),
        ("stream_id", pa.string()),
        ("event_json", pa.string()),
    ]
)

DECISION_SCHEMA = pa.schema(
    [
        ("decision_id", pa.string()),
        ("timestamp", pa.float64()),
        ("customer_id", pa.string()),
        ("user_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("session_id", pa.string()),
        ("page_type", pa.string()),
        ("channel", pa.string()),
        ("model_version", pa.string()),
        ("policy_version", pa.string()),
        ("propensity_version", pa.string()),
        ("fallback", pa.string()),
        ("offer_id", pa.string()),
        ("offer_kind", pa.string()),
        ("offer_value", pa.float64()),
        ("probability", pa.float64()),
        ("explored", pa.bool_()),
        ("experiment_id", pa.string()),
        ("arm", pa.string()),
        ("holdout", pa.bool_()),
        ("n_items", pa.int64()),
        ("item_ids", pa.list_(pa.string())),
        ("slots", pa.list_(pa.string())),
        ("n_candidates", pa.int64()),
        ("blocked_offers", pa.int64()),
        ("record_json", pa.string()),
    ]
)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def event_rows(logged: LoggedEvent) -> list[dict[str, Any]]:
    """Flatten one event: purchases give one row per order line, others one row."""
    e = logged.event
    ctx = e.get("context") or {}
    base: dict[str, Any] = {
        "timestamp": _float(e.get("timestamp")),
        "session_id": _str(e.get("session_id")),
        "user_id": _str(e.get("user_id")),
        "item_id": _str(e.get("item_id") or ctx.get("item_id")),
        "event_type": _str(e.get("type")),
        "price": _float(e.get("price")),
        "quantity": _int(e.get("quantity")),
        "dwell_ms": _int(e.get("dwell_ms")),
        "category": _str(e.get("category") or ctx.get("category")),
        "event_id": _str(e.get("event_id")),
        "customer_id": logged.customer_id or None,
        "anonymous_id": _str(e.get("anonymous_id")),
        "order_id": _str(e.get("order_id")),
        "decision_id": _str(e.get("decision_id")),
        "offer_id": _str(e.get("offer_id")),
        "shipping_fee": _float(e.get("shipping_fee")),
        "total": _float(e.get("total", e.get("amount"))),
        "stream_id": logged.stream_id or None,
        "event_json": msgspec.json.encode(e).decode(),
    }
    lines = e.get("lines") if e.get("type") == "purchase" else None
    if not lines:
        return [base]
    rows = []
    for line in lines:
        row = dict(base)
        row["item_id"] = _str(line.get("item_id"))
        row["price"] = _float(line.get("price"))
        row["quantity"] = _int(line.get("quantity", 1))
        row["category"] = _str(line.get("category")) or base["category"]
        rows.append(row)
    return rows


def decision_row(d: DecisionRecord) -> dict[str, Any]:
    return {
        "decision_id": d.decision_id,
        "timestamp": d.timestamp,
        "customer_id": d.customer_id,
        "user_id": d.user_id,
        "anonymous_id": d.anonymous_id,
        "session_id": d.session_id,
        "page_type": d.context.page_type,
        "channel": d.context.channel,
        "model_version": d.model_version,
        "policy_version": d.policy_version,
        "propensity_version": d.propensity_version,
        "fallback": d.fallback,
        "offer_id": d.offer_id,
        "offer_kind": d.offer_kind,
        "offer_value": d.offer_value,
        "probability": d.probability,
        "explored": d.explored,
        "experiment_id": d.experiment_id,
        "arm": d.arm,
        "holdout": d.holdout,
        "n_items": len(d.items),
        "item_ids": [i.item_id for i in d.items],
        "slots": [i.slot for i in d.items],
        "n_candidates": len(d.candidates),
        "blocked_offers": d.blocked_offers,
        "record_json": msgspec.json.encode(d).decode(),
    }


class ParquetAppender:
    """Writes rows to Parquet in row groups, so exports of any size stay in bounded memory."""

    def __init__(self, path: Path, schema: pa.Schema, batch_rows: int = 50_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(str(path), schema, compression="zstd")
        self._schema = schema
        self._rows: list[dict[str, Any]] = []
        self._batch_rows = batch_rows
        self.rows_written = 0

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        self._rows.extend(rows)
        if len(self._rows) >= self._batch_rows:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self.rows_written += len(self._rows)
            self._rows = []

    def close(self) -> None:
        self.flush()
        self._writer.close()


def write_events(events: Iterable[LoggedEvent], path: Path) -> int:
    out = ParquetAppender(path, EVENT_SCHEMA)
    for ev in events:
        out.add(event_rows(ev))
    out.close()
    return out.rows_written


def write_decisions(decisions: Iterable[DecisionRecord], path: Path) -> int:
    out = ParquetAppender(path, DECISION_SCHEMA)
    for d in decisions:
        out.add([decision_row(d)])
    out.close()
    return out.rows_written


def read_events(path: Path) -> list[LoggedEvent]:
    """Reload an events export (one LoggedEvent per event, not per order line)."""
    table = pq.read_table(str(path), columns=["event_id", "customer_id", "stream_id", "event_json"])
    previous: tuple[str | None, str | None] | None = None
    out: list[LoggedEvent] = []
    decoder = msgspec.json.Decoder()
    for event_id, cid, sid, raw in zip(
        *(table.column(i).to_pylist() for i in range(4)), strict=True
    ):
        key = (sid, event_id)
        if key == previous:  # further order lines of the same purchase (written contiguously)
            continue
        previous = key
        out.append(
            LoggedEvent(customer_id=cid or "", event=decoder.decode(raw), stream_id=sid or "")
        )
    return out


def read_decisions(path: Path) -> list[DecisionRecord]:
    table = pq.read_table(str(path), columns=["record_json"])
    return [decode_decision(raw) for raw in table.column(0).to_pylist()]


def is_decision_file(path: Path) -> bool:
    return "record_json" in pq.read_schema(str(path)).names
