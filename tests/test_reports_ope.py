"""Off-policy estimators: unbiased on a synthetic bandit with a known value; OBD validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from personalize.domain.decisions import DecisionRecord, OfferCandidate
from personalize.reports import obd, ope, policies
from personalize.reports.attribution import attribute, rewards_by_decision
from personalize.reports.simulate import SimulationConfig, simulate

FIXTURE_OBD = Path(__file__).parent / "fixtures" / "reports" / "obd"

# SYNTHETIC contextual bandit: 2 contexts, 3 actions, logging policy depends on the context.
LOGGING = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
MEAN_REWARD = np.array([[0.10, 0.30, 0.50], [0.40, 0.20, 0.05]])
TARGET = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # the best action in each context
TRUE_VALUE = 0.5 * (0.50 + 0.40)


def within_3se(e: ope.Estimate, truth: float) -> bool:
    """|estimate - truth| < 3 standard errors, the SE read off the 95% bootstrap interval.

    A single log misses its own 95% interval 1 time in 20 (measured: IPS covered 29/30 seeds);
    3 SE keeps a deterministic test meaningful without being a coin flip.
    """
    return abs(e.value - truth) < 3 * (e.high - e.low) / (2 * 1.96)


def synthetic_log(n: int, seed: int) -> ope.OpeInput:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    a = np.array([rng.choice(3, p=LOGGING[xi]) for xi in x])
    r = (rng.random(n) < MEAN_REWARD[x, a]).astype(float)
    # A deliberately poor reward model (per-action mean ignoring context) so DR must correct it.
    q = np.array([r[a == k].mean() for k in range(3)])
    return ope.OpeInput(r, LOGGING[x, a], TARGET[x, a], q[a], (TARGET[x] * q).sum(axis=1))


def test_estimators_cover_the_true_value() -> None:
    est = {e.estimator: e for e in ope.estimate(synthetic_log(20_000, 0), replicates=300)}
    for name in ("IPS", "SNIPS", "DR"):
        assert within_3se(est[name], TRUE_VALUE), est[name]
    # The context-blind direct method is biased; its interval misses (why DR exists).
    assert not (est["DM"].low < TRUE_VALUE < est["DM"].high)


def test_ips_is_unbiased_over_repeated_logs() -> None:
    values = np.array(
        [ope.estimate(synthetic_log(3000, s), replicates=10)[0].value for s in range(40)]
    )
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert abs(values.mean() - TRUE_VALUE) < 3 * se


def test_effective_sample_size() -> None:
    n = 1000
    same = ope.OpeInput(np.zeros(n), np.full(n, 0.5), np.full(n, 0.5), np.zeros(n), np.zeros(n))
    assert ope.estimate(same, replicates=5)[0].ess == pytest.approx(n)
    half = ope.OpeInput(
        np.zeros(n),
        np.full(n, 0.5),
        np.r_[np.ones(n // 2), np.zeros(n // 2)],
        np.zeros(n),
        np.zeros(n),
    )
    assert ope.estimate(half, replicates=5)[0].ess == pytest.approx(n / 2)


def test_large_logs_use_normal_intervals_that_agree_with_the_bootstrap() -> None:
    data = synthetic_log(20_000, 3)
    boot = ope.estimate(data, replicates=400)
    normal = ope.estimate(data, replicates=2000)  # 20k x 2000 > budget -> normal intervals
    for b, nrm in zip(boot, normal, strict=True):
        assert nrm.interval == "normal" and b.interval == "bootstrap"
        assert b.value == nrm.value
        if b.estimator != "DM":
            assert nrm.high - nrm.low == pytest.approx(b.high - b.low, rel=0.15)


def test_zero_logging_probability_is_refused() -> None:
    with pytest.raises(ValueError):
        ope.OpeInput(np.ones(2), np.array([0.5, 0.0]), np.ones(2), np.ones(2), np.ones(2))


def decision() -> DecisionRecord:
    cands = [
        OfferCandidate(offer_id="a", eligible=True, priority=1.0, probability=0.6),
        OfferCandidate(offer_id="b", eligible=True, priority=5.0, probability=0.2),
        OfferCandidate(offer_id="c", eligible=False, priority=9.0, probability=0.0),
        OfferCandidate(offer_id=None, eligible=True, priority=0.0, probability=0.2),
    ]
    return DecisionRecord(
        decision_id="d",
        timestamp=1.8e9,
        customer_id="a:x",
        offer_id="a",
        probability=0.6,
        candidates=cands,
    )


def test_builtin_policies() -> None:
    d = decision()
    assert policies.greedy(d) == {"b": 1.0}  # "c" has a higher priority but is not eligible
    assert policies.no_exploration(d) == {"a": 1.0}
    assert policies.uniform(d) == pytest.approx({"a": 1 / 3, "b": 1 / 3, None: 1 / 3})
    assert policies.no_offer(d) == {None: 1.0}


def test_policy_from_json(tmp_path: Path) -> None:
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps({"d": {"a": 0.25, "null": 0.75}}))
    assert policies.resolve(str(path))(decision()) == {"a": 0.25, None: 0.75}
    with pytest.raises(ValueError):
        policies.resolve("no-such-policy")


def test_decision_log_ope_recovers_simulated_truth() -> None:
    run = simulate(SimulationConfig(visitors=3000, seed=5))
    rep = attribute(run.events, run.decisions)
    rewards = rewards_by_decision(rep, "accept")
    treated = [d for d in run.decisions if not d.holdout]
    for name, truth in (
        ("greedy", run.truth["accept_rate_greedy_treated"]),
        ("uniform", run.truth["accept_rate_uniform_treated"]),
        ("logging", run.truth["accept_rate_logging_treated"]),
    ):
        data, skipped = policies.ope_input(treated, rewards, policies.resolve(name))
        assert skipped == 0
        est = {e.estimator: e for e in ope.estimate(data, replicates=300)}
        for k in ("IPS", "SNIPS", "DR"):
            assert within_3se(est[k], truth), (name, k, est[k], truth)
    # On the logging policy itself, IPS is exactly the logged mean reward.
    data, _ = policies.ope_input(treated, rewards, policies.logging_policy)
    assert ope.estimate(data, replicates=5)[0].value == pytest.approx(data.rewards.mean())


def test_obd_loader_on_the_fixture_slice() -> None:
    random_men = obd.load(FIXTURE_OBD, "random", "men")
    assert len(random_men) == 3000 and int(random_men.click.sum()) == 13
    assert np.allclose(random_men.propensity, 1 / 34)
    assert set(random_men.position.tolist()) == {1, 2, 3} and random_men.item.max() == 33
    dist = obd.action_distribution(obd.load(FIXTURE_OBD, "bts", "men"))
    assert dist[0, 1:].sum(axis=1) == pytest.approx([1.0, 1.0, 1.0])
    pooled = obd.load(FIXTURE_OBD, "random", "all")
    assert len(pooled) == 6000 and int(pooled.click.sum()) == 22
    assert np.bincount(pooled.group).tolist() == [3000, 3000]


def test_obd_validation_on_the_fixture_slice() -> None:
    res = obd.validate(FIXTURE_OBD, "all", replicates=300)
    assert res["on_policy_value"] == pytest.approx(43 / 6000)
    for e in res["estimates"]:
        if e["estimator"] != "DM":
            assert e["low"] < res["on_policy_value"] < e["high"], e
            assert e["relative_error"] < 0.5


def test_obd_validation_on_the_shared_sample(shared_data: Path) -> None:
    root = shared_data / "obd"
    for campaign in ("men", "women", "all"):
        res = obd.validate(root, campaign, replicates=300)
        for e in res["estimates"]:
            if e["estimator"] in ("IPS", "SNIPS", "DR"):
                assert e["low"] < res["on_policy_value"] < e["high"], (campaign, e)
                assert e["relative_error"] < 0.35, (campaign, e)
