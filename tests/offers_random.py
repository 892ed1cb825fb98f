"""Random offer rules, facts, catalogs and decision settings for the arbitration tests: odd
types (NaN, bool, lists of mixed types, a group that is not a mapping), shared rules, validity
windows, contact blocks, every policy and consent."""

from __future__ import annotations

import random
from typing import Any

from personalize.offers.arbitration import ConsentFlags, ExplorationPolicy
from personalize.offers.catalog import Catalog, catalog_from_document
from personalize.offers.contact import ContactState

NOW = 1_795_000_000.0


NAMES = [
    "profile.orders",
    "profile.segments",
    "profile.stage",
    "profile.consent.marketing",
    "scores.p",
    "cart.value",
    "cart.items",
    "context.page_type",
    "context.category",
    "session.views",
    "item.price",
    "item.tags",
]
STRINGS = ["a", "b", "cart", "loyal", ""]
NUMBERS = ["0", "1", "2", "2.5", "-1", "30", "1e999", "0.1"]


def _atom(r: random.Random) -> str:
    n = r.choice(NAMES)
    m = r.choice(NAMES)
    num = r.choice(NUMBERS)
    s = r.choice(STRINGS)
    strs = ", ".join(f'"{x}"' for x in r.sample(STRINGS, k=r.randint(1, 3)))
    nums = ", ".join(r.sample(NUMBERS[:6], k=r.randint(1, 3)))
    return r.choice(
        [
            f"{n} {r.choice(['<', '<=', '>', '>=', '==', '!='])} {num}",
            f"{n} {r.choice(['<', '<=', '>', '>=', '==', '!='])} {num}",  # thresholds are common
            f'{n} == "{s}"',
            f'{n} != "{s}"',
            f"{n} in [{strs}]",
            f"{n} not in [{strs}]",
            f"{n} in [{nums}]",
            f'{n} in ["a", 1, true]',
            f'"{s}" in {n}',
            f'"{s}" not in {n}',
            f"{num} in {n}",
            f"{n} == null",
            f"{n} != null",
            f"{n} == true",
            f"len({n}) >= {r.randint(0, 2)}",
            f"{n} + {m} > {num}",
            f"{n} / {m} < {num}",
            f"{n} >= {m}",
            f"{n}",
            "true",
            "1 == 2",
            f"max({n}, {num}) > 1",
        ]
    )


def random_rule(r: random.Random) -> str:
    kind = r.random()
    if kind < 0.55:
        return _atom(r)
    if kind < 0.7:
        return f"not {_atom(r)}"
    return f"{_atom(r)} {r.choice(['and', 'or'])} {_atom(r)}"


def random_value(r: random.Random) -> Any:
    return r.choice(
        [
            None,
            0,
            1,
            2,
            30,
            -1,
            2.5,
            0.0,
            -0.0,
            29.99,
            float("nan"),
            float("inf"),
            True,
            False,
            "a",
            "b",
            "cart",
            "loyal",
            "",
            ["a", "loyal"],
            [],
            ["b"],
            [1, "a", True],
            [None],
            {"x": 1},
            r.uniform(-5, 50),
            r.randint(0, 40),
        ]
    )


def random_facts(r: random.Random) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for name in NAMES:
        if r.random() < 0.25:
            continue
        parts = name.split(".")
        node = facts
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = random_value(r)
    if r.random() < 0.1:
        facts["profile"] = "not a mapping"
    facts.setdefault("context", {})
    if isinstance(facts["context"], dict) and r.random() < 0.7:
        facts["context"]["channel"] = r.choice(["web", "app", "sms", "email"])
    return facts


def random_catalog(r: random.Random, n: int) -> Catalog:
    offers = []
    shared_rules = [random_rule(r) for _ in range(6)]  # catalogs repeat rules across offers
    for i in range(n):
        offer: dict[str, Any] = {
            "id": f"o{i}",
            "name": f"offer {i}",
            "kind": r.choice(["message", "bundle"]),
            "store_value": round(r.uniform(0, 10), 2),
            "lever": round(r.uniform(0.5, 1.5), 2),
            "channels": r.sample(["web", "email", "sms", "app"], k=r.randint(1, 3)),
            "purpose": r.choice(["marketing", "service"]),
            "default_propensity": round(r.random(), 3),
        }
        for kind in ("eligibility", "applicability", "suitability"):
            offer[kind] = [
                r.choice(shared_rules) if r.random() < 0.5 else random_rule(r)
                for _ in range(r.choice([0, 0, 1, 1, 2, 3]))
            ]
        key = r.random()
        if key < 0.3:
            offer["propensity_key"] = "p"
        elif key < 0.5:
            offer["propensity_key"] = r.choice(
                ["cart.value / 100", "min(0.9, session.views / 10)", "profile.orders"]
            )
        if r.random() < 0.3:
            offer["context_weights"] = {
                f"page_type:{r.choice(['cart', 'home'])}": round(r.uniform(0.5, 2), 2),
                f"channel:{r.choice(['web', 'app'])}": round(r.uniform(0.5, 2), 2),
            }
        if r.random() < 0.2:
            offer["valid_from"] = NOW - r.choice([-3600, 10, 86_400])
        if r.random() < 0.2:
            offer["valid_until"] = NOW + r.choice([-10, 3600, 86_400])
            if "valid_from" in offer and offer["valid_until"] <= offer["valid_from"]:
                del offer["valid_from"]
        offers.append(offer)
    return catalog_from_document(
        {"offers": offers, "no_offer_priority": r.choice([0.0, 0.5, 1.0, 2.0])}
    )


def random_kwargs(r: random.Random, catalog: Catalog) -> dict[str, Any]:
    ids = list(catalog.offers) + ["not-in-catalog"]
    blocked = {
        o: tuple(
            r.sample(["cap:per_day", "budget:total", "consent:personalization"], k=r.randint(0, 2))
        )
        for o in r.sample(ids, k=r.randint(0, min(4, len(ids))))
    }
    contact = r.choice(
        [
            None,
            ContactState(),
            ContactState(
                blocked=blocked, global_reasons=r.choice([(), (), ("cap:offers_per_day",)])
            ),
        ]
    )
    return {
        "now": r.choice([NOW, NOW - 100, NOW + 5000, NOW + 100_000]),
        "policy": r.choice(
            [
                ExplorationPolicy(mode="greedy"),
                ExplorationPolicy(epsilon=r.choice([0.0, 0.05, 0.3, 1.0])),
                ExplorationPolicy(mode="softmax", temperature=r.choice([0.01, 1.0, 50.0])),
            ]
        ),
        "channel": r.choice([None, "web", "web", "email", "sms", "app"]),
        "consent": ConsentFlags(personalization=r.random() < 0.75, marketing=r.random() < 0.6),
        "contact": contact,
        "holdout": r.random() < 0.07,
        "evaluate_all": r.random() < 0.15,
    }
