"""The canonical event file read by ``personalize train`` and ``personalize evaluate``.

Format: CSV (header row, comma-separated, UTF-8; names matched case-insensitively) or Parquet (``.parquet`` / ``.pq``), one row per
storefront event:

=============  ========  ===================================================================
column         required  meaning
=============  ========  ===================================================================
timestamp      yes       unix seconds (float) or ISO-8601 (``2019-10-01T00:00:00Z``,
                         ``2019-10-01 00:00:00 UTC``; a time without zone is read as UTC).
                         Epoch milliseconds, microseconds or nanoseconds are recognised by
                         their size (the column's median) and converted to seconds; a
                         number in another unit than the column's is an error. Parquet
                         timestamp and date columns are read as such (a date: midnight UTC)
session_id     yes       visit identifier; events of one visit share it. Where it is empty
                         (or the column is absent), the user's events are cut into visits at
                         30 minutes of inactivity
user_id        yes       known customer id, may be empty for anonymous visitors
item_id        yes       product id (read as text, ``00123`` stays ``00123``)
event_type     yes       product_view, image_zoom, video_play, add_to_cart, purchase, ...
                         (see ``personalize.domain.events.EVENT_TYPES``); other tools' names
                         for the same events are mapped (``EVENT_TYPE_ALIASES``: view, pv,
                         addtocart, cart, transaction, buy, "Product Viewed", ...); rows
                         without an item or with a type that has no training weight are
                         ignored by training
price          no        unit price
quantity       no        units (cart adds, purchase lines)
dwell_ms       no        time on the product page in milliseconds (dwell-weights views)
category       no        product category (enables per-category popularity)
=============  ========  ===================================================================

Any other column is ignored, so the Parquet written by ``personalize export-events`` (which adds
event_id, customer_id, order_id, decision_id, offer_id) is read as is. Converters for the public
data sets live in :mod:`personalize.ml.convert`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

REQUIRED_COLUMNS: tuple[str, ...] = ("timestamp", "session_id", "user_id", "item_id", "event_type")
OPTIONAL_COLUMNS: tuple[str, ...] = ("price", "quantity", "dwell_ms", "category")
CANONICAL_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_TEXT_COLUMNS = ("session_id", "user_id", "item_id", "event_type", "category")

StrArray = npt.NDArray[np.object_]
FloatArray = npt.NDArray[np.float64]

# Other vocabularies for the same events (RetailRocket, REES46, Taobao, GA4, Segment, ...),
# matched after lower-casing and turning spaces and hyphens into underscores.
EVENT_TYPE_ALIASES: dict[str, str] = {
    **dict.fromkeys(("view", "views", "pv", "click", "clicks", "detail", "detail_view", "item_view",
                     "view_item", "product_detail", "product_viewed", "viewed"), "product_view"),
    **dict.fromkeys(("addtocart", "add_cart", "cart", "cart_add", "added_to_cart", "add_to_basket",
                     "product_added"), "add_to_cart"),
    **dict.fromkeys(("removefromcart", "remove_cart", "cart_remove", "product_removed"), "remove_from_cart"),
    **dict.fromkeys(("transaction", "buy", "order", "order_completed", "purchased", "sale", "checkout_completed"),
                    "purchase"),
}
SESSION_GAP_S = 1800.0  # inactivity that ends a visit, for rows without a session_id
# Seconds since 1970 stay below 1e11 until the year 5138; milliseconds pass it in 1973.
_EPOCH_UNITS = ((1e17, 1e9, "nanoseconds"), (1e14, 1e6, "microseconds"), (1e11, 1e3, "milliseconds"))
_LAST_SECOND = 253_402_300_799.0  # 9999-12-31T23:59:59Z
_UNIT_BOUNDS = (0.0, 1e11, 1e14, 1e17, float("inf"))  # |value| band of seconds, ms, us, ns


class EventFileError(ValueError):
    """The event file is missing a column or holds a value that cannot be read."""


@dataclass(frozen=True, slots=True)
class EventLog:
    """Events as parallel numpy columns, sorted by (session_id, timestamp) stably."""

    timestamp: FloatArray
    session_id: StrArray
    user_id: StrArray  # "" when anonymous
    item_id: StrArray  # "" when the event has no item
    event_type: StrArray
    price: FloatArray  # nan when absent
    quantity: FloatArray  # 1 when absent
    dwell_ms: FloatArray  # nan when absent
    category: StrArray  # "" when absent

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    def take(self, rows: npt.NDArray[np.intp]) -> EventLog:
        return EventLog(*(getattr(self, name)[rows] for name in CANONICAL_COLUMNS))


def _parse_iso(value: str) -> float:
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def plain(value: float) -> str:
    """A number for a message: ``1700000000`` or ``1.5e+40``, never ``np.float64(...)``."""
    return f"{float(value):.15g}"


def _timestamps(column: pa.ChunkedArray) -> FloatArray:
    if pa.types.is_date(column.type):
        column = pc.cast(column, pa.timestamp("s", tz="UTC"))  # a date is its midnight UTC
    if pa.types.is_timestamp(column.type):
        if column.null_count:
            raise EventFileError(f"row {_first_null(column) + 1}: empty timestamp")
        seconds = pc.divide(pc.cast(pc.cast(column, pa.timestamp("us")), pa.int64()), 1_000_000.0)
        return np.asarray(seconds.to_numpy(zero_copy_only=False), dtype=np.float64)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        if column.null_count:
            raise EventFileError(f"row {_first_null(column) + 1}: empty timestamp")
        values = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        return _epoch_seconds(values, np.ones(values.shape[0], dtype=bool))
    texts = column.to_pylist()
    out = np.empty(len(texts), dtype=np.float64)
    numeric = np.zeros(len(texts), dtype=bool)
    for row, text in enumerate(texts):
        if text is None or text == "":
            raise EventFileError(f"row {row + 1}: empty timestamp")
        try:
            out[row] = float(text)
            numeric[row] = True
        except ValueError:
            try:
                out[row] = _parse_iso(str(text))
            except (ValueError, OverflowError) as exc:
                raise EventFileError(f"row {row + 1}: unreadable timestamp {text!r}") from exc
    return _epoch_seconds(out, numeric)


def _first_null(column: pa.ChunkedArray) -> int:
    return int(np.flatnonzero(np.asarray(pc.is_null(column).to_numpy(zero_copy_only=False)))[0])


def _epoch_seconds(values: FloatArray, numeric: npt.NDArray[np.bool_]) -> FloatArray:
    """Numeric epoch times in seconds: a column in milliseconds (or finer) is recognised by
    its median and scaled as a whole; every number must be of that unit (a column mixing
    seconds and milliseconds would otherwise be mis-scaled in part), then a real date."""
    raw = values
    # A number that is no date in any unit is reported as such, before it skews the median.
    _refuse_non_dates(raw, np.abs(raw) > _LAST_SECOND * _EPOCH_UNITS[0][1])
    if numeric.any():
        magnitude = np.abs(values[numeric])
        median = float(np.median(magnitude))
        unit = next((u for u, (above, _, _) in enumerate(_EPOCH_UNITS) if median >= above), len(_EPOCH_UNITS))
        # _EPOCH_UNITS runs from ns to ms; band 0 is seconds, 3 nanoseconds.
        band = len(_EPOCH_UNITS) - unit
        low, high = _UNIT_BOUNDS[band], _UNIT_BOUNDS[band + 1]
        finite = np.isfinite(magnitude)
        misfit = np.flatnonzero(numeric)[finite & ((magnitude < low) | (magnitude >= high))]
        if misfit.size:
            name = ("seconds", "milliseconds", "microseconds", "nanoseconds")
            row = int(misfit[0])
            raise EventFileError(
                f"row {row + 1}: timestamp {plain(raw[row])} is in another unit than the column's "
                f"{name[band]} (told by its median, {plain(median)}): give every time in one unit"
            )
        if unit < len(_EPOCH_UNITS):
            values = values.copy()
            values[numeric] /= _EPOCH_UNITS[unit][1]
    _refuse_non_dates(raw, np.abs(values) > _LAST_SECOND)
    return values


def _refuse_non_dates(raw: FloatArray, beyond: npt.NDArray[np.bool_]) -> None:
    bad = np.flatnonzero(~np.isfinite(raw) | beyond)
    if bad.size:
        raise EventFileError(
            f"row {int(bad[0]) + 1}: timestamp {plain(raw[bad[0]])} is not a date (expected unix seconds, "
            "milliseconds or ISO-8601)"
        )


def canonical_event_type(name: str) -> str:
    """A canonical event type for another tool's name of it; other names are normalised the
    same way (lower case, underscores), so ``--weights`` can name them as listed."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return EVENT_TYPE_ALIASES.get(key, key)


