"""Demo step: train a recommendation model on the replayed events and publish it (if available)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console


def train_and_publish_demo_model(base_url: str, data_dir: Path, env: dict[str, str], console: Console) -> None:
    console.print("[dim]model training for the demo: not wired yet; decisions use popularity[/dim]")
