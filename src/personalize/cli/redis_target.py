"""Which Redis a CLI command talks to: REDIS_URL, else the embedded server of a running
`personalize serve` (its unix socket under PERSONALIZE_DATA_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from personalize.settings import get_settings


def cli_redis_url(explicit: str | None = None) -> str:
    if explicit:
        return explicit
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    data_dir = get_settings().data_dir
    for candidate in (data_dir / "redis" / "redis.sock", data_dir / "demo" / "redis" / "redis.sock"):
        if Path(candidate).exists():
            return f"unix://{Path(candidate).resolve()}"
    raise typer.BadParameter(
        "no Redis to talk to: set REDIS_URL, or start `personalize serve` (embedded Redis) first",
        param_hint="REDIS_URL",
    )
