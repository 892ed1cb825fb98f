"""GET /v1/models: model versions on disk with their metrics, and which one is active."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from litestar import Request, get

from personalize.service.runtime import Runtime


def list_versions(models_dir: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not models_dir.is_dir():
        return out
    for path in sorted(models_dir.iterdir(), reverse=True):
        manifest = path / "manifest.json"
        if not manifest.is_file():
            continue
        entry: dict[str, Any] = {"version": path.name, "path": str(path.resolve())}
        metrics = path / "metrics.json"
        if metrics.is_file():
            try:
                entry["metrics"] = json.loads(metrics.read_text())
            except ValueError:
                entry["metrics"] = None
        out.append(entry)
    return out


@get("/v1/models", summary="Model versions, their offline metrics, and the one this worker serves")
async def models(request: Request[Any, Any, Any]) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    holder = runtime.models
    return {
        "serving": holder.version,
        "published": {"version": holder.published.version, "path": holder.published.path,
                      "published_at": holder.published.published_at} if holder.published else None,
        "refused": holder.refused,
        "versions": list_versions(runtime.settings.models_dir),
    }
