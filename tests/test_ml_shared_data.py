"""On the real YooChoose 100k split: the served recommender beats the baselines (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from personalize.ml import evaluate as ev
from personalize.ml.convert import convert_yoochoose
from personalize.ml.train import TrainConfig, train_model


@pytest.mark.slow
def test_served_beats_baselines_on_yoochoose(shared_data: Path, tmp_path: Path) -> None:
    base = shared_data / "yoochoose-rsc15-100k"
    train_log = convert_yoochoose(base / "yoochoose-clicks-100k_train_full.txt")
    test_log = convert_yoochoose(base / "yoochoose-clicks-100k_test.txt")
    # Default weights, no tuning: keeps the test under a minute.
    model = train_model(train_log, tmp_path, TrainConfig(half_life_days=None, bpr_iterations=5),
                        version="yc")
    cases = ev.session_cases(test_log)
    assert len(cases) == 10_152
    percentiles = ev.popularity_percentiles(train_log.item_id)
    served, spop = ev.evaluate(
        {"served": ev.served(model), "S-POP": ev.spop_baseline(train_log.item_id)},
        cases, 20, percentiles, model.n_items,
    )
    assert served.hr > spop.hr + 0.2
    assert served.mrr > spop.mrr + 0.03

    vsknn = ev.read_reference_lists(base / "reference-recommendations" / "recoms_rsc15_100k_vsknn.csv")
    same = [c for c in cases if (c.session_id, c.position) in vsknn]
    assert len(same) == 387
    reference = ev.score_lists("vsknn", same, [vsknn[(c.session_id, c.position)] for c in same], 20,
                               percentiles, model.n_items)
    ours = ev.evaluate({"served": ev.served(model)}, same, 20, percentiles, model.n_items)[0]
    assert ours.hr > reference.hr
