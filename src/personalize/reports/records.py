"""What reports read: logged events and decisions, decoded from stream entries or Parquet.

An event-stream entry holds a batch of events (format and decoder: store/event_log.py);
a decision entry has ``d`` (DecisionRecord JSON). Reports keep events as plain dicts:
the fields they need are few and the event union may grow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from personalize.domain.decisions import DecisionRecord
from personalize.store.event_log import decode_entry

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


def events_from_entry(stream_id: bytes | str, fields: dict[Any, Any]) -> list[LoggedEvent]:
    """The events of one event-stream entry (all share the entry's id); [] for non-events."""
    sid = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    return [LoggedEvent(customer_id=cid, event=event, stream_id=sid) for cid, event in decode_entry(fields)]


def decision_from_fields(fields: dict[Any, Any]) -> DecisionRecord | None:
    raw = fields.get(b"d", fields.get("d"))
    if raw is None:
        return None
    return _decision_decoder.decode(raw if isinstance(raw, bytes) else raw.encode())


def decode_decision(raw: str | bytes) -> DecisionRecord:
    return _decision_decoder.decode(raw if isinstance(raw, bytes) else raw.encode())
