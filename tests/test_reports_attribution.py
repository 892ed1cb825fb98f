"""Attribution on a hand-built log with known answers: windows, duplicates, identity merges."""

from __future__ import annotations

from typing import Any

import pytest

from personalize.domain.decisions import DecisionRecord, RecommendedItem
from personalize.reports.attribution import attribute, rewards_by_decision
from personalize.reports.identity import IdentityMap
from personalize.reports.records import LoggedEvent

T0 = 1_767_225_600.0
H = 3600.0


def ev(cid: str, **e: Any) -> LoggedEvent:
    return LoggedEvent(customer_id=cid, event=e, stream_id="")


def decisions() -> list[DecisionRecord]:
    return [
        DecisionRecord(
            decision_id="d1",
            timestamp=T0,
            customer_id="a:anon1",
            offer_id="o1",
            items=[RecommendedItem(item_id="i1", score=1, reason="x", slot="home")],
            model_version="m1",
            experiment_id="e1",
            arm="A",
        ),
        DecisionRecord(
            decision_id="d2",
            timestamp=T0 + H,
            customer_id="a:anon1",
            items=[RecommendedItem(item_id="i2", score=1, reason="x", slot="pdp")],
            model_version="m2",
        ),
        DecisionRecord(
            decision_id="d3", timestamp=T0 + 100, customer_id="u:bob", offer_id="o2", holdout=False
        ),
    ]


def events() -> list[LoggedEvent]:
    lines = [
        {"item_id": "i2", "price": 15.0, "quantity": 2},
        {"item_id": "i9", "price": 20.0, "quantity": 1},
    ]
    return [
        ev(
            "u:alice",
            type="identify",
            event_id="e-id",
            timestamp=T0 + 4000,
            user_id="alice",
            anonymous_id="anon1",
        ),
        # Purchase without decision id: window -> alice's (ex-anon1's) latest decision d2.
        ev(
            "u:alice",
            type="purchase",
            event_id="p1",
            timestamp=T0 + 5000,
            user_id="alice",
            order_id="A1",
            lines=lines,
            total=50.0,
        ),
        # The storefront retried: same order, new event id -> counted once.
        ev(
            "u:alice",
            type="purchase",
            event_id="p1-retry",
            timestamp=T0 + 5100,
            user_id="alice",
            order_id="A1",
            lines=lines,
            total=50.0,
        ),
        # Offer accept naming d1, delivered twice with the same event id.
        ev(
            "a:anon1",
            type="offer_accept",
            event_id="acc1",
            timestamp=T0 + 6000,
            anonymous_id="anon1",
            decision_id="d1",
            offer_id="o1",
        ),
        ev(
            "a:anon1",
            type="offer_accept",
            event_id="acc1",
            timestamp=T0 + 6000,
            anonymous_id="anon1",
            decision_id="d1",
            offer_id="o1",
        ),
        ev(
            "u:alice",
            type="recommendation_click",
            event_id="c1",
            timestamp=T0 + 3700,
            user_id="alice",
            decision_id="d2",
            item_id="i2",
        ),
        # 2 days later, no decision id: outside the 24 h window -> unattributed.
        ev(
            "u:alice",
            type="purchase",
            event_id="p2",
            timestamp=T0 + 48 * H,
            user_id="alice",
            order_id="A2",
            lines=[{"item_id": "i5", "price": 7.0}],
            total=7.0,
        ),
        # 3 days later but naming d1: explicit decision ids win over the window.
        ev(
            "u:alice",
            type="purchase",
            event_id="p3",
            timestamp=T0 + 72 * H,
            user_id="alice",
            order_id="A3",
            lines=[{"item_id": "i1", "price": 10.0}],
            total=10.0,
            decision_id="d1",
        ),
        # Bob bought before his only decision: decisions after an outcome never get it.
        ev(
            "u:bob",
            type="purchase",
            event_id="pb",
            timestamp=T0 + 50,
            user_id="bob",
            order_id="B1",
            lines=[{"item_id": "i1", "price": 3.0}],
            total=3.0,
        ),
    ]


def test_totals_known_answer() -> None:
    rep = attribute(events(), decisions(), window_s=24 * H)
    t = rep.totals
    assert t["outcomes"] == 6  # 4 purchases, 1 accept, 1 click
    assert t["purchases"] == 4
    assert t["duplicates_dropped"] == 2
    assert t["revenue"] == 70.0
    assert t["attributed_by_decision_id"] == 3  # accept, click, p3
    assert t["attributed_by_window"] == 1  # p1
    assert t["unattributed"] == 2  # p2, bob
    assert t["attributed_revenue"] == 60.0


