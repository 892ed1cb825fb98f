"""The event stream's entry format: one stream entry per applied ingest batch.

An entry has one field, ``b``: a JSON array of ``[customer_id, event]`` pairs, the
events of one request that were applied (duplicates, conflicts and rejects are not
logged), in the order they were applied; ``customer_id`` is the customer after
identity resolution. One XADD per batch instead of one per event is the cheapest way
to keep the log: an XADD inside the ingest script costs ~9 us here.

Consequences for readers: a stream id addresses a batch, and stays a cursor (XRANGE
from an id resumes after that batch); every event of an entry reports the entry's id as
its ``stream_id``; MAXLEN counts entries, i.e. batches. Entries written before this
format (``c`` customer id, ``e`` one event's JSON) are still read.

``decode_entry`` is the only decoder; everything that reads the stream goes through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

BATCH_FIELD = "b"

_encoder = msgspec.json.Encoder()
_pairs = msgspec.json.Decoder(list[tuple[str, dict[str, Any]]])
_event = msgspec.json.Decoder(dict[str, Any])


def entry_piece(customer: str, event_json: bytes) -> bytes:
    """One event's element of a batch entry: ``[customer, event]`` (event_json already encoded)."""
    return b"[" + _encoder.encode(customer) + b"," + event_json + b"]"


def batch_entry(pieces: Iterable[bytes]) -> bytes:
    """The ``b`` field holding these pieces; the ingest script joins subsets the same way."""
    return b"[" + b",".join(pieces) + b"]"


def decode_entry(fields: Mapping[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The (customer_id, event) pairs of one event-stream entry, [] for entries that are not events."""
    blob = fields.get(b"b", fields.get("b"))
    if blob is not None:
        return _pairs.decode(_as_bytes(blob))
    raw = fields.get(b"e", fields.get("e"))
    if raw is None:
        return []
    try:
        event = _event.decode(_as_bytes(raw))
    except msgspec.ValidationError:
        return []
    cid = fields.get(b"c", fields.get("c"))
    return [(_as_text(cid) if cid is not None else _customer_of(event), event)]


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _customer_of(event: Mapping[str, Any]) -> str:
    if event.get("user_id"):
        return f"u:{event['user_id']}"
    if event.get("anonymous_id"):
        return f"a:{event['anonymous_id']}"
    return ""
