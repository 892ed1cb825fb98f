"""Converters from the public data sets in ../shared/data to the canonical event file.

Each converter returns an :class:`EventLog`; ``personalize convert NAME SRC DST`` writes it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from personalize.ml.events import EventFileError, EventLog, _timestamps, make_log

# Tmall's split has positions, no times: synthetic, monotonic times keep the order
# (one hour per session, one second per position, from 2015-01-01).
TMALL_EPOCH = 1_420_070_400.0

_REES46_TYPES = {"view": "product_view", "cart": "add_to_cart", "purchase": "purchase",
                 "remove_from_cart": "remove_from_cart"}


# The columns each converter reads, and how the source separates them (for the error of a
# file that is not of that data set).
EXPECTED: dict[str, tuple[tuple[str, ...], str]] = {
    "yoochoose": (("SessionId", "ItemId", "Time"), "\t"),
    "tmall": (("session_id", "position", "item_id"), ","),
    "rees46": (("event_time", "event_type", "product_id", "category_id", "category_code", "price",
                "user_id", "user_session"), ","),
    "online-retail": (("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"), ","),
}


def _read_csv(path: Path, dataset: str, encoding: str = "utf8") -> pa.Table:
    """The source file as text columns, after checking it has the data set's columns."""
    expected, delimiter = EXPECTED[dataset]
    header = _header(path, delimiter, encoding)
    missing = [name for name in expected if name not in header]
    if missing:
        separated = "tab" if delimiter == "\t" else repr(delimiter)
        raise EventFileError(
            f"{path}: not a {dataset} file: the converter expects the columns {', '.join(expected)} "
            f"({separated}-separated); missing {', '.join(missing)}; the header has {', '.join(header)[:200]}"
        )
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=encoding),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            # Everything as text: ids must not turn into floats.
            convert_options=pacsv.ConvertOptions(auto_dict_encode=False, strings_can_be_null=False,
                                                 column_types=dict.fromkeys(header, pa.string())),
        )
    except pa.ArrowInvalid as exc:
        raise EventFileError(f"{path}: unreadable as a {dataset} file ({exc})") from exc


def _header(path: Path, delimiter: str, encoding: str) -> list[str]:
    if not path.is_file():
        raise EventFileError(f"{path}: no such file")
    try:
        with open(path, encoding=encoding) as handle:
            return handle.readline().rstrip("\r\n").split(delimiter)
    except UnicodeDecodeError as exc:
        raise EventFileError(f"{path}: not {encoding} text ({exc.reason} at byte {exc.start})") from exc


def _numbers(table: pa.Table, name: str, kind: pa.DataType, path: Path) -> np.ndarray:
    try:
        return np.asarray(pc.cast(table.column(name), kind).to_numpy(zero_copy_only=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EventFileError(f"{path}: column {name} must be numeric ({exc})") from exc


def _col(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=object)


def convert_yoochoose(src: Path) -> EventLog:
    """session-rec's RSC15 files: tab-separated ``SessionId ItemId Time`` (clicks = views)."""
    table = _read_csv(src, "yoochoose")
    return make_log(
        timestamp=_timestamps(table.column("Time")),
        session_id=_col(table, "SessionId"),
        item_id=_col(table, "ItemId"),
        event_type="product_view",
    )


def convert_tmall(src: Path) -> EventLog:
    """Tmall ``train_sessions.csv`` (session_id, position, item_id); times are synthetic."""
    table = _read_csv(src, "tmall")
    session = np.asarray(_numbers(table, "session_id", pa.int64(), src), dtype=np.float64)
    position = np.asarray(_numbers(table, "position", pa.int64(), src), dtype=np.float64)
    return make_log(
        timestamp=TMALL_EPOCH + session * 3600.0 + position,
        session_id=_col(table, "session_id"),
        item_id=_col(table, "item_id"),
        event_type="product_view",
    )


def convert_rees46(src: Path) -> EventLog:
    """REES46 ``event_time,event_type,product_id,category_id,category_code,brand,price,...``."""
    table = _read_csv(src, "rees46")
    kinds = np.asarray([_REES46_TYPES.get(k, k) for k in _col(table, "event_type")], dtype=object)
    code = _col(table, "category_code")
    category_id = _col(table, "category_id")
    category = np.where(code != "", code, category_id)
    price = _numbers(table, "price", pa.float64(), src)
    return make_log(
        timestamp=_timestamps(table.column("event_time")),
        session_id=_col(table, "user_session"),
        user_id=_col(table, "user_id"),
        item_id=_col(table, "product_id"),
        event_type=kinds,
        price=price,
        category=category,
    )


def convert_online_retail(src: Path) -> EventLog:
    """UCI Online Retail lines: one purchase event per line, invoice = session; cancellations
    (invoice starting with C) and non-positive quantities are dropped."""
    table = _read_csv(src, "online-retail", encoding="latin1")
    invoice = _col(table, "InvoiceNo")
    quantity = np.asarray(_numbers(table, "Quantity", pa.float64(), src), dtype=np.float64)
    keep = np.asarray([not str(inv).startswith("C") for inv in invoice]) & (quantity > 0)
    customer = np.asarray([c.removesuffix(".0") for c in _col(table, "CustomerID")],
                          dtype=object)
    rows = np.flatnonzero(keep)
    table = table.take(pa.array(rows))
    return make_log(
        timestamp=_timestamps(table.column("InvoiceDate")),
        session_id=invoice[rows],
        user_id=customer[rows],
        item_id=_col(table, "StockCode"),
        event_type="purchase",
        price=_numbers(table, "UnitPrice", pa.float64(), src),
        quantity=quantity[rows],
    )


CONVERTERS: dict[str, Callable[[Path], EventLog]] = {
    "yoochoose": convert_yoochoose,
    "tmall": convert_tmall,
    "rees46": convert_rees46,
    "online-retail": convert_online_retail,
}


def convert(dataset: str, src: Path) -> EventLog:
    """``CONVERTERS[dataset](src)``, every error naming ``src``."""
    try:
        return CONVERTERS[dataset](src)
    except EventFileError as exc:
        if str(exc).startswith(str(src)):
            raise
        raise EventFileError(f"{src}: {exc}") from exc
