"""The page's items from a ranking: the lazy chooser reads only as much of the ranking as it
needs, and must choose exactly what sorting the whole ranking chose (service/decide.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from personalize.ml.model import Candidate, Ranking
from personalize.service.decide import _choose, _choose_in_rank_order

ITEMS = [f"i{k}" for k in range(30)]
CATEGORIES = ["c0", "c1", "c2", None]


@st.composite
def pages(draw: st.DrawFn) -> tuple[Ranking, dict[str, object]]:
    items = draw(st.lists(st.sampled_from(ITEMS), min_size=0, max_size=25, unique=True))
    # few distinct scores, so ties (kept in rank order) and demotions onto equal scores happen
    scores = sorted(draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 4.0]), min_size=len(items),
                                  max_size=len(items))), reverse=True)
    ranking = Ranking.of([Candidate(item_id=i, score=s, reason="r", source="sequence") for i, s in zip(items, scores)])
    category = {i: draw(st.sampled_from(CATEGORIES)) for i in ITEMS}
    return ranking, {
        "count": draw(st.integers(1, 12)),
        "cap": draw(st.integers(1, 5)),
        "exclude": set(draw(st.lists(st.sampled_from(ITEMS), max_size=5))),
        "oos": frozenset(draw(st.lists(st.sampled_from(ITEMS), max_size=5))),
        "category_filter": draw(st.sampled_from([None, None, "c0", "c1"])),
        "category_of": category.get,
        "shown": {i: draw(st.integers(0, 6)) for i in draw(st.lists(st.sampled_from(ITEMS), max_size=15))},
    }


@settings(max_examples=400, deadline=None)
@given(pages())
def test_lazy_choice_equals_sorting_everything(page: tuple[Ranking, dict[str, object]]) -> None:
    ranking, args = page
    assert _choose_in_rank_order(ranking, **args) == _choose([ranking], **args)  # type: ignore[arg-type]


def test_a_ranking_out_of_order_is_left_to_the_sorting_chooser() -> None:
    ranking = Ranking.of([Candidate(item_id=i, score=s, reason="r", source="als")
                          for i, s in (("a", 1.0), ("b", 2.0))])
    args = {"count": 2, "cap": 2, "exclude": set(), "oos": frozenset(), "category_filter": None,
            "category_of": {}.get, "shown": {}}
    assert _choose_in_rank_order(ranking, **args) is None  # type: ignore[arg-type]
    assert [j for _, _, j, _ in _choose([ranking], **args)] == [1, 0]  # type: ignore[arg-type]
