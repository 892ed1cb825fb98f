"""Evaluation metrics and protocol on tiny hand-computed cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from personalize.ml import evaluate as ev
from personalize.ml.events import make_log


def test_metrics_on_a_hand_computed_case() -> None:
    cases = [
        ev.Case("s1", 0, ("p",), "x"),  # rank 2
        ev.Case("s2", 0, ("p",), "y"),  # rank 1
        ev.Case("s3", 0, ("p",), "z"),  # beyond k=2: a miss
    ]
    lists = [["a", "x", "b"], ["y", "a"], ["a", "b", "z"]]
    percentile = {"a": 1.0, "b": 0.5, "x": 0.25, "y": 0.75, "w": 0.1}
    result = ev.score_lists("hand", cases, lists, 2, percentile, catalog_size=5)
    assert result.cases == 3
    assert result.hr == pytest.approx(2 / 3)
    assert result.mrr == pytest.approx((0.5 + 1.0) / 3)
    assert result.ndcg == pytest.approx((1 / math.log2(3) + 1.0) / 3)
    assert result.coverage == pytest.approx(4 / 5)  # a, x, y, b shown in the top 2
    assert result.popularity_bias == pytest.approx((1 + 0.25 + 0.75 + 1 + 1 + 0.5) / 6)


def test_popularity_percentiles() -> None:
    items = np.asarray(["a", "a", "a", "b", "b", "c", ""], dtype=object)
    assert ev.popularity_percentiles(items) == pytest.approx({"a": 1.0, "b": 2 / 3, "c": 1 / 3})


def test_session_cases_follow_the_session_rec_protocol() -> None:
    log = make_log([3, 1, 2, 5, 9], ["s1", "s1", "s1", "s2", "s3"], ["i3", "i1", "i2", "j1", "k1"])
    cases = ev.session_cases(log)
    assert cases == [
        ev.Case("s1", 0, ("i1",), "i2"),
        ev.Case("s1", 1, ("i1", "i2"), "i3"),
    ]


def test_tmall_cases_and_reference_lists(tmp_path: Path) -> None:
    tmall = tmp_path / "cases.csv"
    tmall.write_text("case_id,prefix,target\n0,5 6 5,7\n1,9,5\n")
    assert ev.tmall_cases(tmall) == [ev.Case("0", 2, ("5", "6", "5"), "7"), ev.Case("1", 0, ("9",), "5")]
    ref = tmp_path / "recoms.csv"
    ref.write_text("SessionId;Position;Recommendations;Scores\n0;2;7,5;1.0,0.5\n")
    lists = ev.read_reference_lists(ref)
    assert lists == {("0", 2): ["7", "5"]}
    recommend = ev.reference_recommender(lists)
    assert recommend(ev.Case("0", 2, ("5", "6", "5"), "7"), 1) == ["7"]
    assert recommend(ev.Case("1", 0, ("9",), "5"), 1) == []


def test_pop_and_spop_baselines() -> None:
    train = np.asarray(["p1", "p1", "p1", "p2", "p2", "p3"], dtype=object)
    pop = ev.pop_baseline(train)
    assert pop(("zz",), 2) == ["p1", "p2"]
    spop = ev.spop_baseline(train)
    # b appears twice; a and c once each, c more recently than a.
    assert spop(("a", "b", "c", "b"), 5) == ["b", "c", "a", "p1", "p2"]
    assert spop(("p2",), 3) == ["p2", "p1", "p3"]


def test_holdout_split_takes_the_newest_sessions_and_known_items() -> None:
    from personalize.ml.tuning import holdout_split

    ts, sessions, items = [], [], []
    for s in range(10):
        for step, item in enumerate(["a", "b", "c"] if s < 8 else ["a", "new", "b", "c"]):
            ts.append(1_700_000_000 + s * 100 + step)
            sessions.append(f"s{s}")
            items.append(item)
    split = holdout_split(make_log(ts, sessions, items), 0.2)
    assert split is not None
    fit_log, cases = split
    assert sorted(set(fit_log.session_id.tolist())) == [f"s{s}" for s in range(8)]
    # "new" is unknown to the older sessions: dropped, so s8/s9 read a, b, c.
    assert [(c.session_id, c.prefix, c.target) for c in cases] == [
        ("s8", ("a",), "b"), ("s8", ("a", "b"), "c"), ("s9", ("a",), "b"), ("s9", ("a", "b"), "c"),
    ]
