"""Async use cases behind the HTTP API (the lead's controllers call these).

PUT/GET /v1/experiments           -> put_experiment / list_experiments / get_experiment
GET /v1/experiments/{id}/results  -> experiment_results
GET /v1/reports/summary           -> summary
All read the streams through XRANGE in chunks; ``since_days`` bounds the scan.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from personalize.clock import Clock
from personalize.domain.decisions import DecisionRecord
from personalize.reports import experiments as exps
from personalize.reports.records import LoggedEvent
from personalize.reports.streams import read_decisions, read_events
from personalize.reports.summary import build_summary, json_safe
from personalize.settings import Settings
from personalize.store.keys import Keys


class ExperimentNotFound(KeyError):
    pass


async def put_experiment(
    client: aioredis.Redis, keys: Keys, raw: bytes | str | exps.Experiment
) -> exps.Experiment:
    """Validate and store (create or replace). Raises exps.InvalidExperiment (-> 422)."""
    exp = exps.validate(raw) if isinstance(raw, exps.Experiment) else exps.decode_experiment(raw)
    await client.hset(keys.experiments, exp.id, exps.encode_experiment(exp))
    return exp


async def get_experiment(client: aioredis.Redis, keys: Keys, experiment_id: str) -> exps.Experiment:
    raw = await client.hget(keys.experiments, experiment_id)
    if raw is None:
        raise ExperimentNotFound(experiment_id)
    return exps.decode_experiment(raw)


async def list_experiments(client: aioredis.Redis, keys: Keys) -> list[exps.Experiment]:
    raw = await client.hgetall(keys.experiments)
    return sorted((exps.decode_experiment(v) for v in raw.values()), key=lambda e: e.id)


async def delete_experiment(client: aioredis.Redis, keys: Keys, experiment_id: str) -> bool:
    return bool(await client.hdel(keys.experiments, experiment_id))


async def assign_variant(
    client: aioredis.Redis, keys: Keys, clock: Clock, experiment_id: str, unit_id: str
) -> exps.Variant | None:
    """The variant for a unit (see exps.assignment_unit), None if the experiment is not running."""
    exp = await get_experiment(client, keys, experiment_id)
    return exps.assign(exp, unit_id) if exp.active(clock.now()) else None


async def _logs(
    client: aioredis.Redis, keys: Keys, since: float | None, until: float | None
) -> tuple[list[LoggedEvent], list[DecisionRecord]]:
    events = await read_events(client, keys.event_stream, since, until)
    decisions = await read_decisions(client, keys.decision_stream, since, until)
    return events, decisions


async def experiment_results(
    client: aioredis.Redis,
    keys: Keys,
    clock: Clock,
    experiment_id: str,
    since_days: float | None = 90.0,
) -> dict[str, Any]:
    exp = await get_experiment(client, keys, experiment_id)
    since = (
        exp.start
        if exp.start is not None
        else (clock.now() - since_days * 86400 if since_days else None)
    )
    events, decisions = await _logs(client, keys, since, None)
    out = exps.experiment_results(exp, decisions, events)
    out["as_of"] = clock.now()
    return json_safe(out)  # type: ignore[no-any-return]


async def summary(
    client: aioredis.Redis,
    keys: Keys,
    clock: Clock,
    settings: Settings,
    since_days: float = 30.0,
    ope_replicates: int = 200,
) -> dict[str, Any]:
    now = clock.now()
    events, decisions = await _logs(client, keys, now - since_days * 86400, None)
    experiments = await list_experiments(client, keys)
    out = build_summary(
        events,
        decisions,
        experiments,
        window_s=settings.attribution_window_h * 3600,
        holdout_share=settings.holdout_share,
        ope_replicates=ope_replicates,
        source=f"redis streams, last {since_days:g} days",
    )
    out["generated_at"] = now
    return json_safe(out)  # type: ignore[no-any-return]
