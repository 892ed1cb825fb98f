"""Time-decayed popularity without rewriting counters.

Each interaction adds ``weight * 2^((t - EPOCH) / half_life)`` to the item's score, so
older interactions weigh exponentially less relative to newer ones and the ranking
is always current. Dividing a score by ``popularity_boost(now)`` gives the decayed
count "as of now". Doubles hold 2^1000, i.e. ~1000 half-lives (8 years at 72 h)
past EPOCH; `personalize maintenance rescale-popularity` would rebase before then.
"""

from __future__ import annotations

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def popularity_boost(now: float, half_life_h: float) -> float:
    return float(2.0 ** ((now - EPOCH) / (half_life_h * 3600.0)))


def decayed(score: float, now: float, half_life_h: float) -> float:
    return score / popularity_boost(now, half_life_h)
