"""The report commands end to end: HTML/JSON report, exports, OPE and the OBD validation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pyarrow.parquet as pq
import redis
from typer.testing import CliRunner

from personalize.cli.main import app

runner = CliRunner()
FIXTURE_OBD = Path(__file__).parent / "fixtures" / "reports" / "obd"


def test_simulated_report_is_self_contained(tmp_path: Path) -> None:
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    res = runner.invoke(app, ["report", "--simulated", "--out", str(html), "--json", str(js)])
    assert res.exit_code == 0, res.output
    page = html.read_text()
    assert "SYNTHETIC DATA" in page and page.count("<svg") >= 8
    assert not re.search(r"(src|href)=[\"']?https?:", page)  # no external fetches
    for section in (
        "Conversion and revenue per day",
        "Offers",
        "Attributed revenue",
        "Experiment exp-recs-v2",
        "treated vs holdout",
        "Off-policy evaluation",
    ):
        assert section in page
    data = json.loads(
        js.read_text(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c))
    )  # no NaN
    assert data["synthetic"] is True
    arms = {a["arm"]: a for a in data["experiments"][0]["arms"]}
    assert (
        arms["treatment"]["lift"]["conversion_rate_rel"]["low"]
        < 0.25
        < arms["treatment"]["lift"]["conversion_rate_rel"]["high"]
    )


def test_report_from_exported_files_matches(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    assert (
        runner.invoke(
            app, ["report", "simulate", "--out-dir", str(out), "--visitors", "600"]
        ).exit_code
        == 0
    )
    js = tmp_path / "r.json"
    res = runner.invoke(
        app,
        [
            "report",
            "--from",
            str(out / "events.parquet"),
            "--from",
            str(out / "decisions.parquet"),
            "--experiments",
            str(out / "experiments.json"),
            "--out",
            str(tmp_path / "r.html"),
            "--json",
            str(js),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(js.read_text())
    assert data["counts"]["decisions"] == pq.read_metadata(out / "decisions.parquet").num_rows
    assert sum(a["visitors"] for a in data["experiments"][0]["arms"]) == 600


def test_ope_commands(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "report",
            "ope",
            "--simulated",
            "--policy",
            "greedy",
            "--policy",
            "uniform",
            "--replicates",
            "50",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "SNIPS" in res.output and "SYNTHETIC truth" in res.output
    js = tmp_path / "obd.json"
    res = runner.invoke(
        app,
        [
            "report",
            "ope-obd",
            "--data",
            str(FIXTURE_OBD),
            "--campaign",
            "men",
            "--replicates",
            "50",
            "--json",
            str(js),
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(js.read_text())[0]["random_clicks"] == 13


def test_export_commands(redis_url: str, redis_sync: redis.Redis, tmp_path: Path) -> None:
    redis_sync.xadd(
        "cli:stream:events",
        {
            "c": "u:1",
            "e": msgspec.json.encode(
                {"type": "page_view", "event_id": "e1", "timestamp": 1.8e9, "user_id": "1"}
            ),
        },
    )
    redis_sync.xadd(
        "cli:stream:decisions", {"d": b'{"decision_id":"d1","timestamp":1.8e9,"customer_id":"u:1"}'}
    )
    for cmd, name in (("export-events", "ev.parquet"), ("export-decisions", "de.parquet")):
        res = runner.invoke(
            app, [cmd, "--out", str(tmp_path / name), "--redis-url", redis_url, "--prefix", "cli"]
        )
        assert res.exit_code == 0, res.output
        assert pq.read_metadata(tmp_path / name).num_rows == 1


def test_experiments_command(redis_url: str, redis_sync: redis.Redis, tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    args = ["--redis-url", redis_url, "--prefix", "cli"]
    res = runner.invoke(
        app, ["report", "simulate", "--out-dir", str(sim), "--visitors", "300", "--to-redis", *args]
    )
    assert res.exit_code == 0, res.output
    assert redis_sync.xlen("cli:stream:decisions") > 300
    res = runner.invoke(
        app,
        [
            "report",
            "experiments",
            "--put",
            str(sim / "experiments.json"),
            "--results",
            "exp-recs-v2",
            *args,
        ],
    )
    assert res.exit_code == 0, res.output
    assert "exp-recs-v2" in res.output and "treatment" in res.output


def test_empty_log_report_renders() -> None:
    from personalize.reports.html import render
    from personalize.reports.summary import build_summary, json_safe

    summary = build_summary([], [])
    assert "No experiment in this period" in render(summary)
    json.dumps(json_safe(summary), allow_nan=False)
