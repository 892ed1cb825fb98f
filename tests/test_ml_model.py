"""Ranking behaviour of the served scorer on synthetic data with a known answer.

Checkerboard (implicit's test style): items split into two groups and every session stays inside
one group, so for any session the best items are its own group's; sequences inside each group
are fixed (g0 -> g1 -> g2 -> ...), so the next item is known too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from personalize.ml.events import EventLog, make_log
from personalize.ml.model import RecommenderModel, ScoringParams
from personalize.ml.train import TrainConfig, train_model

GROUP_SIZE = 6


def _checkerboard_log(repeats: int = 40) -> EventLog:
    """Sessions walk a0->a1->...->a5 or b0->...->b5, starting at a rotating offset.

    Group a is visited more often, so 'a' items are the most popular overall.
    """
    ts, sessions, items, categories = [], [], [], []
    session = 0
    for r in range(repeats):
        for group, times in (("a", 3), ("b", 2)):
            for t in range(times):
                start = (r + t) % GROUP_SIZE
                for step in range(4):
                    position = (start + step) % GROUP_SIZE
                    ts.append(1_700_000_000.0 + session * 100 + step)
                    sessions.append(f"s{session}")
                    items.append(f"{group}{position}")
                    categories.append(f"cat-{group}")
                session += 1
    return make_log(ts, sessions, items, category=categories)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> RecommenderModel:
    out = tmp_path_factory.mktemp("models")
    config = TrainConfig(factors=8, iterations=10, bpr_iterations=10, half_life_days=None, neighbors=20)
    return train_model(_checkerboard_log(), out, config, version="checkerboard")


def test_next_item_in_the_sequence_ranks_first(model: RecommenderModel) -> None:
    got = model.recommend([("a2", 1.0)], n=5, allow_seen=False)
    assert got[0].item_id == "a3"
    assert got[0].source == "sequence"
    assert got[0].reason == "often viewed after a2"


def test_session_stays_in_its_group(model: RecommenderModel) -> None:
    for session in ([("b1", 1.0)], [("b4", 1.0), ("b3", 1.0)], [("a0", 1.0)]):
        group = session[0][0][0]
        got = model.recommend(session, n=GROUP_SIZE - len(session), allow_seen=False)
        assert [c.item_id[0] for c in got] == [group] * len(got)
        assert len(got) == GROUP_SIZE - len(session)


def test_scores_are_sorted_descending(model: RecommenderModel) -> None:
    got = model.recommend([("a1", 1.0), ("b5", 0.5)], n=12)
    scores = [c.score for c in got]
    assert scores == sorted(scores, reverse=True)
    assert len({c.item_id for c in got}) == len(got)


def test_recently_seen_items_come_back_when_allowed(model: RecommenderModel) -> None:
    got = model.recommend([("b2", 1.0), ("b1", 1.0)], n=3)
    assert "b2" in [c.item_id for c in got]
    seen = next(c for c in got if c.item_id == "b2")
    assert seen.source == "session"
    hidden = model.recommend([("b2", 1.0), ("b1", 1.0)], n=10, allow_seen=False)
    assert not {"b1", "b2"} & {c.item_id for c in hidden}


def test_exclude_and_in_view_are_never_returned(model: RecommenderModel) -> None:
    got = model.recommend([("a2", 1.0)], in_view="a2", n=11, exclude={"a3", "a4"})
    ids = [c.item_id for c in got]
    assert not {"a2", "a3", "a4"} & set(ids)
    assert len(ids) == 9
    assert got[0].reason == "similar to the item in view"


def test_in_view_alone_drives_the_answer(model: RecommenderModel) -> None:
    got = model.recommend([], in_view="b0", n=3)
    assert got[0].item_id == "b1"
    assert all(c.item_id.startswith("b") for c in got)


def test_history_is_used_for_known_customers(model: RecommenderModel) -> None:
    got = model.recommend([], history_items=[("b3", 8.0)], n=3, allow_seen=False)
    assert got[0].item_id == "b4"  # the item that follows b3
    assert got[0].reason == "often viewed after b3"
    assert all(c.item_id.startswith("b") for c in got)


def test_unknown_items_fall_back_to_popularity(model: RecommenderModel) -> None:
    got = model.recommend([("nope", 1.0)], in_view="missing", n=4, exclude={"a0"})
    assert [c.source for c in got] == ["popularity"] * 4
    assert [c.reason for c in got] == ["popular"] * 4
    assert all(c.item_id.startswith("a") and c.item_id != "a0" for c in got)


def test_category_filter_and_popular_by_category(model: RecommenderModel) -> None:
    got = model.recommend([("a1", 1.0)], n=4, category="cat-b")
    assert got and all(model.category_of(c.item_id) == "cat-b" for c in got)
    popular_b = model.popular(3, category="cat-b")
    assert [model.category_of(c.item_id) for c in popular_b] == ["cat-b"] * 3
    assert popular_b[0].reason == "popular in category"
    assert model.popular(2, category="no-such-category") == []
    assert model.category_of("a1") == "cat-a"
    assert model.category_of("zzz") is None


def test_n_zero_and_n_larger_than_catalog(model: RecommenderModel) -> None:
    assert model.recommend([("a1", 1.0)], n=0) == []
    everything = model.recommend([("a1", 1.0)], n=100)
    assert len(everything) == model.n_items - 0  # nothing excluded: the whole catalog, once
    assert model.version == "checkerboard"


def _user_checkerboard_log() -> EventLog:
    """The classic checkerboard: even users view every 'a' item, odd users every 'b' item."""
    ts, users, items = [], [], []
    for user in range(20):
        group = "ab"[user % 2]
        for position in range(GROUP_SIZE):
            ts.append(1_700_000_000.0 + user * 100 + position)
            users.append(f"u{user}")
            items.append(f"{group}{position}")
    return make_log(ts, [f"s-{u}" for u in users], items, user_id=users)


def test_als_alone_separates_the_groups(tmp_path: Path) -> None:
    config = TrainConfig(algorithms=("als",), factors=4, iterations=15, half_life_days=None)
    als_model = train_model(_user_checkerboard_log(), tmp_path, config, version="als-only")
    assert als_model.seq is None and als_model.item_factors is not None
    scored = als_model.with_params(ScoringParams(seen_weight=0.0, popularity_weight=0.0))
    got = scored.recommend([("b2", 1.0)], n=5, allow_seen=False)
    assert {c.item_id[0] for c in got} == {"b"}
    assert {c.source for c in got} == {"als"}


def test_scorer_handles_a_large_synthetic_catalog(tmp_path: Path) -> None:
    from personalize.ml.model import load_artifact
    from personalize.ml.synthetic import write_synthetic_model

    path = write_synthetic_model(tmp_path / "synthetic", n_items=5_000, factors=16, seed=1)
    model = load_artifact(path)
    assert model.config["synthetic"] is True
    session = [(f"item-{i}", 1.0) for i in range(0, 300, 7)]
    got = model.recommend(session, history_items=[("item-9", 2.0)], in_view="item-42", n=50,
                          exclude={"item-7"})
    assert len(got) == 50
    assert "item-7" not in {c.item_id for c in got} and "item-42" not in {c.item_id for c in got}
    assert np.all(np.diff([c.score for c in got]) <= 0)


def test_tuning_picks_the_weight_that_wins_on_the_holdout(model: RecommenderModel) -> None:
    from personalize.ml.evaluate import Case
    from personalize.ml.tuning import search

    # Visitors here go back to the item they looked at twice: only the re-show boost ranks it
    # first (the sequence model prefers the next item), so the search must switch it on.
    cases = [Case(f"s{i}", 2, (f"a{i}", f"a{i}", f"a{i + 1}"), f"a{i}") for i in range(4)]
    start = ScoringParams(seen_weight=0.0)
    params, report = search(model, cases, _checkerboard_log(), k=3, start=start,
                            grid={"seen_weight": (0.0, 10.0), "seq_weight": (0.3,)})
    assert params.seen_weight == 10.0
    assert report["tuned"]["mrr"] == 1.0
    assert report["start"]["mrr"] < 1.0


def test_reasons_for_some_ranked_items_match_the_full_ranking(tmp_path: Path) -> None:
    from personalize.ml.model import load_artifact
    from personalize.ml.synthetic import write_synthetic_model

    model = load_artifact(write_synthetic_model(tmp_path / "synthetic", n_items=2_000, factors=8, seed=2))
    session = [(f"item-{i}", 1.0) for i in range(0, 90, 9)]
    full = model.recommend(session, history_items=[("item-5", 1.0)], in_view="item-3", n=30)
    ranking = model.rank(session, history_items=[("item-5", 1.0)], in_view="item-3", n=30)
    assert ranking.item_ids == [c.item_id for c in full]
    some = [29, 3, 17, 0]
    assert ranking.reasons(some) == [full[j].reason for j in some]
    assert {c.source for c in full} >= {"session", "sequence"}