def _event_types(table: pa.Table) -> StrArray:
    raw = _text(table, "event_type")
    names, inverse = np.unique(raw.astype(str), return_inverse=True)
    mapped = np.asarray([canonical_event_type(n) for n in names.tolist()], dtype=object)
    return np.asarray(mapped[inverse], dtype=object)


def _sessionize(log: EventLog) -> EventLog:
    """Rows without a session_id get one: the user's events split at SESSION_GAP_S of
    inactivity (``<user_id>#<n>``). A row with neither id cannot be placed: an error."""
    empty = np.flatnonzero(log.session_id == "")
    if empty.size == 0:
        return log
    users = log.user_id[empty]
    orphan = np.flatnonzero(users == "")
    if orphan.size:
        raise EventFileError(
            f"{orphan.size:,} row(s) have neither session_id nor user_id (e.g. an event at "
            f"timestamp {plain(log.timestamp[empty[orphan[0]]])}): give one of them"
        )
    order = np.lexsort((log.timestamp[empty], users.astype(str)))
    rows, sorted_users = empty[order], users[order]
    times = log.timestamp[rows]
    starts = np.ones(rows.size, dtype=bool)
    starts[1:] = (sorted_users[1:] != sorted_users[:-1]) | (np.diff(times) > SESSION_GAP_S)
    number = np.cumsum(starts)
    session_id = log.session_id.copy()
    session_id[rows] = [f"{u}#{n}" for u, n in zip(sorted_users.tolist(), number.tolist(), strict=True)]
    return EventLog(log.timestamp, session_id, *(getattr(log, name) for name in CANONICAL_COLUMNS[2:]))


