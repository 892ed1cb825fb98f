"""The online-shoppers data set (UCI, Sakar et al. 2019) as numpy matrices, and its split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow.csv as pa_csv
from sklearn.model_selection import train_test_split

from personalize.propensity.session_features import SHOPPERS_MONTHS, shoppers_row_features

NUMERIC_COLUMNS = (
    "Administrative",
    "Administrative_Duration",
    "Informational",
    "Informational_Duration",
    "ProductRelated",
    "ProductRelated_Duration",
    "BounceRates",
    "ExitRates",
    "PageValues",
    "SpecialDay",
)
CODE_COLUMNS = ("OperatingSystems", "Browser", "Region", "TrafficType")
DEFAULT_FILE = "online_shoppers_intention.csv"


@dataclass(frozen=True, slots=True)
class ShoppersData:
    columns: dict[str, list[object]]
    y: npt.NDArray[np.int64]
    train: npt.NDArray[np.int64]  # row indices: stratified 70/30 split, random_state=42
    test: npt.NDArray[np.int64]

    @property
    def n(self) -> int:
        return int(self.y.size)

    def row(self, i: int) -> dict[str, object]:
        return {k: v[i] for k, v in self.columns.items()}

    def online_matrix(self) -> npt.NDArray[np.float64]:
        """Online-computable features, built row by row with the serving feature code."""
        return np.vstack([shoppers_row_features(self.row(i)) for i in range(self.n)])

    def _num(self, name: str) -> npt.NDArray[np.float64]:
        return np.asarray(self.columns[name], dtype=np.float64)

    def _month(self) -> npt.NDArray[np.int64]:
        return np.asarray([SHOPPERS_MONTHS.index(str(m)) for m in self.columns["Month"]])

    def _flags(self) -> npt.NDArray[np.float64]:
        returning = [v == "Returning_Visitor" for v in self.columns["VisitorType"]]
        new = [v == "New_Visitor" for v in self.columns["VisitorType"]]
        weekend = [bool(v) for v in self.columns["Weekend"]]
        return np.column_stack([returning, new, weekend]).astype(np.float64)

    def full_linear_matrix(self) -> npt.NDArray[np.float64]:
        """All columns for logistic regression: log1p of skewed counts/durations, one-hot month."""
        num = np.column_stack([self._num(c) for c in NUMERIC_COLUMNS])
        skewed = [0, 1, 2, 3, 4, 5, 8]  # counts, durations, PageValues
        num[:, skewed] = np.log1p(num[:, skewed])
        return np.column_stack([num, np.eye(12)[self._month()], self._flags()])

    def full_tree_matrix(self, with_page_values: bool = True) -> npt.NDArray[np.float64]:
        """All columns for gradient boosting (month and codes as ordinal numbers)."""
        names = [c for c in NUMERIC_COLUMNS if with_page_values or c != "PageValues"]
        cols = [self._num(c) for c in names] + [self._month().astype(np.float64)]
        cols += [self._num(c) for c in CODE_COLUMNS]
        return np.column_stack([*cols, self._flags()])


def load_shoppers(path: Path) -> ShoppersData:
    """Load the CSV (a directory holding it, or the file) and make the reference split."""
    file = path / DEFAULT_FILE if path.is_dir() else path
    columns: dict[str, list[object]] = pa_csv.read_csv(file).to_pydict()
    y = np.asarray(columns["Revenue"], dtype=np.int64)
    train, test = train_test_split(np.arange(y.size), test_size=0.3, stratify=y, random_state=42)
    return ShoppersData(columns=columns, y=y, train=np.sort(train), test=np.sort(test))
