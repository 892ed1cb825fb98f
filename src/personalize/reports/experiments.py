"""Experiments: definitions, deterministic assignment, and results (pure).

Assignment rule (sticky across sessions and identity merge):
  the unit is the visitor's FIRST anonymous id when there is one, else the user id.
A visitor who browses anonymously and then logs in keeps the arm they had as
``a:<anon>``; the caller passes ``assignment_unit(user_id, anonymous_id,
first_anonymous_id)`` where ``first_anonymous_id`` is the anonymous id recorded on
the user at their first identify merge (when the storefront keeps sending the same
anonymous cookie after login, ``anonymous_id`` alone is already enough). The arm a
decision used is recorded on the decision (``experiment_id``, ``arm``): results
always read the recorded arm, never recompute it, so a later weight change cannot
rewrite history.

Variants: ``hash(salt:experiment_id:unit) -> [0, 1)`` against cumulative weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import yaml

from personalize.domain.decisions import DecisionRecord
from personalize.reports import stats
from personalize.reports.identity import IdentityMap
from personalize.reports.records import LoggedEvent

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# A model version names a directory under the models directory: no "." or ".." there.
_VERSION = re.compile(r"^[A-Za-z0-9_:-][A-Za-z0-9_.:-]{0,63}$")
# Unix seconds up to the end of year 9999: a start/end past it is a unit mistake (ms), and
# the stream bounds results derive from it must stay valid stream ids.
_MAX_TIME = 253_402_300_800.0


class Variant(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    weight: float = 1.0
    policy: str | None = None  # e.g. a policy version or name to use
    model_version: str | None = None
    parameters: dict[str, Any] = {}
    control: bool = False


class Experiment(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    variants: list[Variant]
    description: str = ""
    start: float | None = None  # unix seconds; None = from creation
    end: float | None = None
    salt: str = ""
    enabled: bool = True

    @property
    def control(self) -> Variant:
        for v in self.variants:
            if v.control:
                return v
        return self.variants[0]

    def active(self, at: float) -> bool:
        return (
            self.enabled
            and (self.start is None or at >= self.start)
            and (self.end is None or at < self.end)
        )


class InvalidExperiment(ValueError):
    """Why a definition is refused; ``field`` names the offending field when there is one."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason, self.field = reason, field


ParameterCheck = Callable[[Any], str | None]  # None: the value is usable, else the reason


def _shown(value: Any) -> str:
    return repr(value)[:60]


def _epsilon(value: Any) -> str | None:
    if _is_number(value) and 0.0 <= value <= 1.0:
        return None
    return f"must be a number in [0, 1], got {_shown(value)}"


