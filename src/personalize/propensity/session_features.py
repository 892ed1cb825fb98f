"""In-session purchase features: ONE code path for offline rows and the live session hash.

Both entry points reduce their input to the same :class:`SessionCounts` and then call
:func:`feature_vector`, so a model trained on online-shoppers rows sees, online, features
built by exactly the same arithmetic.

Mapping of the online-shoppers columns (Sakar et al. 2019) to the live session state:
  Administrative           ~ pages of type account, checkout, cart      (pt:<type>)
  Informational            ~ pages of type content                      (pt:content)
  ProductRelated           ~ pages of type product, category, search    (pt:<type>)
  ProductRelated_Duration  ~ dwell on those pages, seconds              (dw:<type> / 1000)
  Month, Weekend           ~ calendar of the session's first event (UTC) (first_ts)
  VisitorType=Returning    ~ the profile counts a session before this one (profile "sessions" >= 2)
Left out on purpose (no honest online analogue in the session state):
  Administrative_Duration / Informational_Duration — only product views carry dwell_ms, so
  online they would almost always be 0 while training rows are not (train/serve skew);
  BounceRates / ExitRates / PageValues — Google Analytics aggregates over all visitors of a page;
  SpecialDay, OperatingSystems, Browser, Region, TrafficType — store-specific codes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

ADMIN_PAGE_TYPES = ("account", "checkout", "cart")
INFO_PAGE_TYPES = ("content",)
PRODUCT_PAGE_TYPES = ("product", "category", "search")

ONLINE_FEATURES: tuple[str, ...] = (
    "admin_pages",
    "info_pages",
    "product_pages",
    "product_dwell_s",
    "month",  # 0 = January
    "returning_visitor",
    "weekend",
)

SHOPPERS_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "June",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)

# What redis-py returns for HGETALL (bytes, or str with decode_responses) or a plain dict.
RawHash = (
    Mapping[str, str | bytes]
    | Mapping[bytes, bytes]
    | Mapping[str, str]
    | Mapping[bytes | str, bytes | str]
)


@dataclass(frozen=True, slots=True)
class SessionCounts:
    admin_pages: float
    info_pages: float
    product_pages: float
    product_dwell_s: float
    month: int
    returning_visitor: bool
    weekend: bool


def feature_vector(counts: SessionCounts) -> npt.NDArray[np.float64]:
    """The model input, in the order of :data:`ONLINE_FEATURES`."""
    return np.array(
        [
            counts.admin_pages,
            counts.info_pages,
            counts.product_pages,
            counts.product_dwell_s,
            float(counts.month),
            1.0 if counts.returning_visitor else 0.0,
            1.0 if counts.weekend else 0.0,
        ],
        dtype=np.float64,
    )


# ---- offline: an online-shoppers row -------------------------------------------------------
def counts_from_shoppers_row(row: Mapping[str, object]) -> SessionCounts:
    month = str(row["Month"])
    weekend = row["Weekend"]
    return SessionCounts(
        admin_pages=float(row["Administrative"]),  # type: ignore[arg-type]
        info_pages=float(row["Informational"]),  # type: ignore[arg-type]
        product_pages=float(row["ProductRelated"]),  # type: ignore[arg-type]
        product_dwell_s=float(row["ProductRelated_Duration"]),  # type: ignore[arg-type]
        month=SHOPPERS_MONTHS.index(month),
        returning_visitor=str(row["VisitorType"]) == "Returning_Visitor",
        weekend=weekend is True or str(weekend).upper() == "TRUE",
    )


def shoppers_row_features(row: Mapping[str, object]) -> npt.NDArray[np.float64]:
    return feature_vector(counts_from_shoppers_row(row))


# ---- online: the live session hash (+ profile hash) ----------------------------------------
def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode_hash(raw: RawHash | None) -> dict[str, str]:
    """A Redis hash as returned by redis-py (bytes or str keys/values) as ``str -> str``."""
    if not raw:
        return {}
    return {_text(k): _text(v) for k, v in raw.items()}


def _getter(raw: RawHash | None) -> Callable[[str], float]:
    """Numeric field reader over a raw hash with bytes or str keys, without decoding all of it
    (the hot path reads ~10 fields of a hash that can hold dozens)."""
    if not raw:
        return lambda key: 0.0
    as_bytes = isinstance(next(iter(raw)), bytes)
    table: Mapping[Any, Any] = raw

    def get(key: str) -> float:
        value = table.get(key.encode() if as_bytes else key)
        if value is None or value == "" or value == b"":
            return 0.0
        try:
            return float(value)
        except ValueError:
            return 0.0  # a malformed counter must not break a decision

    return get


def counts_from_session(session: RawHash, profile: RawHash | None) -> SessionCounts:
    """Reduce a session hash (and profile hash), bytes or str, to :class:`SessionCounts`."""
    s = _getter(session)
    first_ts = s("first_ts")
    when = time.gmtime(first_ts) if 0 < first_ts < 4_102_444_800 else None  # before 2100
    return SessionCounts(
        admin_pages=sum(s(f"pt:{t}") for t in ADMIN_PAGE_TYPES),
        info_pages=sum(s(f"pt:{t}") for t in INFO_PAGE_TYPES),
        product_pages=sum(s(f"pt:{t}") for t in PRODUCT_PAGE_TYPES),
        product_dwell_s=sum(s(f"dw:{t}") for t in PRODUCT_PAGE_TYPES) / 1000.0,
        month=(when.tm_mon - 1) if when else 0,
        # The profile's session counter includes the current session.
        returning_visitor=_getter(profile)("sessions") >= 2,
        weekend=(when.tm_wday >= 5) if when else False,  # UTC calendar
    )


def session_features(session: RawHash, profile: RawHash | None = None) -> npt.NDArray[np.float64]:
    return feature_vector(counts_from_session(session, profile))
