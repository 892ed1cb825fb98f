"""The canonical event file reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from personalize.ml.events import EventFileError, read_events, write_events
from personalize.ml.interactions import build_interactions, parse_weights


def test_csv_with_iso_times_text_ids_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,timestamp,session_id,user_id,item_id,event_type,price,dwell_ms,order_id\n"
        "e2,2024-01-01T00:00:10Z,s1,,00123,add_to_cart,9.5,,o1\n"
        "e1,2024-01-01 00:00:00 UTC,s1,,00123,product_view,,40000,\n"
        "e3,1704067200.5,s0,u7,42,purchase,3,,o2\n"
    )
    log = read_events(path)
    assert log.session_id.tolist() == ["s0", "s1", "s1"]  # sorted by session, then time
    assert log.item_id.tolist() == ["42", "00123", "00123"]  # ids stay text
    assert log.timestamp.tolist() == [1_704_067_200.5, 1_704_067_200.0, 1_704_067_210.0]
    assert log.event_type.tolist() == ["purchase", "product_view", "add_to_cart"]
    assert log.user_id.tolist() == ["u7", "", ""]
    assert np.isnan(log.price[1]) and log.price[2] == 9.5
    assert log.dwell_ms[1] == 40_000
    assert log.quantity.tolist() == [1.0, 1.0, 1.0]


def test_parquet_export_with_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "export.parquet"
    pq.write_table(pa.table({
        "timestamp": [1_700_000_000.0, 1_700_000_005.0],
        "session_id": ["s", "s"], "user_id": [None, None], "item_id": ["a", "b"],
        "event_type": ["product_view", "product_view"],
        "customer_id": ["c1", "c1"], "decision_id": ["d", None], "offer_id": [None, None],
    }), path)
    log = read_events(path)
    assert log.item_id.tolist() == ["a", "b"] and log.user_id.tolist() == ["", ""]
    round_trip = tmp_path / "again.csv"
    write_events(log, round_trip)
    assert read_events(round_trip).item_id.tolist() == ["a", "b"]


def test_missing_columns_and_bad_times_are_explained(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,session_id,item_id\n1,s,a\n")
    with pytest.raises(EventFileError, match="missing column\\(s\\) user_id, event_type"):
        read_events(path)
    path.write_text("timestamp,session_id,user_id,item_id,event_type\nyesterday,s,,a,product_view\n")
    with pytest.raises(EventFileError, match="row 1: unreadable timestamp 'yesterday'"):
        read_events(path)


def test_weights_dwell_and_decay(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    day = 86_400
    path.write_text(
        "timestamp,session_id,user_id,item_id,event_type,dwell_ms\n"
        f"{1_700_000_000 + 30 * day},s1,,a,product_view,40000\n"  # long view: x2
        f"{1_700_000_000 + 30 * day},s1,,b,add_to_cart,\n"  # 4
        f"{1_700_000_000},s2,,a,purchase,\n"  # 8, 30 days old: x0.5
        f"{1_700_000_000},s2,,c,page_view,\n"  # no weight: dropped
    )
    inter = build_interactions(read_events(path), parse_weights("product_view=1,add_to_cart=4,purchase=8"),
                               half_life_days=30)
    assert inter.item_ids == ["a", "b"]
    matrix = inter.owner_item_matrix().toarray()
    # owners s1, s2 x items a, b
    np.testing.assert_allclose(matrix, [[2.0, 4.0], [4.0, 0.0]], rtol=1e-6)
    with pytest.raises(ValueError, match="must look like event_type=number"):
        parse_weights("view")


def test_other_tools_files_read_the_same_as_canonical_ones(tmp_path: Path) -> None:
    """A RetailRocket-style export (epoch milliseconds, view/addtocart/transaction) and a
    Parquet file with int64 microseconds read as the canonical seconds and types."""
    canonical = tmp_path / "canonical.csv"
    canonical.write_text(
        "timestamp,session_id,user_id,item_id,event_type\n"
        "1569888000,s1,u1,a,product_view\n1569888060.5,s1,u1,b,add_to_cart\n1569888120,s1,u1,b,purchase\n"
    )
    foreign = tmp_path / "retailrocket.csv"
    foreign.write_text(
        "timestamp,session_id,user_id,item_id,event_type\n"
        "1569888000000,s1,u1,a,view\n1569888060500,s1,u1,b,AddToCart\n1569888120000,s1,u1,b,Transaction\n"
    )
    micro = tmp_path / "micro.parquet"
    pq.write_table(pa.table({
        "timestamp": pa.array([1_569_888_000_000_000, 1_569_888_060_500_000, 1_569_888_120_000_000], pa.int64()),
        "session_id": ["s1"] * 3, "user_id": ["u1"] * 3, "item_id": ["a", "b", "b"],
        "event_type": ["Product Viewed", "Product Added", "Order Completed"],
    }), micro)
    expected = read_events(canonical)
    for path in (foreign, micro):
        log = read_events(path)
        assert log.timestamp.tolist() == expected.timestamp.tolist()
        assert log.event_type.tolist() == ["product_view", "add_to_cart", "purchase"]
    # unknown names are only normalised, so --weights can name them as listed
    path = tmp_path / "fav.csv"
    path.write_text("timestamp,session_id,user_id,item_id,event_type\n1,s,,a,Fav\n2,s,,b,pv\n")
    assert read_events(path).event_type.tolist() == ["fav", "product_view"]
    assert parse_weights("Fav=2, view=1") == {"fav": 2.0, "product_view": 1.0}
    with pytest.raises(ValueError, match="'view=lots': 'lots' is not a number"):
        parse_weights("view=lots")


def test_timestamps_that_are_no_date_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,session_id,user_id,item_id,event_type\n1569888000,s,,a,view\n1e30,s,,b,view\n")
    with pytest.raises(EventFileError, match="row 2: timestamp .* is not a date"):
        read_events(path)
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"timestamp": pa.array([1.0, None]), "session_id": ["s", "s"], "user_id": ["", ""],
                             "item_id": ["a", "b"], "event_type": ["view", "view"]}), empty)
    with pytest.raises(EventFileError, match="row 2: empty timestamp"):
        read_events(empty)


def test_rows_without_a_session_are_cut_into_visits_per_user(tmp_path: Path) -> None:
    path = tmp_path / "no-sessions.csv"
    path.write_text(
        "timestamp,session_id,user_id,item_id,event_type\n"
        "0,,u1,a,view\n600,,u1,b,view\n"      # 10 minutes apart: one visit
        "5000,,u1,c,view\n"                  # over 30 minutes later: the next visit
        "100,,u2,a,view\n"                   # another user
        "200,s9,u2,z,view\n"                 # a given session_id is kept
    )
    log = read_events(path)
    visits = set(zip(log.user_id.tolist(), log.item_id.tolist(), log.session_id.tolist(), strict=True))
    assert visits == {("u1", "a", "u1#1"), ("u1", "b", "u1#1"), ("u1", "c", "u1#2"), ("u2", "a", "u2#3"),
                      ("u2", "z", "s9")}
    path.write_text("timestamp,session_id,user_id,item_id,event_type\n0,,,a,view\n")
    with pytest.raises(EventFileError, match="neither session_id nor user_id"):
        read_events(path)
