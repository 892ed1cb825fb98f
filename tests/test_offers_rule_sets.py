"""Rule sets: many rules evaluated at once (shared lookups, threshold tables, memos) give each
rule's own verdict, whatever the facts; and the inlined string membership keeps the contract."""

from __future__ import annotations

import math
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from personalize.offers.rules import Rule, RuleSet, compile_rule, value_key
from tests.offers_random import random_facts, random_rule


def expected_failures(rules: tuple[Rule, ...], facts: dict[str, Any]) -> int:
    return sum(1 << i for i, rule in enumerate(rules) if not rule.passes(facts))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_rule_set_failures_are_each_rules_verdict(seed: int) -> None:
    r = random.Random(seed)
    rules = tuple(dict.fromkeys(compile_rule(random_rule(r)) for _ in range(r.randint(1, 30))))
    rule_set = RuleSet(rules)
    for _ in range(10):  # repeated values hit the memos
        facts = random_facts(r)
        assert rule_set.failures(facts) == expected_failures(rules, facts)


def test_rule_set_thresholds_at_and_between_their_constants() -> None:
    sources = [
        "cart.value >= 20",
        "cart.value > 20",
        "cart.value < 30",
        "cart.value <= 30.0",
        "cart.value == 25",
        "cart.value >= 1e999",
    ]
    rules = tuple(compile_rule(s) for s in sources)
    rule_set = RuleSet(rules)
    values: list[Any] = [
        19,
        19.999,
        20,
        20.0,
        20.5,
        25,
        25.0,
        29,
        30,
        30.5,
        1e308,
        math.inf,
        -math.inf,
        math.nan,
    ]
    values += [None, True, False, "25", [25], 2**64, -(2**64)]
    for v in values:
        facts = {"cart": {"value": v}}
        assert rule_set.failures(facts) == expected_failures(rules, facts), v


def test_rule_set_memo_switches_off_for_values_that_never_repeat() -> None:
    rules = tuple(
        compile_rule(s) for s in ["cart.value in [1, 2]", "cart.value == null", "not cart.value"]
    )
    rule_set = RuleSet(rules)
    r = random.Random(0)
    for _ in range(2000):  # a float price: the memo fills, then stops remembering
        facts = {"cart": {"value": r.choice([r.random(), 1, 2, None, 0])}}
        assert rule_set.failures(facts) == expected_failures(rules, facts)


def test_value_keys_tell_apart_what_rules_tell_apart() -> None:
    assert value_key(1) != value_key(1.0) != value_key(True)
    assert value_key(["a", "b"]) == value_key(["a", "b"]) != value_key(("a", "b"))
    assert value_key(math.nan) is None and value_key([1]) is None and value_key({"a": 1}) is None
    assert value_key(None) == value_key(None)


def test_string_membership_in_lists_keeps_the_contract() -> None:
    class Text(str):
        pass

    cases: list[tuple[Any, bool]] = [
        (["loyal"], True),
        (["a", "loyal"], True),
        ([], False),
        ([Text("loyal")], False),  # only a plain str equals a string literal
        ([1, None, True], False),
        (("loyal",), True),
        ("very loyal", True),
        ({"loyal": 1}, True),
        (None, False),
        (3, False),
    ]
    for value, contained in cases:
        facts = {"profile": {"segments": value}}
        assert compile_rule('"loyal" in profile.segments').passes(facts) is contained, value
        undefined = value is None or value == 3
        assert compile_rule('"loyal" not in profile.segments').passes(facts) is (
            not contained and not undefined
        ), value
