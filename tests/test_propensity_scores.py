"""Per-customer scores from a canonical event file, written to Redis and read back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import redis
import typer
from typer.testing import CliRunner

from personalize.cli.propensity import register
from personalize.propensity.customer_scores import CustomerScore, score_customers, write_scores
from personalize.propensity.event_log import read_event_log
from personalize.propensity.scores import BatchScores, parse_scores
from personalize.propensity.serving import PurchasePropensity
from personalize.propensity.shipping import ShippingCounts
from personalize.store.keys import Keys
from tests.helpers import hash_fields

DAY = 86_400
FIXTURE = Path(__file__).parent / "fixtures" / "propensity" / "online_shoppers_slice.csv"
T0 = 1_700_000_000  # 2023-11-14


def write_events(path: Path) -> None:
    rows: list[dict[str, object]] = []

    def add(
        ts: float,
        sid: str,
        user: str,
        kind: str,
        price: float = 0.0,
        order: str = "",
        fee: str = "",
        customer: str = "",
    ) -> None:
        rows.append(
            {
                "timestamp": ts,
                "session_id": sid,
                "user_id": user,
                "item_id": "i1",
                "event_type": kind,
                "price": price,
                "quantity": 2,
                "order_id": order,
                "shipping_fee": fee,
                "customer_id": customer,
                "brand": "ignored",
            }
        )

    # u:1 pays shipping on 3 orders on 3 days (two lines in the first order).
    for k, day in enumerate((0, 10, 20)):
        add(T0 + day * DAY, f"s1{k}", "1", "product_view", 5.0)
        add(T0 + day * DAY + 60, f"s1{k}", "1", "purchase", 10.0, f"o1{k}", "4.95")
    add(T0 + 61, "s10", "1", "purchase", 1.0, "o10", "4.95")
    # u:2 buys twice with free shipping, and abandons one charged checkout.
    add(T0 + 1 * DAY, "s20", "2", "purchase", 20.0, "o20", "0")
    add(T0 + 2 * DAY, "s21", "2", "purchase", 20.0, "o21", "0")
    add(T0 + 3 * DAY, "s22", "2", "checkout_started", 0.0, "", "5.0")
    # u:3: a charged checkout followed by a purchase in the session: not abandoned.
    add(T0 + 5 * DAY, "s30", "3", "checkout_started", 0.0, "", "5.0")
    add(T0 + 5 * DAY + 30, "s30", "3", "purchase", 30.0, "o30", "5.0")
    # An anonymous visitor known only by customer_id; a row with neither id is skipped.
    add(T0 + 6 * DAY, "s40", "", "checkout_started", 0.0, "", "3.0", "a:anon")
    add(T0 + 30 * DAY, "s50", "", "product_view", 1.0)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_event_log_counts_orders_and_abandoned_charged_checkouts(tmp_path: Path) -> None:
    write_events(tmp_path / "events.csv")
    log = read_event_log(tmp_path / "events.csv")
    assert (log.rows, log.skipped_rows, log.has_shipping) == (14, 1, True)
    assert sorted(log.customers) == ["a:anon", "u:1", "u:2", "u:3"]
    u1 = log.customers["u:1"]
    assert len(u1.orders) == 3 and u1.orders["o10"].value == pytest.approx(2 * 10.0 + 2 * 1.0)
    assert [p.day for p in sorted(u1.purchases(), key=lambda p: p.day)] == [
        (T0 + d * DAY + 60) // DAY for d in (0, 10, 20)
    ]
    assert u1.shipping_counts() == ShippingCounts(orders_paid=3)
    assert log.customers["u:2"].shipping_counts() == ShippingCounts(
        orders_free=2, abandoned_charged=1
    )
    assert log.customers["u:3"].shipping_counts() == ShippingCounts(orders_paid=1)
    assert log.customers["a:anon"].shipping_counts() == ShippingCounts(abandoned_charged=1)


def test_scores_are_written_to_redis_and_read_back(tmp_path: Path, redis_sync: redis.Redis) -> None:
    write_events(tmp_path / "events.csv")
    result = score_customers(read_event_log(tmp_path / "events.csv"), horizon_days=90)
    assert not result.bgnbd_fitted  # 2 repeat buyers: CDNOW parameters, flagged
    by_id = {s.customer_id: s for s in result.scores}
    assert by_id["a:anon"].p_buy_again is None  # never bought
    assert by_id["u:1"].p_buy_again is not None and by_id["u:2"].p_buy_again is not None
    assert by_id["u:1"].churn_risk == pytest.approx(1 - by_id["u:1"].p_buy_again)
    sensitivity = {c: s.shipping_sensitivity or 0.0 for c, s in by_id.items()}
    assert 0.0 < sensitivity["u:1"] < sensitivity["u:3"] < sensitivity["u:2"] < 1.0

    keys = Keys("pzt")
    assert write_scores(redis_sync, keys, result.scores, version="v7", scored_at=T0) == 4
    stored = {k.decode(): v.decode() for k, v in hash_fields(redis_sync, keys.scores("u:1")).items()}
    assert set(stored) == {
        "p_buy_again",
        "expected_purchases",
        "churn_risk",
        "p_alive",
        "shipping_sensitivity",
        "shipping_paid_ratio",
        "shipping_evidence",
        "version",
        "scored_at",
    }
    assert stored["version"] == "v7" and float(stored["scored_at"]) == T0
    assert float(stored["p_buy_again"]) == pytest.approx(by_id["u:1"].p_buy_again, abs=1e-6)
    assert stored["shipping_evidence"] == "3"
    parsed = parse_scores(redis_sync.hgetall(keys.scores("u:1")))
    assert parsed.version == "v7" and parsed.shipping_evidence == 3
    assert parsed.p_buy_again == pytest.approx(by_id["u:1"].p_buy_again, abs=1e-6)
    assert parse_scores({}) == BatchScores()
    assert parse_scores({"p_buy_again": "oops"}).p_buy_again is None
    anon = redis_sync.hgetall(keys.scores("a:anon"))
    assert b"p_buy_again" not in anon and float(anon[b"shipping_sensitivity"]) > 0

    # A later run without a score for a field removes it: a hash never mixes versions.
    write_scores(
        redis_sync,
        keys,
        [CustomerScore("u:1", shipping_sensitivity=0.5)],
        version="v8",
        scored_at=T0 + 1,
    )
    again = redis_sync.hgetall(keys.scores("u:1"))
    assert again[b"version"] == b"v8" and b"p_buy_again" not in again


def test_write_scores_pipelines_in_chunks(redis_sync: redis.Redis) -> None:
    keys = Keys("pzc")
    chunks: list[int] = []
    scores = [CustomerScore(f"u:{i}", shipping_sensitivity=i / 2500) for i in range(2500)]
    assert (
        write_scores(redis_sync, keys, scores, version="v", scored_at=1.0, on_chunk=chunks.append)
        == 2500
    )
    assert chunks == [1000, 1000, 500]
    assert len(list(redis_sync.scan_iter(match="pzc:*:ps", count=1000))) == 2500
    assert redis_sync.hget(keys.scores("u:2499"), "shipping_sensitivity") == b"0.999600"


def test_cli_trains_writes_an_artifact_and_scores(
    tmp_path: Path, redis_url: str, redis_sync: redis.Redis
) -> None:
    write_events(tmp_path / "events.csv")
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps typer in multi-command mode
        pass

    out = tmp_path / "models" / "propensity" / "v9"
    args = [
        "train-propensity",
        "--online-shoppers",
        str(FIXTURE),
        "--events",
        str(tmp_path / "events.csv"),
    ]
    result = CliRunner().invoke(
        app, [*args, "--redis-url", redis_url, "--out", str(out), "--prefix", "pzcli"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 4 score hashes" in result.output and "(serving)" in result.output
    assert redis_sync.hget(Keys("pzcli").scores("u:2"), "version") == b"v9"
    assert PurchasePropensity.load(out).version == "v9"  # report.json is covered by the manifest
    assert "customers" in json.loads((out / "report.json").read_text())

    no_input = CliRunner().invoke(app, ["train-propensity"])
    assert no_input.exit_code != 0
    out_without_model = CliRunner().invoke(
        app,
        [
            "train-propensity",
            "--events",
            str(tmp_path / "events.csv"),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert out_without_model.exit_code != 0 and not (tmp_path / "x").exists()
