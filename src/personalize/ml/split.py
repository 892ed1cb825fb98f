"""Time-based train/test split of a canonical event log, the way session-rec splits its data.

Whole sessions go to one side: a session belongs to the test part when its last item event
is in the final ``test_days`` of the log (session-rec's YooChoose split: the last day), or,
with ``test_fraction``, when it is among that share of sessions that end last. Test events
on items the training part never saw are dropped (a recommender cannot name them), and so
are test sessions left with fewer than two item events (no next item to predict).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from personalize.ml.events import EventLog

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Split:
    train: EventLog
    test: EventLog
    cutoff: float  # unix seconds: test sessions end after it
    train_sessions: int
    test_sessions: int
    dropped_events: int  # test events on items unknown to train
    dropped_sessions: int  # test sessions left with < 2 item events


def session_last_seen(log: EventLog, rows: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """For the item events ``rows``: each row's session number and each session's last timestamp."""
    _, inverse = np.unique(log.session_id[rows].astype(str), return_inverse=True)
    last_seen = np.full(int(inverse.max()) + 1 if inverse.size else 0, -np.inf)
    np.maximum.at(last_seen, inverse, log.timestamp[rows])
    return inverse, last_seen


def time_split(log: EventLog, test_days: float | None = 1.0, test_fraction: float | None = None) -> Split:
    """Split ``log`` by time; ``test_fraction`` (0..1, exclusive) overrides ``test_days``."""
    rows = np.flatnonzero(log.item_id != "")
    if rows.size == 0:
        raise ValueError("the log has no item events to split")
    inverse, last_seen = session_last_seen(log, rows)
    if test_fraction is not None:
        if not 0 < test_fraction < 1:
            raise ValueError("test_fraction must be between 0 and 1")
        n_test = int(last_seen.shape[0] * test_fraction)
        order = np.argsort(last_seen, kind="stable")
        is_test = np.zeros(last_seen.shape[0], dtype=bool)
        is_test[order[last_seen.shape[0] - n_test:]] = True
        cutoff = float(last_seen[order[-n_test]]) if n_test else float(last_seen.max())
    else:
        if test_days is None or test_days <= 0:
            raise ValueError("test_days must be positive")
        cutoff = float(log.timestamp[rows].max()) - test_days * DAY_S
        is_test = last_seen > cutoff
    n_test_sessions = int(is_test.sum())
    if n_test_sessions == 0 or n_test_sessions == last_seen.shape[0]:
        raise ValueError(
            f"the split leaves {'no' if n_test_sessions == 0 else 'only'} test sessions: "
            "choose another --test-days or --test-fraction"
        )
    # Whole sessions: every row of a test session (item or not) goes with it.
    test_ids = set(log.session_id[rows][is_test[inverse]].astype(str).tolist())
    in_test = np.fromiter((s in test_ids for s in log.session_id.astype(str)), dtype=bool, count=len(log))
    train = log.take(np.flatnonzero(~in_test))
    known = set(train.item_id.tolist())
    test_rows = np.flatnonzero(in_test)
    keep = np.fromiter((item == "" or item in known for item in log.item_id[test_rows]), dtype=bool,
                       count=test_rows.size)
    test = log.take(test_rows[keep])
    # Sessions with fewer than two item events have no next item to predict.
    item_rows = np.flatnonzero(test.item_id != "")
    sessions, counts = np.unique(test.session_id[item_rows].astype(str), return_counts=True)
    enough = set(sessions[counts >= 2].tolist())
    kept = np.fromiter((s in enough for s in test.session_id.astype(str)), dtype=bool, count=len(test))
    test = test.take(np.flatnonzero(kept))
    if not enough:
        raise ValueError(
            f"the split leaves no test sessions with two or more items known to train (of {n_test_sessions:,} "
            "test sessions, none has a next item to predict): choose another --test-days or --test-fraction, "
            "or check that sessions hold several events"
        )
    return Split(
        train=train, test=test, cutoff=cutoff,
        train_sessions=int(last_seen.shape[0] - n_test_sessions), test_sessions=len(enough),
        dropped_events=int((~keep).sum()), dropped_sessions=n_test_sessions - len(enough),
    )
