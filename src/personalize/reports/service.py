"""Async use cases behind the HTTP API (the lead's controllers call these).

PUT/GET /v1/experiments           -> put_experiment / stored_experiments (decide's refresh:
                                     list_experiments, the runnable ones)
GET /v1/experiments/{id}/results  -> experiment_results
GET /v1/reports/summary           -> summary
All read the streams through XRANGE in chunks; ``since_days`` bounds the scan.

Deadlines (``timeout_ms``, the API passes PERSONALIZE_REDIS_TIMEOUT_MS; None, the CLI,
waits): every point read gets ``timeout_ms`` and every stream chunk
``STREAM_CHUNK_DEADLINE_FACTOR`` times it, so a stalled Redis turns into StoreUnavailable
(503) within one of them instead of the socket timeout's ~4 s and a 500. There is no
deadline on the whole report: a long range is legitimately many chunks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import redis.asyncio as aioredis

from personalize.clock import Clock
from personalize.domain.decisions import DecisionRecord
from personalize.reports import experiments as exps
from personalize.reports.records import LoggedEvent
from personalize.reports.streams import bounded, read_decisions, read_events
from personalize.reports.summary import build_summary, json_safe
from personalize.settings import Settings
from personalize.store.keys import Keys

# An event-stream entry is a whole ingest batch (up to 500 events): a chunk of 1000 entries
# of 20-event batches (3 MB) reads in ~20 ms here, of 500-event batches in ~0.5 s, more
# than the 250 ms point-read deadline; 4x it (1 s by default) leaves room for that.
STREAM_CHUNK_DEADLINE_FACTOR = 4


def _chunk_deadline(timeout_ms: int | None) -> int | None:
    return None if timeout_ms is None else timeout_ms * STREAM_CHUNK_DEADLINE_FACTOR


class ExperimentNotFound(KeyError):
    pass


async def put_experiment(
    client: aioredis.Redis,
    keys: Keys,
    raw: bytes | str | exps.Experiment,
    experiment_id: str | None = None,
    known_models: Collection[str] | None = None,
    refused_models: Mapping[str, str] | None = None,
) -> exps.Experiment:
    """Validate and store (create or replace). Raises exps.InvalidExperiment (-> 400).

    Everything is checked before the one write, so a refused definition changes nothing:
    ``experiment_id`` (the path's) must equal the document's id; with ``known_models``,
    every arm's model version must be one of them and not in ``refused_models``.
    """
    exp = exps.validate(raw) if isinstance(raw, exps.Experiment) else exps.decode_experiment(raw)
    if experiment_id is not None and exp.id != experiment_id:
        raise exps.InvalidExperiment(f"the body's id ({exp.id!r}) differs from the path", "id")
    if known_models is not None:
        exps.check_model_versions(exp, known_models, refused_models)
    await client.hset(keys.experiments, exp.id, exps.encode_experiment(exp))
    return exp


async def get_experiment(
    client: aioredis.Redis, keys: Keys, experiment_id: str, timeout_ms: int | None = None
) -> exps.Experiment:
    raw = await bounded(client.hget(keys.experiments, experiment_id), timeout_ms)
    if raw is None:
        raise ExperimentNotFound(experiment_id)
    return exps.decode_stored(raw)


async def stored_experiments(
    client: aioredis.Redis, keys: Keys, timeout_ms: int | None = None
) -> list[tuple[exps.Experiment, str | None]]:
    """Every stored definition (by id) with why decide cannot run it, None when it can.

    A reason appears only for definitions stored before their arms were validated."""
    raw = await bounded(client.hgetall(keys.experiments), timeout_ms)
    stored = sorted((exps.decode_stored(v) for v in raw.values()), key=lambda e: e.id)
    return [(e, exps.arms_problem(e)) for e in stored]


async def list_experiments(
    client: aioredis.Redis, keys: Keys, timeout_ms: int | None = None
) -> list[exps.Experiment]:
    """The definitions decide runs: the stored ones whose arms it can apply."""
    return [
        e for e, problem in await stored_experiments(client, keys, timeout_ms) if problem is None
    ]


async def delete_experiment(client: aioredis.Redis, keys: Keys, experiment_id: str) -> bool:
    return bool(await client.hdel(keys.experiments, experiment_id))


async def assign_variant(
    client: aioredis.Redis, keys: Keys, clock: Clock, experiment_id: str, unit_id: str
) -> exps.Variant | None:
    """The variant for a unit (see exps.assignment_unit), None if the experiment is not running."""
    exp = await get_experiment(client, keys, experiment_id)
    return exps.assign(exp, unit_id) if exp.active(clock.now()) else None


async def _logs(
    client: aioredis.Redis,
    keys: Keys,
    since: float | None,
    until: float | None,
    timeout_ms: int | None = None,
) -> tuple[list[LoggedEvent], list[DecisionRecord]]:
    chunk_ms = _chunk_deadline(timeout_ms)
    events = await read_events(client, keys.event_stream, since, until, timeout_ms=chunk_ms)
    decisions = await read_decisions(
        client, keys.decision_stream, since, until, timeout_ms=chunk_ms
    )
    return events, decisions


async def experiment_results(
    client: aioredis.Redis,
    keys: Keys,
    clock: Clock,
    experiment_id: str,
    since_days: float | None = 90.0,
    timeout_ms: int | None = None,
) -> dict[str, Any]:
    exp = await get_experiment(client, keys, experiment_id, timeout_ms)
    since = (
        exp.start
        if exp.start is not None
        else (clock.now() - since_days * 86400 if since_days else None)
    )
    events, decisions = await _logs(client, keys, since, None, timeout_ms)
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
    timeout_ms: int | None = None,
) -> dict[str, Any]:
    now = clock.now()
    events, decisions = await _logs(client, keys, now - since_days * 86400, None, timeout_ms)
    # Results of every stored definition, runnable or not: its decisions were logged.
    experiments = [e for e, _ in await stored_experiments(client, keys, timeout_ms)]
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
