"""contact_state_from_fields (day and week formatted once per customer, and only when a counter
needs them) says what asking blocked_reasons offer by offer says."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from personalize.offers.catalog import load_catalog
from personalize.offers.contact import (
    CAP_GLOBAL,
    ContactState,
    blocked_reasons,
    contact_fields_to_read,
    contact_state_from_fields,
    day_stamp,
    week_stamp,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "offers.yaml"
CATALOG = load_catalog(EXAMPLE)
NOW = 1_795_000_000.0


def reference(
    fields: dict[str, str], now: float, ids: list[str], budgets: dict[str, tuple[int, int]] | None
) -> ContactState:
    today = int(fields.get("all") or 0) if fields.get("alld") == day_stamp(now) else 0
    blocked = {}
    for offer_id in ids:
        compiled = CATALOG.offers.get(offer_id)
        if compiled is None:
            continue
        budget = budgets.get(offer_id, (0, 0)) if budgets is not None else None
        reasons = blocked_reasons(compiled.policy, fields, offer_id, now, budget)
        if reasons:
            blocked[offer_id] = tuple(reasons)
    cap = (CAP_GLOBAL,) if today >= CATALOG.contact_defaults.max_offers_per_day else ()
    return ContactState(blocked=blocked, global_reasons=cap, offers_today=today)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_contact_state_matches_offer_by_offer(seed: int) -> None:
    r = random.Random(seed)
    now = NOW + r.uniform(-3 * 86_400, 3 * 86_400)
    days = [day_stamp(now), day_stamp(now - 86_400), "20200101"]
    weeks = [week_stamp(now), week_stamp(now - 7 * 86_400)]
    ids = r.sample([*CATALOG.offers, "gone"], k=r.randint(0, len(CATALOG.offers)))
    fields: dict[str, str] = {}
    if r.random() < 0.5:
        fields |= {"all": str(r.randint(0, 5)), "alld": r.choice(days)}
    for offer_id in r.sample(list(CATALOG.offers), k=r.randint(0, 4)):
        fields |= {
            f"imp:{offer_id}": str(r.randint(0, 4)),
            f"impd:{offer_id}": r.choice(days),
            f"impw:{offer_id}": str(r.randint(0, 6)),
            f"impwk:{offer_id}": r.choice(weeks),
            f"dis:{offer_id}": str(r.randint(0, 3)),
            f"dist:{offer_id}": str(now - r.uniform(0, 40) * 86_400),
            f"red:{offer_id}": str(now - r.uniform(0, 40) * 86_400),
        }
        for name in r.sample(sorted(fields), k=r.randint(0, 2)):
            del fields[name]
    budgets = r.choice(
        [None, {o: (r.randint(0, 3000), r.randint(0, 30_000)) for o in CATALOG.offers}]
    )
    expected = reference(fields, now, ids, budgets)
    assert (
        contact_state_from_fields(fields, CATALOG, now, offer_ids=ids, budgets=budgets) == expected
    )
    as_bytes = {k.encode(): v.encode() for k, v in fields.items()}
    got = contact_state_from_fields(as_bytes, CATALOG, now, offer_ids=ids, budgets=budgets)
    assert (got.global_reasons, got.offers_today, set(got.blocked)) == (
        expected.global_reasons,
        expected.offers_today,
        set(expected.blocked),
    )
    hmget = [fields.get(name) for name in contact_fields_to_read(ids)]
    assert (
        contact_state_from_fields(hmget, CATALOG, now, offer_ids=ids, budgets=budgets) == expected
    )


def test_stamps_around_midnight_and_across_days() -> None:
    from datetime import UTC, datetime

    midnight = 1_795_046_400.0  # 2026-11-19 00:00:00 UTC
    assert midnight % 86_400 == 0
    for now in [
        midnight - 86_400 * 3 + 5,
        midnight - 1.5,
        midnight - 0.9,
        midnight - 1e-7,  # rounds to midnight: the next day, as datetime says
        midnight - 4e-7,
        midnight,
        midnight + 0.5,
        midnight + 1.0,
        midnight + 3600,
        midnight - 3600,
        midnight + 86_400 * 40.25,
        midnight + 86_400 - 0.4,
        midnight,
        -86_400.5,
        0.0,
    ]:
        moment = datetime.fromtimestamp(now, tz=UTC)
        year, week, _ = moment.isocalendar()
        assert day_stamp(now) == moment.strftime("%Y%m%d"), now
        assert week_stamp(now) == f"{year}-W{week:02d}", now


def test_no_contact_state_is_what_an_empty_record_gives() -> None:
    from personalize.offers.catalog import catalog_from_document
    from personalize.offers.contact import no_contact_state

    for cap in (0, 1, 3):
        catalog = catalog_from_document(
            {
                "offers": [{"id": "o", "name": "o", "kind": "message"}],
                "contact_defaults": {"max_offers_per_day": cap},
            }
        )
        for now in (NOW, NOW + 86_400 * 3.5):
            expected = contact_state_from_fields(
                {}, catalog, now, offer_ids=[], budgets={"o": (5, 5)}
            )
            assert no_contact_state(catalog) == expected
            assert no_contact_state(catalog) is no_contact_state(catalog)
