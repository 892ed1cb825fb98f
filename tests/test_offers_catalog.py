"""Catalog loading: the example loads, broken catalogs are rejected with precise messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from personalize.offers.catalog import (
    CatalogError,
    catalog_from_offer_jsons,
    load_catalog,
    offer_to_json,
    parse_catalog,
    parse_offer,
    replacement_catalog,
)
from personalize.offers.model import Offer
from personalize.offers.synthetic import make_catalog
from personalize.store.keys import Keys

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "offers.yaml"


def test_example_catalog_loads() -> None:
    catalog = load_catalog(EXAMPLE)
    assert len(catalog) == 6
    free = catalog.offers["free-shipping-converter"]
    assert free.offer.kind == "free_shipping"
    assert free.score_name == "p_purchase"
    assert [n.kind for n in free.rules] == [
        "eligibility",
        "eligibility",
        "applicability",
        "suitability",
        "suitability",
    ]
    assert free.policy.max_per_day == 3  # offer override
    assert free.policy.max_per_week == 5  # catalog default
    assert free.policy.cooldown_after_redemption_days == 7.0
    assert free.policy.budget_per_day == 2000 and free.policy.budget_total is None
    bundle = catalog.offers["bundle-accessory"]
    assert bundle.score_name is None and bundle.propensity_expr is not None
    welcome = catalog.offers["welcome-5"]
    assert welcome.valid_from == 1767225600.0  # 2026-01-01 (a YAML date), UTC
    assert welcome.valid_until == 1798761600.0  # 2027-01-01T00:00:00Z
    assert catalog.offers["returns-help"].offer.purpose == "service"


def test_catalog_version_is_a_stable_content_hash(tmp_path: Path) -> None:
    a = load_catalog(EXAMPLE)
    doc = a.to_document()
    path = tmp_path / "same.json"
    path.write_text(json.dumps(doc))
    b = load_catalog(path)
    assert a.version == b.version and a.version.startswith("cat-")
    changed = a.with_offer(Offer(id="extra", name="extra", kind="message"))
    assert changed.version != a.version and "extra" in changed.offers
    assert changed.without("extra").version == a.version


BROKEN = """
offers:
  - id: ok-offer
    name: fine
    kind: message
  - id: free-ship
    name: free shipping
    kind: free_shipping
    value: 4.95
    eligibility:
      - cart.value >= 30
      - cart.value >= and profile.orders > 1
    suitability:
      - stage in ["consideration", "action"]
  - id: bad-kind
    name: x
    kind: discount
  - id: bad-percent
    name: y
    kind: percent_discount
    value: 150
    channels: [web, fax]
  - id: ok-offer
    name: duplicate
    kind: message
  - id: dates
    name: z
    kind: message
    valid_from: "2026-12-01"
    valid_until: "2026-11-01"
    context_weights: {"cart": 2}
    unknown_field: 1
"""


def test_broken_catalog_names_offer_rule_and_position() -> None:
    with pytest.raises(CatalogError) as info:
        parse_catalog(BROKEN)
    problems = info.value.problems
    text = str(info.value)
    assert (
        "offer 'free-ship': eligibility[1] 'cart.value >= and profile.orders > 1': expected a value, found keyword 'and' at position 14"
        in problems
    )
    assert any(
        p.startswith("offer 'free-ship': suitability[0]")
        and "did you mean 'profile.stage'?" in p
        and "position 0" in p
        for p in problems
    )
    assert any(p.startswith("offer 'bad-kind' (#3 in the file): field kind:") for p in problems)
    assert any(
        p.startswith("offer 'bad-percent' (#4 in the file): field channels[1]") for p in problems
    )
    assert "offer 'ok-offer' (#5 in the file): duplicate id" in problems
    assert any("offer 'dates' (#6 in the file)" in p and "unknown_field" in p for p in problems)
    assert "invalid offer catalog" in text


def test_semantic_checks_after_fields_are_valid() -> None:
    with pytest.raises(CatalogError) as info:
        parse_catalog(
            """
offers:
  - {id: p, name: p, kind: percent_discount, value: 150}
  - {id: d, name: d, kind: message, valid_from: "2026-12-01", valid_until: "2026-11-01"}
  - {id: w, name: w, kind: message, context_weights: {"cart": 2}}
  - {id: f, name: f, kind: fixed_discount, value: 0}
  - {id: k, name: k, kind: message, propensity_key: "scores.p_purchase *"}
  - {id: t, name: t, kind: message, valid_from: "next tuesday"}
