"""What reports read: logged events and decisions, decoded from stream entries or Parquet.

An event entry in the stream has ``c`` (customer id after identity resolution) and
``e`` (the event JSON); a decision entry has ``d`` (DecisionRecord JSON). Reports keep
events as plain dicts: the fields they need are few and the event union may grow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from personalize.domain.decisions import DecisionRecord

_json_decoder = msgspec.json.Decoder()
_decision_decoder = msgspec.json.Decoder(DecisionRecord)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    customer_id: str
    event: dict[str, Any]
    stream_id: str = ""

    @property
    def type(self) -> str:
        return str(self.event.get("type", ""))

    @property
    def event_id(self) -> str:
        return str(self.event.get("event_id", ""))

    @property
    def timestamp(self) -> float:
        return float(self.event.get("timestamp", 0.0))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def event_from_fields(stream_id: bytes | str, fields: dict[Any, Any]) -> LoggedEvent | None:
    """Decode one event-stream entry; None for entries that are not events (skipped, counted)."""
    raw = fields.get(b"e", fields.get("e"))
    cid = fields.get(b"c", fields.get("c"))
    if raw is None:
        return None
    event = _json_decoder.decode(raw if isinstance(raw, bytes) else raw.encode())
    if not isinstance(event, dict):
        return None
    customer = _text(cid) if cid is not None else _customer_of(event)
    return LoggedEvent(customer_id=customer, event=event, stream_id=_text(stream_id))


def decision_from_fields(fields: dict[Any, Any]) -> DecisionRecord | None:
    raw = fields.get(b"d", fields.get("d"))
    if raw is None:
        return None
    return _decision_decoder.decode(raw if isinstance(raw, bytes) else raw.encode())


def decode_decision(raw: str | bytes) -> DecisionRecord:
    return _decision_decoder.decode(raw if isinstance(raw, bytes) else raw.encode())


def _customer_of(event: dict[str, Any]) -> str:
    if event.get("user_id"):
        return f"u:{event['user_id']}"
    if event.get("anonymous_id"):
        return f"a:{event['anonymous_id']}"
    return ""
