"""Experiments and reports: define A/B tests, read their results, the summary numbers."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, delete, get, put
from litestar.params import FromPath, FromQuery

from personalize.api.errors import ApiError
from personalize.reports import service as reports
from personalize.reports.experiments import Experiment, InvalidExperiment
from personalize.service.runtime import Runtime
from personalize.store.client import with_deadline

MAX_SINCE_DAYS = 400.0


def _rt(request: Request[Any, Any, Any]) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def _check_since_days(since_days: float) -> None:
    # Also refuses nan and inf (every comparison with nan is false).
    if not 0 < since_days <= MAX_SINCE_DAYS:
        raise ApiError(400, "validation_error", f"since_days must be in (0, {MAX_SINCE_DAYS:g}]", "since_days")


def _known_model_versions(rt: Runtime) -> set[str]:
    """Versions an arm may name: the artifacts the workers load experiment models from
    (models_dir/<version>/, see service/refresh.py) and the model this worker serves."""
    models_dir = rt.settings.models_dir
    known = {p.name for p in models_dir.iterdir() if (p / "manifest.json").is_file()} if models_dir.is_dir() else set()
    if rt.models.version is not None:
        known.add(rt.models.version)
    return known


@put("/v1/experiments/{experiment_id:str}", summary="Create or replace an experiment (variants, traffic split)")
async def put_experiment(request: Request[Any, Any, Any], experiment_id: FromPath[str]) -> dict[str, Any]:
    rt = _rt(request)
    body = await request.body()
    try:
        exp = await with_deadline(
            reports.put_experiment(rt.client, rt.keys, body, experiment_id=experiment_id,
                                   known_models=_known_model_versions(rt), refused_models=rt.models.refused),
            rt.settings.redis_timeout_ms,
        )
    except InvalidExperiment as exc:
        raise ApiError(400, "invalid_experiment", str(exc), exc.field or "experiment") from exc
    except msgspec.DecodeError as exc:
        raise ApiError(400, "invalid_experiment", str(exc), "experiment") from exc
    return msgspec.to_builtins(exp)  # type: ignore[no-any-return]


def _listed(exp: Experiment, problem: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = msgspec.to_builtins(exp)
    if problem is not None:  # stored before arms were validated: decide does not run it
        doc["invalid"] = problem
    return doc


@get("/v1/experiments", summary="All experiments (`invalid` says why decide does not run one)")
async def list_experiments(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    rt = _rt(request)
    stored = await with_deadline(reports.stored_experiments(rt.client, rt.keys), rt.settings.redis_timeout_ms)
    return [_listed(e, problem) for e, problem in stored]


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
    _check_since_days(since_days)
    try:
        return await reports.experiment_results(rt.client, rt.keys, rt.clock, experiment_id, since_days,
                                                timeout_ms=rt.settings.redis_timeout_ms)
    except reports.ExperimentNotFound as exc:
        raise ApiError(404, "not_found", f"no experiment {experiment_id[:128]!r}") from exc


@get("/v1/reports/summary", summary="Conversion/revenue by arm and holdout, offers, attribution, experiments, OPE")
async def report_summary(request: Request[Any, Any, Any], since_days: FromQuery[float] = 30.0) -> dict[str, Any]:
    rt = _rt(request)
    _check_since_days(since_days)
    return await reports.summary(rt.client, rt.keys, rt.clock, rt.settings, since_days=since_days, ope_replicates=100,
                                 timeout_ms=rt.settings.redis_timeout_ms)
