"""Experiments: validation, hash assignment (uniform, stable, merge-proof), results and statistics."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgspec
import numpy as np
import pytest
from scipy import stats as sps

from personalize.reports import stats
from personalize.reports.experiments import (
    Experiment,
    InvalidExperiment,
    Variant,
    arms_problem,
    assign,
    assignment_unit,
    check_model_versions,
    decode_experiment,
    decode_stored,
    experiment_results,
    holdout_uplift,
    load_experiments_file,
    unit_hash,
)
from personalize.reports.simulate import SimulationConfig, simulate


def exp3() -> Experiment:
    return Experiment(
        id="exp1",
        salt="s",
        variants=[
            Variant(name="control", weight=1, control=True),
            Variant(name="b", weight=1),
            Variant(name="c", weight=2),
        ],
    )


def test_assignment_is_uniform_by_weight() -> None:
    exp = exp3()
    counts = {"control": 0, "b": 0, "c": 0}
    for i in range(20_000):
        counts[assign(exp, f"a:visitor-{i}").name] += 1
    chi = stats.sample_ratio_mismatch(list(counts.values()), [1, 1, 2])
    assert chi.p_value > 0.01, counts
    assert abs(counts["c"] / 20_000 - 0.5) < 0.02


def test_assignment_is_stable_and_pinned() -> None:
    exp = exp3()
    assert all(assign(exp, f"a:v{i}") == assign(exp, f"a:v{i}") for i in range(100))
    # Pinned: a change of hash function would silently move every running visitor.
    assert unit_hash("s", "exp1", "a:visitor-1") == pytest.approx(0.2857124792909735, abs=1e-15)
    other_salt = msgspec.structs.replace(exp, salt="t")
    moved = sum(
        assign(exp, f"a:v{i}").name != assign(other_salt, f"a:v{i}").name for i in range(1000)
    )
    assert moved > 300  # a new salt reshuffles


def test_assignment_unit_survives_identity_merge() -> None:
    before_login = assignment_unit(None, "cookie1")
    assert assignment_unit("bob", "cookie1") == before_login
    # New device after login: the first anonymous id recorded at the merge keeps the arm.
    assert assignment_unit("bob", "cookie2", first_anonymous_id="cookie1") == before_login
    assert assignment_unit("bob", None) == "u:bob"


def test_zero_weight_variant_gets_nobody() -> None:
    exp = Experiment(id="x", variants=[Variant(name="a", weight=1), Variant(name="off", weight=0)])
    assert {assign(exp, f"a:{i}").name for i in range(500)} == {"a"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id":"x","variants":[{"name":"a"}]}',
        b'{"id":"bad id","variants":[{"name":"a"},{"name":"b"}]}',
        b'{"id":"x","variants":[{"name":"a"},{"name":"a"}]}',
        b'{"id":"x","variants":[{"name":"a","weight":-1},{"name":"b"}]}',
        b'{"id":"x","variants":[{"name":"a","weight":0},{"name":"b","weight":0}]}',
        b'{"id":"x","start":10,"end":5,"variants":[{"name":"a"},{"name":"b"}]}',
        b'{"id":"x","variants":[{"name":"a","control":true},{"name":"b","control":true}]}',
        b'{"id":"x","variants":[{"name":"a"},{"name":"b"}],"unknown":1}',
    ],
)
def test_invalid_definitions_are_rejected(raw: bytes) -> None:
    with pytest.raises(InvalidExperiment):
        decode_experiment(raw)


def _with_arm(**variant: object) -> bytes:
    return msgspec.json.encode({"id": "x", "variants": [{"name": "a"}, {"name": "b", **variant}]})


@pytest.mark.parametrize(
    ("variant", "field", "reason"),
    [
        ({"parameters": {"epsilon": "x"}}, "variants[1].parameters.epsilon", "number in [0, 1]"),
        ({"parameters": {"epsilon": 5}}, "variants[1].parameters.epsilon", "number in [0, 1]"),
        ({"parameters": {"epsilon": True}}, "variants[1].parameters.epsilon", "number in [0, 1]"),
        (
            {"parameters": {"max_per_category": "many"}},
            "variants[1].parameters.max_per_category",
            "integer in [1, 100]",
        ),
        (
            {"parameters": {"max_per_category": 0}},
            "variants[1].parameters.max_per_category",
            "integer in [1, 100]",
        ),
        (
            {"parameters": {"max_per_category": 2.5}},
            "variants[1].parameters.max_per_category",
            "integer in [1, 100]",
        ),
        ({"parameters": {"offers": "no"}}, "variants[1].parameters.offers", "true or false"),
        ({"parameters": {"allow_seen": 0}}, "variants[1].parameters.allow_seen", "true or false"),
        (
            {"parameters": {"prior": 2}},
            "variants[1].parameters.prior",
            "known: allow_seen, epsilon, max_per_category, offers",
        ),
        ({"model_version": "../elsewhere"}, "variants[1].model_version", "not starting with '.'"),
        ({"weight": "1"}, "variants[1].weight", "Expected `float`"),
        ({"colour": 1}, "variants[1].colour", "unknown field"),
    ],
)
def test_arms_are_refused_with_the_field_and_reason(
    variant: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(InvalidExperiment) as caught:
        decode_experiment(_with_arm(**variant))
    assert caught.value.field == field and reason in str(caught.value), str(caught.value)


def test_arms_decide_can_apply_are_accepted() -> None:
    params = {"epsilon": 0.2, "offers": False, "max_per_category": 3, "allow_seen": False}
    exp = decode_experiment(_with_arm(parameters=params, model_version="2026-11-18.als"))
    assert exp.variants[1].parameters == params and arms_problem(exp) is None


@pytest.mark.parametrize("at", [-5, 1e308, 1.795e12])  # before 1970, overflow, milliseconds
def test_start_and_end_must_be_unix_seconds(at: float) -> None:
    with pytest.raises(InvalidExperiment) as caught:
        decode_experiment(
            msgspec.json.encode(
                {"id": "x", "start": at, "variants": [{"name": "a"}, {"name": "b"}]}
            )
        )
    assert caught.value.field == "start"


def test_a_stored_definition_with_arms_decide_cannot_apply_is_read_with_the_reason() -> None:
    # stored before arms were validated: results still read it; decide must not run it
    exp = decode_stored(_with_arm(parameters={"epsilon": "x"}))
    assert (
        arms_problem(exp) == "variants[1].parameters.epsilon: must be a number in [0, 1], got 'x'"
    )


def test_model_versions_must_be_known_and_not_refused() -> None:
    exp = decode_experiment(_with_arm(model_version="v2"))
    check_model_versions(exp, {"v1", "v2"})
    with pytest.raises(InvalidExperiment, match=r"no model 'v2'; known: v1") as caught:
        check_model_versions(exp, {"v1"})
    assert caught.value.field == "variants[1].model_version"
    with pytest.raises(InvalidExperiment, match="was refused: checksum mismatch"):
        check_model_versions(exp, {"v1", "v2"}, {"v2": "checksum mismatch"})


def test_wilson_and_newcombe_known_values() -> None:
    w = stats.wilson(10, 100)
    assert (round(w.low, 4), round(w.high, 4)) == (0.0552, 0.1744)
    # Newcombe (1998), Table II example: 56/70 vs 48/80 -> 0.2000 (0.0524, 0.3339).
    d = stats.newcombe_difference(56, 70, 48, 80)
    assert (round(d.estimate, 4), round(d.low, 4), round(d.high, 4)) == (0.2, 0.0524, 0.3339)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.exponential(5, 300), rng.exponential(4, 250)
    res = stats.welch(a, b)
    assert res.p_value == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
    assert res.difference.low < a.mean() - b.mean() < res.difference.high


def test_srm_detects_a_broken_split() -> None:
    assert not stats.sample_ratio_mismatch([5000, 5050], [1, 1]).mismatch
    broken = stats.sample_ratio_mismatch([5000, 4600], [1, 1])
    assert broken.mismatch and broken.p_value < 1e-3


@pytest.fixture(scope="module")
def run():  # type: ignore[no-untyped-def]
    return simulate(SimulationConfig(visitors=6000, seed=11))


def test_simulated_ab_lift_is_inside_the_interval(run) -> None:  # type: ignore[no-untyped-def]
    res = experiment_results(run.experiment, run.decisions, run.events)
    arms = {a["arm"]: a for a in res["arms"]}
    assert arms["control"]["visitors"] + arms["treatment"]["visitors"] == 6000
    assert not res["srm"]["mismatch"]
    rel = arms["treatment"]["lift"]["conversion_rate_rel"]
    assert rel["low"] < run.truth["relative_lift"] < rel["high"]
    for arm in ("control", "treatment"):
        ci = arms[arm]["conversion_rate"]
        assert ci["low"] < run.truth["conversion_rate"][arm] < ci["high"]
    assert res["crossover_visitors"] == 0


def test_simulated_holdout_uplift_is_inside_the_interval(run) -> None:  # type: ignore[no-untyped-def]
    res = holdout_uplift(run.decisions, run.events, holdout_share=0.10)
    treated = next(a for a in res["arms"] if a["arm"] == "treated")
    rel = treated["lift"]["conversion_rate_rel"]
    assert rel["low"] < run.truth["holdout_relative_uplift"] < rel["high"]
    assert not res["srm"]["mismatch"]


def test_lost_treatment_logs_trigger_srm(run) -> None:  # type: ignore[no-untyped-def]
    # Drop every third treatment visitor's decisions (e.g. a redirect that loses them).
    kept = [
        d
        for d in run.decisions
        if not (d.arm == "treatment" and int((d.anonymous_id or "anon0")[4:]) % 3 == 0)
    ]
    res = experiment_results(run.experiment, kept, run.events)
    assert res["srm"]["mismatch"]


def test_results_ignore_decisions_outside_the_experiment_period(run) -> None:  # type: ignore[no-untyped-def]
    start = min(d.timestamp for d in run.decisions) + 3 * 86400
    later = msgspec.structs.replace(run.experiment, start=start)
    res = experiment_results(later, run.decisions, run.events)
    first_seen: dict[str, float] = {}
    for d in run.decisions:
        if d.timestamp >= start:
            first_seen.setdefault(d.anonymous_id or "", d.timestamp)
    assert sum(a["visitors"] for a in res["arms"]) == len(first_seen)


def test_config_dataclass_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SimulationConfig().visitors = 3  # type: ignore[misc]


def test_experiments_from_yaml_and_json(tmp_path: Path) -> None:
    y = tmp_path / "exps.yaml"
    y.write_text(
        "experiments:\n"
        "  - id: nbo-policy\n"
        "    salt: s1\n"
        "    variants:\n"
        "      - {name: current, weight: 0.9, policy: nbo-1, control: true}\n"
        "      - {name: thompson, weight: 0.1, policy: nbo-ts, parameters: {epsilon: 0.2}}\n"
    )
    (exp,) = load_experiments_file(y)
    assert exp.control.name == "current" and exp.variants[1].parameters == {"epsilon": 0.2}
    j = tmp_path / "exps.json"
    j.write_text(
        '[{"id": "a", "variants": [{"name": "x"}, {"name": "y"}]}, {"id": "a", "variants": []}]'
    )
    with pytest.raises(InvalidExperiment):
        load_experiments_file(j)