"""
        )
    problems = info.value.problems
    assert (
        "offer 'p': value must be a percent in (0, 100] for a percent_discount, got 150.0"
        in problems
    )
    assert "offer 'd': valid_until must be after valid_from" in problems
    assert any(p.startswith("offer 'w': context_weights key 'cart'") for p in problems)
    assert "offer 'f': value must be > 0 for a fixed_discount" in problems
    assert any(p.startswith("offer 'k': propensity_key") and "position 19" in p for p in problems)
    assert any(p.startswith("offer 't': valid_from: 'next tuesday'") for p in problems)


def test_top_level_errors() -> None:
    with pytest.raises(CatalogError, match="not valid YAML"):
        parse_catalog("offers: [unclosed")
    with pytest.raises(CatalogError, match="unknown top-level field"):
        parse_catalog("offerz: []")
    with pytest.raises(CatalogError, match="contact_defaults: field max_offers_per_day"):
        parse_catalog("contact_defaults: {max_offers_per_day: -1}\noffers: []")
    assert len(parse_catalog("[]")) == 0
    assert len(parse_catalog("offers: []")) == 0
    with pytest.raises(CatalogError, match="'offers' is missing"):
        parse_catalog("contact_defaults: {max_offers_per_day: 1}")
    with pytest.raises(CatalogError, match="'offers' must be a list"):
        parse_catalog("offers:")


def test_a_replacement_catalog_is_empty_only_when_asked_for_by_name() -> None:
    with pytest.raises(CatalogError, match="empty list would remove every offer"):
        replacement_catalog([])
    with pytest.raises(CatalogError, match="'offers' is missing"):
        replacement_catalog({})
    assert len(replacement_catalog({"offers": []})) == 0
    assert len(replacement_catalog([{"id": "m", "name": "M", "kind": "message"}])) == 1


def test_an_offer_expires_expires_in_hours_after_the_decision_within_its_validity() -> None:
    now = 1_795_000_000.0
    doc = {
        "offers": [
            {"id": "day", "name": "D", "kind": "message"},
            {"id": "short", "name": "S", "kind": "message", "expires_in_hours": 0.5},
            {"id": "ending", "name": "E", "kind": "message", "valid_until": now + 600},
        ]
    }
    offers = parse_catalog(json.dumps(doc), "json").offers
    assert offers["day"].expires_at(now) == now + 24 * 3600  # the default
    assert offers["short"].expires_at(now) == now + 1800
    assert offers["ending"].expires_at(now) == now + 600  # never after valid_until


def test_parse_offer_for_the_admin_api() -> None:
    compiled = parse_offer(
        json.dumps({"id": "x1", "name": "X", "kind": "message", "eligibility": ["cart.value > 1"]})
    )
    assert compiled.id == "x1" and compiled.rules[0].rule.source == "cart.value > 1"
    with pytest.raises(CatalogError, match="offer 'x2': eligibility\\[0\\]"):
        parse_offer(
            json.dumps(
                {"id": "x2", "name": "X", "kind": "message", "eligibility": ["cart.value >"]}
            )
        )
    with pytest.raises(CatalogError, match="not valid JSON"):
        parse_offer(b"{")
    with pytest.raises(CatalogError, match="field id"):
        parse_offer(json.dumps({"id": "has space", "name": "X", "kind": "message"}))


def test_synthetic_catalog_is_reproducible() -> None:
    a, b = make_catalog(200, seed=0), make_catalog(200, seed=0)
    assert len(a) == 200 and a.version == b.version
    assert make_catalog(50, seed=1).version != make_catalog(50, seed=2).version


def test_admin_put_of_a_broken_offer_leaves_the_catalog_unchanged() -> None:
    catalog = load_catalog(EXAMPLE)
    broken = Offer(id="bad", name="bad", kind="message", suitability=["profile.returns >> 2"])
    with pytest.raises(CatalogError) as info:
        catalog.with_offer(broken)
    assert info.value.problems == [
        "offer 'bad': suitability[0] 'profile.returns >> 2': expected a value, found '>' at position 17"
    ]
    assert "bad" not in catalog.offers and len(catalog) == 6


def test_offers_round_trip_through_the_redis_hash_format(redis_sync: redis.Redis) -> None:
    catalog = load_catalog(EXAMPLE)
    key = Keys("pzt").offers
    redis_sync.hset(key, mapping={c.id: offer_to_json(c.offer) for c in catalog.offers.values()})
    again = catalog_from_offer_jsons(
        redis_sync.hvals(key),
        contact_defaults=catalog.contact_defaults,
        no_offer_priority=catalog.no_offer_priority,
    )
    assert again.version == catalog.version
    assert list(again.offers) == sorted(catalog.offers)
    with pytest.raises(CatalogError, match="offer 'x': eligibility\\[0\\]"):
        catalog_from_offer_jsons(
            [b'{"id": "x", "name": "x", "kind": "message", "eligibility": ["cart.value >"]}']
        )