def _text(table: pa.Table, name: str) -> StrArray:
    if name not in table.column_names:
        return np.full(table.num_rows, "", dtype=object)
    # " 42" and "42" are one item: spaces around ids come from hand-made exports.
    column = pc.utf8_trim_whitespace(pc.fill_null(pc.cast(table.column(name), pa.string()), ""))
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


def _number(table: pa.Table, name: str, default: float) -> FloatArray:
    if name not in table.column_names:
        return np.full(table.num_rows, default, dtype=np.float64)
    column = table.column(name)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    try:
        values = pc.fill_null(pc.cast(column, pa.float64()), default)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EventFileError(f"column {name!r} must be numeric: {exc}") from exc
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def _csv_header(path: Path) -> list[str]:
    """The header's names, after checking the file is comma-separated UTF-8 text."""
    with open(path, "rb") as handle:
        first = handle.readline()
    try:
        line = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise EventFileError(_NOT_UTF8.format(path=path)) from None
    if "," not in line:
        for separator, name in ((";", "';'"), ("\t", "tab")):
            if separator in line:
                raise EventFileError(
                    f"{path}: the header looks {name}-separated ({line[:80]!r}); the CSV must be "
                    "comma-separated (or give a .parquet file)"
                )
    return [name.strip().strip('"') for name in line.split(",")]


_NOT_UTF8 = "{path}: not UTF-8 text; the event file must be UTF-8 (re-encode it, e.g. from Latin-1: iconv -f latin1 -t utf-8)"


def _canonical_name(name: str) -> str:
    """``Session_ID`` -> ``session_id``: headers are matched case-insensitively."""
    key = name.strip().lower()
    return key if key in CANONICAL_COLUMNS else name


def read_table(path: Path) -> pa.Table:
    """Read a CSV or Parquet event file as an Arrow table (text columns kept as text)."""
    if not path.is_file():
        raise EventFileError(f"{path}: no such file")
    if path.suffix.lower() in {".parquet", ".pq"}:
        try:
            return pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise EventFileError(f"{path}: not a readable Parquet file ({exc})") from exc
    if path.stat().st_size == 0:
        raise EventFileError(f"no events in {path}: the file is empty")
    # Ids must stay text: "00123" is not 123, and int64 would overflow some shops' ids.
    text = {*_TEXT_COLUMNS, "timestamp"}
    types = {name: pa.string() for name in _csv_header(path) if _canonical_name(name) in text}
    try:
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            raise EventFileError(_NOT_UTF8.format(path=path)) from exc
        raise EventFileError(f"{path}: not a readable CSV file ({exc})") from exc


def events_from_table(table: pa.Table, source: str = "events") -> EventLog:
    """Canonical events from a table; every error names ``source``."""
    try:
        return _events_from_table(table, source)
    except EventFileError as exc:
        if str(exc).startswith(source):
            raise
        raise EventFileError(f"{source}: {exc}") from exc


