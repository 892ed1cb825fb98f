"""Demo steps a data scientist would run by hand: export the event stream, train a model,
publish it to the running workers, and load the example offer catalog."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

from personalize.offers.catalog import load_catalog

EXAMPLE_OFFERS = Path(__file__).resolve().parents[2] / "examples" / "offers.yaml"


def _cli(args: list[str], env: dict[str, str], console: Console) -> None:
    console.print(f"[dim]$ personalize {' '.join(args)}[/dim]")
    done = subprocess.run([sys.executable, "-m", "personalize.cli.main", *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"personalize {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def train_and_publish_demo_model(base_url: str, data_dir: Path, env: dict[str, str], console: Console) -> None:
    redis_url = env["REDIS_URL"]
    events = data_dir / "events.parquet"
    models = data_dir / "models"
    version = "demo-rees46"
    _cli(["export-events", "--out", str(events), "--redis-url", redis_url], env, console)
    _cli(["train", str(events), "--out", str(models), "--version", version, "--factors", "32",
          "--algorithms", "als,itemknn", "--no-tune"], env, console)
    _cli(["publish", str(models / version), "--redis-url", redis_url], env, console)
    if EXAMPLE_OFFERS.exists():
        document = load_catalog(EXAMPLE_OFFERS).to_document()  # validated; dates as the API takes them
        httpx.put(f"{base_url}/v1/offers", json=document, timeout=30).raise_for_status()
        console.print(f"offer catalog: {len(document['offers'])} example offers from {EXAMPLE_OFFERS.name}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(f"{base_url}/v1/models", timeout=5).json().get("serving") == version:
            console.print(f"model [bold]{version}[/bold] trained on the replayed events and serving")
            return
        time.sleep(0.3)
    console.print("[yellow]the model was published but the worker has not loaded it yet[/yellow]")
