"""`personalize split`: the time-based, whole-session train/test split that `evaluate` takes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from personalize.cli.main import app
from personalize.ml.events import EventLog, make_log, read_events, write_events
from personalize.ml.split import DAY_S, time_split

runner = CliRunner()
T0 = 1_700_000_000.0


def _log() -> EventLog:
    # s1, s2 end on day 0; s3 starts on day 0 and ends on day 2 (whole session -> test);
    # s4 ends on day 2 with one item unknown to the training part; s5 on day 2 has one item.
    rows = [
        (T0, "s1", "a"), (T0 + 60, "s1", "b"), (T0 + 120, "s1", "c"),
        (T0 + 300, "s2", "b"), (T0 + 360, "s2", "c"),
        (T0 + 600, "s3", "a"), (T0 + 2 * DAY_S, "s3", "c"),
        (T0 + 2 * DAY_S + 10, "s4", "a"), (T0 + 2 * DAY_S + 20, "s4", "new"), (T0 + 2 * DAY_S + 30, "s4", "b"),
        (T0 + 2 * DAY_S + 40, "s5", "c"),
    ]
    ts, sessions, items = zip(*rows, strict=True)
    return make_log(np.array(ts), np.array(sessions, dtype=object), np.array(items, dtype=object))


def test_last_day_sessions_go_to_test_whole_and_on_known_items() -> None:
    parts = time_split(_log(), test_days=1.0)
    assert sorted(set(parts.train.session_id.tolist())) == ["s1", "s2"]
    assert sorted(set(parts.test.session_id.tolist())) == ["s3", "s4"]  # s5: one item, nothing to predict
    s4 = parts.test.item_id[parts.test.session_id == "s4"].tolist()
    assert s4 == ["a", "b"]  # "new" is unknown to train: dropped
    s3 = parts.test.item_id[parts.test.session_id == "s3"].tolist()
    assert s3 == ["a", "c"]  # its day-0 event went with the session, not to train
    assert (parts.train_sessions, parts.test_sessions) == (2, 2)
    assert (parts.dropped_events, parts.dropped_sessions) == (1, 1)
    assert parts.cutoff == pytest.approx(T0 + DAY_S + 40)


def test_fraction_takes_the_sessions_that_end_last() -> None:
    parts = time_split(_log(), test_fraction=0.4)
    # 5 sessions: the 2 that end last are s4 and s5 (s5 then dropped: a single item)
    assert sorted(set(parts.test.session_id.tolist())) == ["s4"]
    assert "s3" in set(parts.train.session_id.tolist())


def test_cli_writes_both_parts_and_refuses_a_split_with_no_training_part(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    write_events(_log(), events)
    train, test = tmp_path / "train.parquet", tmp_path / "test.csv"
    result = runner.invoke(app, ["split", str(events), "--train-out", str(train), "--test-out", str(test)])
    assert result.exit_code == 0, result.output
    assert "2 sessions" in result.output and "1 events on items unknown to train" in result.output
    assert len(read_events(train)) == 5 and len(read_events(test)) == 4

    result = runner.invoke(app, ["split", str(events), "--train-out", str(train), "--test-out", str(test),
                                 "--test-days", "30"])
    assert result.exit_code == 2
    assert "only test sessions" in result.output