def test_identity_merge_and_window_pick_latest_decision() -> None:
    rep = attribute(events(), decisions(), window_s=24 * H)
    by_event = {a.outcome.event_id: a for a in rep.attributions}
    p1 = by_event["p1"]
    assert p1.how == "window" and p1.decision is not None and p1.decision.decision_id == "d2"
    assert {d.decision_id for d in p1.influenced_by} == {"d1", "d2"}
    assert p1.outcome.customer_id == "u:alice"
    assert by_event["p3"].how == "decision_id" and by_event["p3"].decision.decision_id == "d1"  # type: ignore[union-attr]
    assert by_event["pb"].how == "none"


def test_group_revenue_known_answer() -> None:
    g = attribute(events(), decisions(), window_s=24 * H).groups
    assert g["offer"]["(no offer)"].orders == 1 and g["offer"]["(no offer)"].revenue == 50.0
    assert (
        g["offer"]["o1"].orders == 1
        and g["offer"]["o1"].revenue == 10.0
        and g["offer"]["o1"].accepts == 1
    )
    # p1 was influenced by d1 (o1) and d2 (no offer); p3 by d1 only.
    assert g["offer"]["o1"].influenced_orders == 2 and g["offer"]["o1"].influenced_revenue == 60.0
    # Slot revenue is item level: 2 x 15 of i2 shown in "pdp"; i1 (home) bought in p3 for 10.
    assert g["slot"]["pdp"].revenue == 30.0 and g["slot"]["pdp"].clicks == 1
    assert g["slot"]["home"].revenue == 10.0
    assert g["model_version"]["m2"].revenue == 50.0 and g["model_version"]["m1"].revenue == 10.0
    assert g["arm"]["e1/A"].revenue == 10.0 and g["arm"]["(no experiment)"].revenue == 50.0


@pytest.mark.parametrize(
    ("window_h", "expected_decision", "influenced"), [(1.0, "d2", {"d2"}), (0.25, None, set())]
)
def test_window_length(
    window_h: float, expected_decision: str | None, influenced: set[str]
) -> None:
    rep = attribute(events(), decisions(), window_s=window_h * H)
    p1 = next(a for a in rep.attributions if a.outcome.event_id == "p1")
    assert (p1.decision.decision_id if p1.decision else None) == expected_decision
    assert {d.decision_id for d in p1.influenced_by} == influenced


def test_late_arrival_order_does_not_matter() -> None:
    shuffled = list(reversed(events()))
    a = attribute(events(), decisions()).as_dict()
    b = attribute(shuffled, list(reversed(decisions()))).as_dict()
    assert a == b


def test_without_merge_the_anonymous_decisions_do_not_count() -> None:
    no_identify = [e for e in events() if e.type != "identify"]
    rep = attribute(no_identify, decisions(), identity=IdentityMap())
    p1 = next(a for a in rep.attributions if a.outcome.event_id == "p1")
    assert p1.how == "none"


def test_rewards_by_decision() -> None:
    rep = attribute(events(), decisions())
    assert rewards_by_decision(rep, "accept") == {"d1": 1.0}
    assert rewards_by_decision(rep, "conversion") == {"d2": 1.0, "d1": 1.0}
    assert rewards_by_decision(rep, "revenue") == {"d2": 50.0, "d1": 10.0}


def test_unknown_decision_id_falls_back_to_the_window() -> None:
    stray = ev(
        "u:alice",
        type="offer_accept",
        event_id="acc9",
        timestamp=T0 + 5000,
        user_id="alice",
        decision_id="not-logged",
        offer_id="o1",
    )
    rep = attribute([*events(), stray], decisions())
    a = next(a for a in rep.attributions if a.outcome.event_id == "acc9")
    assert a.how == "window" and a.decision is not None and a.decision.decision_id == "d2"
    # The accept names its offer: the offer row counts it even though d2 showed no offer.
    assert rep.groups["offer"]["o1"].accepts == 2


def test_empty_logs() -> None:
    rep = attribute([], [])
    assert rep.totals["outcomes"] == 0 and rep.attributions == []
