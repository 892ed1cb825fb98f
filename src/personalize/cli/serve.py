"""serve, demo, config: run the API (with an embedded Redis when REDIS_URL is unset)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from personalize.offers.catalog import Catalog, CatalogError, parse_catalog
from personalize.settings import SETTINGS_DOC, get_settings
from personalize.store.embedded import EmbeddedRedis

console = Console(stderr=True)


@contextmanager
def redis_for_cli(data_dir: Path, appendfsync: str = "everysec", binary: str = "") -> Iterator[str]:
    """REDIS_URL when set; otherwise an embedded redis-server with AOF under data_dir/redis."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(data_dir / "redis", appendonly=True, appendfsync=appendfsync, binary=binary)
    server.start()
    console.print(f"[dim]embedded redis-server on {server.url} (AOF in {server.data_dir})[/dim]")
    os.environ["REDIS_URL"] = server.url
    try:
        yield server.url
    finally:
        server.stop()
        os.environ.pop("REDIS_URL", None)


def _prepare_metrics_dir(data_dir: Path) -> None:
    prom = data_dir / "prometheus"
    shutil.rmtree(prom, ignore_errors=True)
    prom.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom.resolve())


def run_server(host: str, port: int, workers: int) -> None:
    from granian.constants import Interfaces, Loops
    from granian.server import Server

    Server(
        "personalize.api.app:app_from_env",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        factory=True,
        log_access=False,
        backlog=2048,
    ).serve()


def serve(
    host: str = typer.Option(None, help="Listen address (PERSONALIZE_HOST)."),
    port: int = typer.Option(None, help="Listen port (PERSONALIZE_PORT)."),
    workers: int = typer.Option(None, help="Worker processes (PERSONALIZE_WORKERS)."),
) -> None:
    """Run the API server (granian, uvloop). Starts an embedded Redis when REDIS_URL is unset."""
    settings = get_settings()
    data_dir = settings.data_dir
    offers = _offers_file(settings.offers_file) if settings.offers_file else None  # refused before anything starts
    with redis_for_cli(data_dir, settings.redis_appendfsync, settings.redis_server_binary) as url:
        if offers is not None:
            _apply_offers_file(url, settings.key_prefix, settings.offers_file, *offers)
        _prepare_metrics_dir(data_dir)
        run_server(host or settings.host, port or settings.port, workers or settings.workers)


def _offers_file(path: str) -> tuple[Catalog, str]:
    """PERSONALIZE_OFFERS_FILE, validated, with the digest of the very bytes parsed: a broken
    file stops `serve` with its problems."""
    try:
        data = Path(path).read_bytes()
        fmt = "json" if Path(path).suffix.lower() == ".json" else "yaml"
        return parse_catalog(data.decode("utf-8"), fmt), hashlib.sha256(data).hexdigest()
    except (CatalogError, OSError, UnicodeDecodeError) as exc:
        problems = "; ".join(exc.problems[:5]) if isinstance(exc, CatalogError) else str(exc)
        console.print(f"[red]error:[/] PERSONALIZE_OFFERS_FILE {path}: {problems}", highlight=False)
        raise typer.Exit(2) from exc


def _apply_offers_file(url: str, key_prefix: str, path: str, catalog: Catalog, digest: str) -> None:
    import asyncio

    from personalize.store.client import make_async_client
    from personalize.store.keys import Keys
    from personalize.store.offer_store import OfferStore

    async def apply() -> bool:
        client = make_async_client(url, 2000)
        try:
            return await OfferStore(client, Keys(key_prefix)).apply_file(catalog, digest)
        finally:
            await client.aclose()

    applied = asyncio.run(apply())
    console.print(f"[dim]offer catalog: {len(catalog)} offers from {path}"
                  f"{'' if applied else ' (unchanged since it was applied; API edits kept)'}[/dim]")


def demo(
    port: int = typer.Option(8000, help="Port of the demo API."),
    workers: int = typer.Option(2, help="Server workers."),
    fresh: bool = typer.Option(True, help="Start from an empty demo store (var/demo)."),
    exit_after_load: bool = typer.Option(False, "--exit-after-load", help="Stop once the data is loaded (for CI)."),
) -> None:
    """Start the API on an embedded Redis, replay the real REES46 demo log, print example calls."""
    from personalize.demo import run_demo

    data_dir = Path(os.environ.get("PERSONALIZE_DATA_DIR", "var")) / "demo"
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
    os.environ.pop("REDIS_URL", None)
    with redis_for_cli(data_dir) as url:
        _prepare_metrics_dir(data_dir)
        env = {**os.environ, "REDIS_URL": url, "PERSONALIZE_PORT": str(port), "PERSONALIZE_WORKERS": str(workers),
               "PERSONALIZE_DATA_DIR": str(data_dir), "PERSONALIZE_MODELS_DIR": str(data_dir / "models")}
        server = subprocess.Popen([sys.executable, "-m", "personalize.cli.main", "serve"], env=env)
        try:
            run_demo(f"http://127.0.0.1:{port}", data_dir, env, console)
            if exit_after_load:
                return
            console.print("[bold]Serving. Ctrl-C to stop.[/bold]")
            signal.signal(signal.SIGTERM, lambda *_: server.terminate())
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
            time.sleep(0.2)


def config() -> None:
    """Print every setting with its environment variable, default and current value."""
    table = Table(title="personalize settings")
    table.add_column("variable")
    table.add_column("default")
    table.add_column("current")
    table.add_column("meaning")
    for name, default, meaning in SETTINGS_DOC:
        table.add_row(name, default, os.environ.get(name, ""), meaning)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(demo)
    app.command()(config)
