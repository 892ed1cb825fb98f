"""publish / rollback: make a model version live on every running worker without downtime."""

from __future__ import annotations

from pathlib import Path

import redis
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from personalize.cli.redis_target import cli_redis_url
from personalize.ml.artifact import ArtifactError, check_version_name
from personalize.ml.model import load_artifact
from personalize.settings import get_settings
from personalize.store.keys import Keys
from personalize.store.model_registry import ModelPublisher

console = Console()


def _publisher(redis_url: str | None) -> ModelPublisher:
    client = redis.Redis.from_url(cli_redis_url(redis_url), socket_timeout=5)
    return ModelPublisher(client, Keys(get_settings().key_prefix))


def publish(
    path: Path | None = typer.Argument(None, help="models/<version> directory to publish."),
    rollback: bool = typer.Option(False, "--rollback", help="Publish the previously published version again."),
    redis_url: str | None = typer.Option(None, help="Redis URL (default: REDIS_URL or the local embedded server)."),
) -> None:
    """Verify an artifact (checksums, shapes) and mark it active; workers swap to it in the background."""
    publisher = _publisher(redis_url)
    if rollback:
        previous = publisher.previous()
        if previous is None:
            console.print("[red]nothing to roll back to[/red]")
            raise typer.Exit(1)
        path = Path(previous.path)
    if path is None:
        raise typer.BadParameter("give a models/<version> directory, or --rollback", param_hint="PATH")
    try:
        model = load_artifact(path)
        check_version_name(model.version)  # the registry names versions: plain names only
    except (ArtifactError, OSError) as exc:
        reason = str(exc)
        # Most reasons name the directory already ("o/m: no manifest.json"): not twice.
        shown = reason if reason.startswith(str(path)) else f"{path}: {reason}"
        console.print(f"[red]refused:[/red] {escape(shown)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    entry = publisher.publish(model.version, str(path.resolve()))
    console.print(f"published [bold]{entry.version}[/bold] ({model.n_items:,} items) from {entry.path}; "
                  f"workers pick it up within PERSONALIZE_MODEL_POLL_S ({get_settings().model_poll_s:g} s)")


def models(redis_url: str | None = typer.Option(None, help="Redis URL.")) -> None:
    """List published versions (newest first) and the active one."""
    publisher = _publisher(redis_url)
    active = publisher.active()
    table = Table(title="published models")
    table.add_column("version")
    table.add_column("path")
    table.add_column("active")
    seen = set()
    for entry in publisher.history():
        if entry.version in seen:
            continue
        seen.add(entry.version)
        table.add_row(entry.version, entry.path, "yes" if active and active.version == entry.version else "")
    console.print(table)


def warm_up() -> None:
    """Compile the serving scorer's kernels into numba's cache (~15 s once per install),
    so that the first model a server worker loads does not pay for it."""
    import time

    from personalize.ml.model import warm_kernels

    start = time.perf_counter()
    warm_kernels()
    typer.echo(f"scorer kernels ready ({time.perf_counter() - start:.1f} s)")


def register(app: typer.Typer) -> None:
    app.command()(publish)
    app.command()(models)
    app.command("warm-up")(warm_up)