def _max_per_category(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100:
        return None
    return f"must be an integer in [1, 100], got {_shown(value)}"


def _boolean(value: Any) -> str | None:
    # Strict: decide applies bool(value), which would read "no" or 0.0 as a choice.
    return None if isinstance(value, bool) else f"must be true or false, got {_shown(value)}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# What an arm may change: exactly what DecideService._apply_variant reads, with the types
# and ranges it needs. A value it cannot use would fail every decide in that arm, and a
# name it does not read would be silently ignored, so both are refused when stored.
PARAMETERS: dict[str, ParameterCheck] = {
    "epsilon": _epsilon,
    "offers": _boolean,
    "max_per_category": _max_per_category,
    "allow_seen": _boolean,
}


def validate(exp: Experiment) -> Experiment:
    """Raise InvalidExperiment with a readable reason; returns the experiment unchanged."""
    check_definition(exp)
    check_arms(exp)
    return exp


def check_definition(exp: Experiment) -> None:
    """Ids, weights, control and dates: what results need to read a stored definition."""
    if not _ID.match(exp.id):
        raise InvalidExperiment("must be 1-64 characters of letters, digits, _ . : -", "id")
    if len(exp.variants) < 2:
        raise InvalidExperiment("an experiment needs at least two variants", "variants")
    names = [v.name for v in exp.variants]
    if len(set(names)) != len(names):
        raise InvalidExperiment("variant names must be unique", "variants")
    for i, v in enumerate(exp.variants):
        if not _ID.match(v.name):
            raise InvalidExperiment(
                f"{v.name[:64]!r} must be 1-64 characters of letters, digits, _ . : -",
                f"variants[{i}].name",
            )
        if not (math.isfinite(v.weight) and v.weight >= 0):
            raise InvalidExperiment("must be a finite number >= 0", f"variants[{i}].weight")
    if sum(v.weight for v in exp.variants) <= 0:
        raise InvalidExperiment("at least one variant needs a positive weight", "variants")
    if sum(1 for v in exp.variants if v.control) > 1:
        raise InvalidExperiment("at most one variant can be the control", "variants")
    for name, at in (("start", exp.start), ("end", exp.end)):
        if at is not None and not (math.isfinite(at) and 0 <= at < _MAX_TIME):
            raise InvalidExperiment(
                f"must be unix seconds in [0, {_MAX_TIME:.0f}), got {at!r}", name
            )
    if exp.start is not None and exp.end is not None and exp.end <= exp.start:
        raise InvalidExperiment("must be after start", "end")


def check_arms(exp: Experiment) -> None:
    """What decide applies per arm: known parameters with usable values, a model version
    that can name an artifact directory (its existence is check_model_versions')."""
    known = ", ".join(sorted(PARAMETERS))
    for i, v in enumerate(exp.variants):
        if v.model_version is not None and not _VERSION.match(v.model_version):
            raise InvalidExperiment(
                "must be 1-64 characters of letters, digits, _ . : - not starting with '.'",
                f"variants[{i}].model_version",
            )
        for name, value in v.parameters.items():
            field = f"variants[{i}].parameters.{name[:64]}"
            check = PARAMETERS.get(name)
            if check is None:
                raise InvalidExperiment(f"unknown parameter; known: {known}", field)
            reason = check(value)
            if reason is not None:
                raise InvalidExperiment(reason, field)


def arms_problem(exp: Experiment) -> str | None:
    """Why decide cannot run a stored definition (stored before check_arms existed), or None."""
    try:
        check_arms(exp)
    except InvalidExperiment as exc:
        return str(exc)
    return None


def check_model_versions(
    exp: Experiment, known: Collection[str], refused: Mapping[str, str] | None = None
) -> None:
    """Every arm's model version is one the workers can load (``known``), not one they refused."""
    refused = refused or {}
    for i, v in enumerate(exp.variants):
        version = v.model_version
        if version is None:
            continue
        field = f"variants[{i}].model_version"
        if version in refused:
            raise InvalidExperiment(
                f"model {version!r} was refused: {refused[version][:200]}", field
            )
        if version not in known:
            listed = ", ".join(sorted(known)[:20]) or "(none)"
            raise InvalidExperiment(f"no model {version!r}; known: {listed}", field)


_AT = re.compile(r" - at `\$\.?(?P<at>[^`]*)`$")
_NAMED = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<f>[^`]+)`")


def _field_of(message: str) -> str | None:
    """The field msgspec's message points at: its path, plus the field it names there."""
    at, named = _AT.search(message), _NAMED.match(message)
    parts = [at.group("at") if at else "", named.group("f") if named else ""]
    return ".".join(p for p in parts if p) or None


def decode_experiment(raw: bytes | str) -> Experiment:
    """Decode and fully validate (what PUT and files go through)."""
    return validate(_decode(raw))


def decode_stored(raw: bytes | str) -> Experiment:
    """Decode a stored definition: results need only check_definition (see arms_problem)."""
    exp = _decode(raw)
    check_definition(exp)
    return exp


def _decode(raw: bytes | str) -> Experiment:
    try:
        return msgspec.json.decode(raw, type=Experiment)
    except msgspec.ValidationError as exc:
        raise InvalidExperiment(str(exc), _field_of(str(exc))) from exc


def encode_experiment(exp: Experiment) -> bytes:
    return msgspec.json.encode(exp)


def load_experiments_file(path: Path) -> list[Experiment]:
    """Experiments from a JSON or YAML file: a list, or ``{"experiments": [...]}``. Validated."""
    text = path.read_text()
    raw = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    items = raw.get("experiments", []) if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise InvalidExperiment(f"{path}: expected a list of experiments")
    out = [decode_experiment(json.dumps(item)) for item in items]
    ids = [e.id for e in out]
    if len(set(ids)) != len(ids):
        raise InvalidExperiment(f"{path}: duplicate experiment ids")
    return out


def assignment_unit(
    user_id: str | None, anonymous_id: str | None, first_anonymous_id: str | None = None
) -> str:
    """The id to hash (see the module docstring for why the anonymous id comes first)."""
    if first_anonymous_id:
        return f"a:{first_anonymous_id}"
    if anonymous_id:
        return f"a:{anonymous_id}"
    if user_id:
        return f"u:{user_id}"
    raise ValueError("user_id or anonymous_id is required")


def unit_hash(salt: str, experiment_id: str, unit_id: str) -> float:
    """Uniform in [0, 1): the first 8 bytes of SHA-256 (stable across processes and versions)."""
    digest = hashlib.sha256(f"{salt}:{experiment_id}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign(exp: Experiment, unit_id: str) -> Variant:
    u = unit_hash(exp.salt, exp.id, unit_id)
    total = sum(v.weight for v in exp.variants)
    acc = 0.0
    for v in exp.variants:
        acc += v.weight / total
        if u < acc and v.weight > 0:
            return v
    return next(v for v in reversed(exp.variants) if v.weight > 0)


# --- results --------------------------------------------------------------------------


def _first_exposures(
    decisions: Sequence[DecisionRecord], identity: IdentityMap, group_of: Any
) -> tuple[dict[str, tuple[float, str]], int]:
    """customer -> (first exposure time, group) and the count of customers seen in two groups."""
    first: dict[str, tuple[float, str]] = {}
    groups_seen: dict[str, set[str]] = defaultdict(set)
    for d in sorted(decisions, key=lambda d: d.timestamp):
        g = group_of(d)
        if g is None:
            continue
        cid = identity.canonical(d.customer_id)
        groups_seen[cid].add(g)
        if cid not in first:
            first[cid] = (d.timestamp, g)
    crossovers = sum(1 for s in groups_seen.values() if len(s) > 1)
    return first, crossovers


def _purchases(
    events: Sequence[LoggedEvent], identity: IdentityMap
) -> dict[str, list[tuple[float, float]]]:
    """customer -> [(time, order total)], duplicates (event id / order id) counted once."""
    seen_e: set[str] = set()
    seen_o: set[str] = set()
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for ev in sorted((e for e in events if e.type == "purchase"), key=lambda e: e.timestamp):
        oid = str(ev.event.get("order_id"))
        if ev.event_id in seen_e or oid in seen_o:
            continue
        seen_e.add(ev.event_id)
        seen_o.add(oid)
        out[identity.canonical(ev.customer_id)].append(
            (ev.timestamp, float(ev.event.get("total", 0.0)))
        )
    return out


def compare_groups(
    decisions: Sequence[DecisionRecord],
    events: Sequence[LoggedEvent],
    group_of: Any,
    control: str,
    expected_weights: dict[str, float] | None = None,
    end: float | None = None,
    identity: IdentityMap | None = None,
) -> dict[str, Any]:
    """Intent-to-treat comparison: every visitor counts in the group of their first exposure;
    conversions and revenue are their purchases after that exposure (until ``end``)."""
    identity = identity or IdentityMap.from_events(events)
    first, crossovers = _first_exposures(decisions, identity, group_of)
    purchases = _purchases(events, identity)
    values: dict[str, list[float]] = defaultdict(list)
    for cid, (t0, g) in first.items():
        spent = sum(
            total for t, total in purchases.get(cid, ()) if t >= t0 and (end is None or t < end)
        )
        values[g].append(spent)
    names = list(expected_weights) if expected_weights else sorted(values)
    for g in values:
        if g not in names:
            names.append(g)
    arms: list[dict[str, Any]] = []
    ctrl = np.asarray(values.get(control, []), dtype=float)
    x0, n0 = int((ctrl > 0).sum()), len(ctrl)
    for g in names:
        v = np.asarray(values.get(g, []), dtype=float)
        n, x = len(v), int((v > 0).sum())
        row: dict[str, Any] = {
            "arm": g,
            "control": g == control,
            "visitors": n,
            "conversions": x,
            "conversion_rate": stats.wilson(x, n).as_dict(),
            "revenue": round(float(v.sum()), 2),
            "revenue_per_visitor": _mean_interval(v),
        }
        if g != control:
            w = stats.welch(v, ctrl)
            row["lift"] = {
                "conversion_rate_abs": stats.newcombe_difference(x, n, x0, n0).as_dict(),
                "conversion_rate_rel": stats.relative_lift_rates(x, n, x0, n0).as_dict(),
                "conversion_p_value": stats.two_proportion_p_value(x, n, x0, n0),
                "revenue_per_visitor_abs": w.difference.as_dict(),
                "revenue_per_visitor_rel": w.relative.as_dict(),
                "revenue_p_value": w.p_value,
            }
        arms.append(row)
    result: dict[str, Any] = {"control": control, "arms": arms, "crossover_visitors": crossovers}
    if expected_weights:
        srm = stats.sample_ratio_mismatch(
            [len(values.get(g, [])) for g in expected_weights], list(expected_weights.values())
        )
        result["srm"] = srm.as_dict()
    return result


def _mean_interval(v: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, float]:
    if len(v) < 2:
        m = float(v.mean()) if len(v) else 0.0
        return {"estimate": m, "low": math.nan, "high": math.nan}
    m = float(v.mean())
    half = stats.Z95 * float(v.std(ddof=1)) / math.sqrt(len(v))
    return {"estimate": m, "low": m - half, "high": m + half}


def experiment_results(
    exp: Experiment, decisions: Sequence[DecisionRecord], events: Sequence[LoggedEvent]
) -> dict[str, Any]:
    """Results of one experiment from the decisions that recorded its arm."""

    def group_of(d: DecisionRecord) -> str | None:
        if d.experiment_id != exp.id or d.arm is None:
            return None
        if exp.start is not None and d.timestamp < exp.start:
            return None
        if exp.end is not None and d.timestamp >= exp.end:
            return None
        return d.arm

    weights = {v.name: v.weight for v in exp.variants}
    out = compare_groups(decisions, events, group_of, exp.control.name, weights, exp.end)
    out["experiment_id"] = exp.id
    out["assignment_rule"] = (
        "sha256(salt:experiment:first anonymous id, else user id); arm read from decisions"
    )
    return out


def holdout_uplift(
    decisions: Sequence[DecisionRecord],
    events: Sequence[LoggedEvent],
    holdout_share: float | None = None,
) -> dict[str, Any]:
    """Next-best-offer uplift: treated vs holdout (customers who never get offers)."""

    def group_of(d: DecisionRecord) -> str:
        return "holdout" if d.holdout else "treated"

    weights = {"holdout": holdout_share, "treated": 1 - holdout_share} if holdout_share else None
    return compare_groups(decisions, events, group_of, "holdout", weights)
