"""Open Bandit Dataset (ZOZOTOWN, st-tech/zr-obp) loader and the OPE validation on it.

Layout: ``{root}/{behavior_policy}/{campaign}/{campaign}.csv`` with columns
``timestamp,item_id,position,click,propensity_score,user_feature_*,user-item_affinity_*``
(behavior_policy = random | bts; campaign = men | women | all). The small sample has no
``all`` directory; ``campaign="all"`` then pools men and women, with the campaign as context.

Validation: estimate the Bernoulli-TS policy's click rate from the ``random`` logs and
compare with the click rate of the ``bts`` logs (its on-policy value). BTS does not use
user features, so its action distribution per position is read from its own logs: the
share of BTS impressions at that position that showed each item (an unbiased estimate of
the time-averaged BTS distribution; the logged propensity_score changes as BTS updates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pacsv
from numpy.typing import NDArray

from personalize.reports import ope, stats

CAMPAIGNS = ("men", "women", "all")
_COLUMNS = ["item_id", "position", "click", "propensity_score"]
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BanditLog:
    """One behaviour policy's log. ``group`` is the campaign index when campaigns are pooled
    (items of different campaigns are different actions); positions are 1..L."""

    item: IntArray
    position: IntArray
    click: FloatArray
    propensity: FloatArray
    group: IntArray

    def __len__(self) -> int:
        return len(self.click)

    @classmethod
    def concat(cls, logs: list[BanditLog]) -> BanditLog:
        return cls(*(np.concatenate([getattr(x, f) for x in logs]) for f in _FIELDS))


_FIELDS = ("item", "position", "click", "propensity", "group")


def _read_csv(path: Path, group: int = 0, limit: int | None = None) -> BanditLog:
    table = pacsv.read_csv(
        str(path), convert_options=pacsv.ConvertOptions(include_columns=_COLUMNS)
    )
    if limit is not None:
        table = table.slice(0, limit)
    n = table.num_rows
    return BanditLog(
        item=np.asarray(table.column("item_id").to_numpy(), dtype=np.int64),
        position=np.asarray(table.column("position").to_numpy(), dtype=np.int64),
        click=np.asarray(table.column("click").to_numpy(), dtype=float),
        propensity=np.asarray(table.column("propensity_score").to_numpy(), dtype=float),
        group=np.full(n, group, dtype=np.int64),
    )


def load(root: Path, behavior_policy: str, campaign: str, limit: int | None = None) -> BanditLog:
    """Read ``{root}/{behavior_policy}/{campaign}/{campaign}.csv``; ``all`` without its own
    file pools men (group 0) and women (group 1)."""
    if campaign not in CAMPAIGNS:
        raise ValueError(f"campaign must be one of {CAMPAIGNS}")
    path = root / behavior_policy / campaign / f"{campaign}.csv"
    if path.exists():
        return _read_csv(path, 0, limit)
    if campaign == "all":
        return BanditLog.concat(
            [load_group(root, behavior_policy, c, g, limit) for g, c in enumerate(("men", "women"))]
        )
    raise FileNotFoundError(path)


def load_group(
    root: Path, behavior_policy: str, campaign: str, group: int, limit: int | None = None
) -> BanditLog:
    return _read_csv(root / behavior_policy / campaign / f"{campaign}.csv", group, limit)


def _shape(*logs: BanditLog) -> tuple[int, int, int]:
    return (
        int(max(int(x.group.max(initial=0)) for x in logs)) + 1,
        int(max(int(x.position.max(initial=1)) for x in logs)) + 1,
        int(max(int(x.item.max(initial=0)) for x in logs)) + 1,
    )


def action_distribution(log: BanditLog, shape: tuple[int, int, int] | None = None) -> FloatArray:
    """[group, position, item]: share of the log's impressions at that position showing the item."""
    shape = shape or _shape(log)
    counts = np.zeros(shape)
    np.add.at(counts, (log.group, log.position, log.item), 1.0)
    totals = counts.sum(axis=2, keepdims=True)
    shares: FloatArray = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    return shares


def reward_model(
    log: BanditLog, shape: tuple[int, int, int] | None = None, prior_strength: float = 100.0
) -> FloatArray:
    """[group, position, item]: click rate shrunk toward the (group, position) click rate.

    Clicks are rare (~0.5%), so raw per-item rates are mostly 0; the shrinkage keeps the
    direct-method part of DR from being a noisy copy of the logged clicks.
    """
    shape = shape or _shape(log)
    shown = np.zeros(shape)
    clicks = np.zeros(shape)
    np.add.at(shown, (log.group, log.position, log.item), 1.0)
    np.add.at(clicks, (log.group, log.position, log.item), log.click)
    n_pos = shown.sum(axis=2, keepdims=True)
    base = np.divide(
        clicks.sum(axis=2, keepdims=True), n_pos, out=np.zeros_like(n_pos), where=n_pos > 0
    )
    q: FloatArray = (clicks + prior_strength * base) / (shown + prior_strength)
    return q


def ope_input(logged: BanditLog, target: FloatArray, q: FloatArray) -> ope.OpeInput:
    """OPE arrays for a target distribution and reward model indexed [group, position, item]."""
    idx = (logged.group, logged.position, logged.item)
    expected = (target * q).sum(axis=2)  # [group, position]
    return ope.OpeInput(
        logged.click,
        logged.propensity,
        target[idx],
        q[idx],
        expected[logged.group, logged.position],
    )


def validate_input(
    root: Path, campaign: str, limit: int | None = None
) -> tuple[ope.OpeInput, BanditLog, BanditLog]:
    """(OPE input from the random logs for the BTS policy, random log, BTS log)."""
    random_log = load(root, "random", campaign, limit)
    bts_log = load(root, "bts", campaign, limit)
    shape = _shape(random_log, bts_log)
    target = action_distribution(bts_log, shape)
    return ope_input(random_log, target, reward_model(random_log, shape)), random_log, bts_log


def validate(
    root: Path,
    campaign: str = "all",
    limit: int | None = None,
    replicates: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Estimate BTS's click rate from the random logs; compare with BTS's on-policy click rate.

    Pooled ``all`` without its own files: the campaign is context (each keeps its own action
    distribution and reward model) and the rounds are pooled.
    """
    data, random_log, bts_log = validate_input(root, campaign, limit)
    pooled = campaign
    if campaign == "all" and not (root / "random" / "all" / "all.csv").exists():
        pooled = "men+women pooled (campaign as context)"
    estimates = ope.estimate(data, replicates=replicates, seed=seed)
    truth = float(bts_log.click.mean())
    truth_ci = stats.wilson(int(bts_log.click.sum()), len(bts_log))
    rows = []
    for e in estimates:
        row = e.as_dict()
        row["relative_error"] = ope.relative_error(e.value, truth)
        row["interval_relative_half_width"] = (e.high - e.low) / 2 / truth if truth else math.nan
        rows.append(row)
    return {
        "campaign": campaign,
        "data": pooled,
        "random_rounds": len(random_log),
        "random_clicks": int(random_log.click.sum()),
        "random_click_rate": float(random_log.click.mean()),
        "bts_rounds": len(bts_log),
        "bts_clicks": int(bts_log.click.sum()),
        "on_policy_value": truth,
        "on_policy_interval": truth_ci.as_dict(),
        "estimates": rows,
        "note": "BTS action distribution = its empirical per-position item shares; reward model = per (position,item) click rate shrunk to the position rate",
    }
