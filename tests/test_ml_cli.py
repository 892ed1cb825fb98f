"""End to end on a small real slice: convert -> train -> evaluate, through the typer CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from personalize.cli.main import app
from personalize.ml.events import read_events
from personalize.ml.model import load_artifact

FIXTURES = Path(__file__).parent / "fixtures" / "ml"
runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def canonical(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    train, test = tmp / "train.csv", tmp / "test.parquet"
    _invoke("convert", "yoochoose", str(FIXTURES / "yoochoose-train-slice.txt"), str(train))
    _invoke("convert", "yoochoose", str(FIXTURES / "yoochoose-test-slice.txt"), str(test))
    return train, test


def test_convert_writes_the_canonical_columns(canonical: tuple[Path, Path]) -> None:
    train, test = canonical
    log = read_events(train)
    assert len(log) == 6_000
    assert set(log.event_type.tolist()) == {"product_view"}
    assert log.item_id[0] == "214826955"  # ids stay text
    assert len(read_events(test)) == 1_500


def test_train_then_evaluate(canonical: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = canonical
    out = _invoke("train", str(train), "--out", str(tmp_path / "models"), "--version", "20260101-000000-als16",
                  "--factors", "16", "--iterations", "5", "--no-tune", "--test", str(test))
    assert "trained 20260101-000000-als16" in out
    artifact = tmp_path / "models" / "20260101-000000-als16"
    model = load_artifact(artifact)  # checksums still valid after metrics.json was rewritten
    assert model.metrics["next_item"]["cases"] > 500
    assert model.metrics["training"]["events"] == 6_000

    report = json.loads(_invoke("evaluate", "--train", str(train), "--test", str(test), "--k", "20",
                                "--json", "--models", str(artifact)))
    rows = {r["name"]: r for r in report["tables"]["all cases"]}
    assert set(rows) == {"POP", "S-POP", "item-kNN", "served 20260101-000000-als16"}
    served = rows["served 20260101-000000-als16"]
    assert served["cases"] == report["cases"] == model.metrics["next_item"]["cases"]
    assert served["hr"] == pytest.approx(model.metrics["next_item"]["hr"])
    # The served mix must beat every baseline on this slice too.
    for baseline in ("POP", "S-POP", "item-kNN"):
        assert served["hr"] > rows[baseline]["hr"]
        assert served["mrr"] > rows[baseline]["mrr"]


def test_convert_rees46_keeps_funnel_and_categories(tmp_path: Path) -> None:
    out = tmp_path / "rees.csv"
    _invoke("convert", "rees46", str(FIXTURES / "rees46-head300.csv"), str(out))
    log = read_events(out)
    assert len(log) == 300
    assert {"product_view"} <= set(log.event_type.tolist()) <= {"product_view", "add_to_cart", "purchase"}
    assert (log.category != "").all()
    assert log.timestamp.min() == pytest.approx(1_569_888_000.0)  # 2019-10-01 00:00:00 UTC


def test_bad_input_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,item_id\n1,2\n")
    result = runner.invoke(app, ["train", str(bad), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "missing column(s) session_id, user_id, event_type" in result.output
    assert "Traceback" not in result.output


def test_event_types_training_cannot_weigh_are_listed_with_the_fix(tmp_path: Path) -> None:
    events = tmp_path / "wishlists.csv"
    lines = [f"{t},s{t // 3},,i{t % 7},{'fav' if t % 2 else 'share'}" for t in range(60)]
    events.write_text("timestamp,session_id,user_id,item_id,event_type\n" + "\n".join(lines) + "\n")
    result = runner.invoke(app, ["train", str(events), "--out", str(tmp_path / "m"), "--no-tune"])
    assert result.exit_code == 2
    assert "event types with an item are fav (30), share (30)" in result.output
    assert "--weights" in result.output and "Traceback" not in result.output
    _invoke("train", str(events), "--out", str(tmp_path / "m"), "--no-tune", "--weights", "fav=2,share=1",
            "--algorithms", "als,itemknn")


def test_warm_up_compiles_the_scorer_kernels() -> None:
    result = runner.invoke(app, ["warm-up"])
    assert result.exit_code == 0, result.output
    assert "scorer kernels ready" in result.output