def _events_from_table(table: pa.Table, source: str) -> EventLog:
    names = [_canonical_name(n) if _canonical_name(n) not in table.column_names else n for n in table.column_names]
    if len(set(names)) == len(names):
        table = table.rename_columns(names)
    # No session_id column at all is a file of empty session ids: cut into visits per user.
    needed = [n for n in REQUIRED_COLUMNS if n != "session_id" or "user_id" not in table.column_names]
    missing = [name for name in needed if name not in table.column_names]
    if missing:
        raise EventFileError(
            f"{source}: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(REQUIRED_COLUMNS)} (+ optional {', '.join(OPTIONAL_COLUMNS)})"
        )
    if table.num_rows == 0:
        raise EventFileError(f"no events in {source}: it has a header but no rows")
    log = EventLog(
        timestamp=_timestamps(table.column("timestamp")),
        session_id=_text(table, "session_id"),
        user_id=_text(table, "user_id"),
        item_id=_text(table, "item_id"),
        event_type=_event_types(table),
        price=_number(table, "price", float("nan")),
        quantity=_number(table, "quantity", 1.0),
        dwell_ms=_number(table, "dwell_ms", float("nan")),
        category=_text(table, "category"),
    )
    log = _sessionize(log)
    # Stable sort keeps file order for equal timestamps (Tmall has positions, not times).
    order = np.lexsort((log.timestamp, log.session_id.astype(str)))
    return log.take(order)


def read_events(path: Path | str) -> EventLog:
    """Read a canonical event file (CSV or Parquet); unknown extra columns are ignored."""
    path = Path(path)
    return events_from_table(read_table(path), source=str(path))


def events_to_table(log: EventLog) -> pa.Table:
    return pa.table(
        {
            "timestamp": pa.array(log.timestamp, pa.float64()),
            "session_id": pa.array(log.session_id.tolist(), pa.string()),
            "user_id": pa.array(log.user_id.tolist(), pa.string()),
            "item_id": pa.array(log.item_id.tolist(), pa.string()),
            "event_type": pa.array(log.event_type.tolist(), pa.string()),
            "price": pa.array(log.price, pa.float64(), from_pandas=True),  # NaN -> empty
            "quantity": pa.array(log.quantity, pa.float64()),
            "dwell_ms": pa.array(log.dwell_ms, pa.float64(), from_pandas=True),  # NaN -> empty
            "category": pa.array(log.category.tolist(), pa.string()),
        }
    )


def write_events(log: EventLog, path: Path | str) -> None:
    """Write canonical events; ``.parquet``/``.pq`` gives Parquet, anything else CSV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = events_to_table(log)
    if path.suffix.lower() in {".parquet", ".pq"}:
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)


def make_log(
    timestamp: npt.ArrayLike,
    session_id: npt.ArrayLike,
    item_id: npt.ArrayLike,
    event_type: npt.ArrayLike | str = "product_view",
    user_id: npt.ArrayLike | None = None,
    price: npt.ArrayLike | None = None,
    quantity: npt.ArrayLike | None = None,
    dwell_ms: npt.ArrayLike | None = None,
    category: npt.ArrayLike | None = None,
) -> EventLog:
    """Build an EventLog from columns (missing optional columns get their defaults)."""
    ts = np.asarray(timestamp, dtype=np.float64)
    n = ts.shape[0]

    def text(values: npt.ArrayLike | str | None) -> StrArray:
        if values is None:
            return np.full(n, "", dtype=object)
        if isinstance(values, str):
            return np.full(n, values, dtype=object)
        return np.asarray([str(v) for v in np.asarray(values).tolist()], dtype=object)

    def number(values: npt.ArrayLike | None, default: float) -> FloatArray:
        if values is None:
            return np.full(n, default, dtype=np.float64)
        return np.asarray(values, dtype=np.float64)

    log = EventLog(
        timestamp=ts,
        session_id=text(session_id),
        user_id=text(user_id),
        item_id=text(item_id),
        event_type=text(event_type),
        price=number(price, float("nan")),
        quantity=number(quantity, 1.0),
        dwell_ms=number(dwell_ms, float("nan")),
        category=text(category),
    )
    order = np.lexsort((log.timestamp, log.session_id.astype(str)))
    return log.take(order)


def duplicate_rows(log: EventLog) -> npt.NDArray[np.bool_]:
    """Rows equal in every canonical column to an earlier row (the first one is not marked).

    Logged twice (a retried tracker call, a doubled export), such a row would count twice in
    training and make a trivial "next item = this item" test case.
    """
    n = len(log)
    if n < 2:
        return np.zeros(n, dtype=bool)
    columns = [getattr(log, name) for name in CANONICAL_COLUMNS]
    keys = [c.astype(str) if c.dtype == object else c for c in columns]
    order = np.lexsort([np.arange(n), *keys])  # equal rows adjacent, earliest first
    same = np.ones(n - 1, dtype=bool)
    for column in columns:
        a, b = column[order[1:]], column[order[:-1]]
        equal = a == b
        if column.dtype != object:
            equal |= np.isnan(a) & np.isnan(b)  # two empty prices are equal
        same &= equal
    marked = np.zeros(n, dtype=bool)
    marked[order[1:][same]] = True
    return marked
