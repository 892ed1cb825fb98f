"""Per-customer purchase histories reduced to calibration/holdout summaries (RFM style)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Purchase:
    day: int  # days since an arbitrary epoch (same for all customers)
    value: float = 0.0
    quantity: float = 1.0


@dataclass(frozen=True, slots=True)
class CustomerSummaries:
    """Arrays aligned on ``customers``; times in weeks since each customer's first purchase."""

    customers: tuple[str, ...]
    x: F64  # repeat purchase days in calibration
    t_x: F64
    T: F64
    holdout: F64  # purchase days in the holdout window (0 when there is no holdout)
    monetary: F64  # mean value per purchase day in calibration
    first_value: F64  # value of the first purchase day
    quantity: F64  # mean quantity per purchase day in calibration
    recent_13w: F64  # purchase days in the last 13 weeks of calibration
    mean_gap: F64  # mean weeks between purchase days (T when only one)

    def bgnbd_inputs(self) -> tuple[F64, F64, F64]:
        return self.x, self.t_x, self.T

    def feature_matrix(self) -> F64:
        """RFM + inter-purchase features for gradient boosting."""
        return np.column_stack(
            [
                self.x,
                self.t_x,
                self.T,
                self.T - self.t_x,
                self.monetary,
                self.first_value,
                self.quantity,
                self.recent_13w,
                self.mean_gap,
            ]
        )


FEATURE_NAMES = (
    "repeat_days",
    "t_last_w",
    "age_w",
    "weeks_since_last",
    "mean_value",
    "first_value",
    "mean_quantity",
    "purchase_days_last_13w",
    "mean_gap_w",
)


def summarise(
    histories: Mapping[str, Sequence[Purchase]] | Iterable[tuple[str, Sequence[Purchase]]],
    calibration_end: int,
    holdout_end: int | None = None,
) -> CustomerSummaries:
    """Summaries of customers whose first purchase is on or before ``calibration_end``.

    Same-day purchases are merged into one purchase day (the BG/NBD convention on CDNOW).
    """
    items = histories.items() if isinstance(histories, Mapping) else histories
    names: list[str] = []
    rows: list[tuple[float, ...]] = []
    for customer, purchases in items:
        by_day: dict[int, list[float]] = {}
        for p in purchases:
            acc = by_day.setdefault(p.day, [0.0, 0.0])
            acc[0] += p.value
            acc[1] += p.quantity
        days = np.array(sorted(by_day), dtype=np.int64)
        if days.size == 0 or days[0] > calibration_end:
            continue
        cal = days[days <= calibration_end]
        first = int(cal[0])
        hold = 0.0
        if holdout_end is not None:
            hold = float(((days > calibration_end) & (days <= holdout_end)).sum())
        t_x = (cal[-1] - first) / 7.0
        T = (calibration_end - first) / 7.0
        values = [by_day[int(d)][0] for d in cal]
        quantities = [by_day[int(d)][1] for d in cal]
        gaps = np.diff(cal) / 7.0
        names.append(customer)
        rows.append(
            (
                float(cal.size - 1),
                t_x,
                T,
                hold,
                float(np.mean(values)),
                values[0],
                float(np.mean(quantities)),
                float((cal > calibration_end - 91).sum()),
                float(gaps.mean()) if gaps.size else T,
            )
        )
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 9)
    return CustomerSummaries(
        customers=tuple(names),
        x=arr[:, 0],
        t_x=arr[:, 1],
        T=arr[:, 2],
        holdout=arr[:, 3],
        monetary=arr[:, 4],
        first_value=arr[:, 5],
        quantity=arr[:, 6],
        recent_13w=arr[:, 7],
        mean_gap=arr[:, 8],
    )
