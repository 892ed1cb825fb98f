"""The serving worker's garbage-collector settings (process-wide: restored after the test)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from personalize import heap


@pytest.fixture()
def restore_gc() -> Iterator[None]:
    threshold, serving = gc.get_threshold(), heap._serving
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
        heap._serving = serving


def test_nothing_is_frozen_outside_a_server_worker(restore_gc: None) -> None:
    heap.freeze_long_lived()
    assert gc.get_freeze_count() == 0


def test_a_worker_freezes_what_it_has_loaded_and_collects_young_objects_less_often(restore_gc: None) -> None:
    model_like = [{"item": i} for i in range(1000)]
    heap.tune_for_serving()
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    assert gc.get_freeze_count() >= len(model_like)
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1  # reference cycles made after the freeze are still collected
