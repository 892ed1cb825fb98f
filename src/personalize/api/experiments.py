"""Experiments and reports: define A/B tests, read their results, the summary numbers."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, delete, get, put
from litestar.params import FromPath, FromQuery

from personalize.api.errors import ApiError
from personalize.reports import service as reports
from personalize.reports.experiments import InvalidExperiment
from personalize.service.runtime import Runtime
from personalize.store.client import with_deadline


def _rt(request: Request[Any, Any, Any]) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


@put("/v1/experiments/{experiment_id:str}", summary="Create or replace an experiment (variants, traffic split)")
async def put_experiment(request: Request[Any, Any, Any], experiment_id: FromPath[str]) -> dict[str, Any]:
    rt = _rt(request)
    body = await request.body()
    try:
        exp = await with_deadline(reports.put_experiment(rt.client, rt.keys, body), rt.settings.redis_timeout_ms)
    except (InvalidExperiment, msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ApiError(400, "invalid_experiment", str(exc), "experiment") from exc
    if exp.id != experiment_id:
        await rt.client.hdel(rt.keys.experiments, exp.id)
        raise ApiError(400, "validation_error", f"id in the body ({exp.id!r}) differs from the path", "id")
    return msgspec.to_builtins(exp)  # type: ignore[no-any-return]


@get("/v1/experiments", summary="All experiments")
async def list_experiments(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    rt = _rt(request)
    exps = await with_deadline(reports.list_experiments(rt.client, rt.keys), rt.settings.redis_timeout_ms)
    return [msgspec.to_builtins(e) for e in exps]


@delete("/v1/experiments/{experiment_id:str}", status_code=204, summary="Remove an experiment")
async def delete_experiment(request: Request[Any, Any, Any], experiment_id: FromPath[str]) -> None:
    rt = _rt(request)
    if not await with_deadline(reports.delete_experiment(rt.client, rt.keys, experiment_id), rt.settings.redis_timeout_ms):
        raise ApiError(404, "not_found", f"no experiment {experiment_id[:128]!r}")


@get("/v1/experiments/{experiment_id:str}/results", summary="Visitors, conversion, revenue per visitor, lift with CIs, SRM check")
async def experiment_results(
    request: Request[Any, Any, Any], experiment_id: FromPath[str], since_days: FromQuery[float] = 90.0
) -> dict[str, Any]:
    rt = _rt(request)
    try:
        return await reports.experiment_results(rt.client, rt.keys, rt.clock, experiment_id, since_days)
    except reports.ExperimentNotFound as exc:
        raise ApiError(404, "not_found", f"no experiment {experiment_id[:128]!r}") from exc


@get("/v1/reports/summary", summary="Conversion/revenue by arm and holdout, offers, attribution, experiments, OPE")
async def report_summary(request: Request[Any, Any, Any], since_days: FromQuery[float] = 30.0) -> dict[str, Any]:
    rt = _rt(request)
    if not 0 < since_days <= 400:
        raise ApiError(400, "validation_error", "since_days must be in (0, 400]", "since_days")
    return await reports.summary(rt.client, rt.keys, rt.clock, rt.settings, since_days=since_days, ope_replicates=100)
