"""``personalize offers validate | explain | simulate``: check and try an offer catalog offline."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
offers_app = typer.Typer(
    help="Offer catalog: validate, explain one decision, simulate many.", no_args_is_help=True
)

CatalogPath = Annotated[
    Path, typer.Argument(help="Catalog file (.yaml/.yml/.json).", exists=True, dir_okay=False)
]


def _load(path: Path) -> Any:
    from personalize.offers.catalog import CatalogError, load_catalog

    try:
        return load_catalog(path)
    except CatalogError as exc:
        console.print(f"[red]{path}: {len(exc.problems)} problem(s)[/red]")
        for problem in exc.problems:
            console.print(f"  - {problem}", markup=False, highlight=False)
        raise typer.Exit(1) from None


def _policy(mode: str, epsilon: float, temperature: float) -> Any:
    from personalize.offers.arbitration import ExplorationPolicy

    try:
        return ExplorationPolicy(mode=mode, epsilon=epsilon, temperature=temperature)  # type: ignore[arg-type]
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@offers_app.command("validate")
def validate_cmd(path: CatalogPath) -> None:
    """Load a catalog, print its offers, exit 1 listing every problem when it is invalid."""
    catalog = _load(path)
    table = Table(title=f"{path} - {len(catalog)} offers, version {catalog.version}")
    for column in (
        "id",
        "kind",
        "value",
        "channels",
        "purpose",
        "propensity",
        "rules",
        "caps day/week",
        "budget day/total",
    ):
        table.add_column(column)
    for c in catalog.offers.values():
        o, p = c.offer, c.policy
        table.add_row(
            o.id,
            o.kind,
            f"{o.value:g}",
            ",".join(o.channels),
            o.purpose,
            o.propensity_key or f"default {o.default_propensity:g}",
            str(len(c.rules)),
            f"{p.max_per_day}/{p.max_per_week}",
            f"{p.budget_per_day if p.budget_per_day is not None else '-'}/{p.budget_total if p.budget_total is not None else '-'}",
        )
    console.print(table)
    console.print(
        f"[green]ok[/green]: no-offer priority {catalog.no_offer_priority:g}, "
        f"global cap {catalog.contact_defaults.max_offers_per_day} offers per customer per day"
    )


@offers_app.command("explain")
def explain_cmd(
    path: CatalogPath,
    facts_file: Annotated[
        Path,
        typer.Option(
            "--facts", help="JSON file with profile/session/cart/context/scores/item.", exists=True
        ),
    ],
    marketing: Annotated[bool, typer.Option(help="Marketing consent given.")] = True,
    personalization: Annotated[bool, typer.Option(help="Personalization consent given.")] = True,
    channel: Annotated[
        str | None, typer.Option(help="Channel (default facts.context.channel or web).")
    ] = None,
) -> None:
    """Run one greedy decision on the given facts and show every candidate and why."""
    from personalize.offers.arbitration import ConsentFlags, ExplorationPolicy, arbitrate

    catalog = _load(path)
    facts = json.loads(facts_file.read_text())
    decision = arbitrate(
        catalog,
        facts,
        now=time.time(),
        rng=random.Random(0),
        policy=ExplorationPolicy(mode="greedy"),
        channel=channel,
        consent=ConsentFlags(personalization=personalization, marketing=marketing),
        evaluate_all=True,
    )
    table = Table(title="candidates")
    for column in ("offer", "eligible", "priority", "propensity", "probability", "failed"):
        table.add_column(column)
    for cand in decision.candidates:
        table.add_row(
            cand.offer_id or "(no offer)",
            "yes" if cand.eligible else "no",
            f"{cand.priority:.3f}",
            f"{cand.propensity:.3f}",
            f"{cand.probability:.3f}",
            "; ".join(cand.failed),
        )
    console.print(table)
    console.print(decision.explanation, markup=False, highlight=False)


@offers_app.command("simulate")
def simulate_cmd(
    path: Annotated[
        Path | None, typer.Argument(help="Catalog file; omitted: a synthetic catalog.")
    ] = None,
    decisions: Annotated[
        int, typer.Option("--decisions", "-n", min=1, help="Decisions to simulate.")
    ] = 2000,
    synthetic_offers: Annotated[
        int, typer.Option(help="Size of the synthetic catalog when no file is given.")
    ] = 200,
    seed: Annotated[
        int, typer.Option(help="Seed of the simulated visitors and of exploration.")
    ] = 0,
    mode: Annotated[str, typer.Option(help="greedy | epsilon_greedy | softmax")] = "epsilon_greedy",
    epsilon: Annotated[float, typer.Option(help="Exploration share (epsilon_greedy).")] = 0.05,
    temperature: Annotated[float, typer.Option(help="Softmax temperature.")] = 1.0,
    holdout_share: Annotated[float, typer.Option(help="Share of customers held out.")] = 0.05,
) -> None:
    """Arbitrate over SIMULATED visitors: choice shares, exploration and time per decision."""
    from personalize.offers.arbitration import ConsentFlags, arbitrate, in_holdout
    from personalize.offers.synthetic import make_catalog, make_facts

    catalog = _load(path) if path else make_catalog(synthetic_offers, seed)
    policy = _policy(mode, epsilon, temperature)
    rng = random.Random(seed)
    visitors = [make_facts(rng) for _ in range(min(decisions, 5000))]
    chosen: dict[str, int] = {}
    explored = held_out = 0
    elapsed: list[float] = []
    now = time.time()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("deciding", total=decisions)
        for i in range(decisions):
            facts = visitors[i % len(visitors)]
            consent = ConsentFlags(
                personalization=True,
                marketing=bool(facts.get("profile", {}).get("consent", {}).get("marketing")),
            )
            holdout = in_holdout(f"u:sim{i}", holdout_share)
            start = time.perf_counter()
            d = arbitrate(
                catalog, facts, now=now, rng=rng, policy=policy, consent=consent, holdout=holdout
            )
            elapsed.append(time.perf_counter() - start)
            key = d.offer_id or "(no offer)"
            chosen[key] = chosen.get(key, 0) + 1
            explored += d.explored
            held_out += d.holdout
            progress.advance(task)
    elapsed.sort()
    table = Table(
        title=f"SIMULATED visitors: {decisions} decisions over {len(catalog)} offers ({policy.version})"
    )
    table.add_column("offer")
    table.add_column("chosen", justify="right")
    table.add_column("share", justify="right")
    for offer_id, count in sorted(chosen.items(), key=lambda kv: -kv[1])[:15]:
        table.add_row(offer_id, str(count), f"{count / decisions:.1%}")
    console.print(table)

    def pct(q: float) -> float:
        return elapsed[min(len(elapsed) - 1, int(q * len(elapsed)))] * 1e3

    console.print(
        f"explored {explored / decisions:.1%}, holdout {held_out / decisions:.1%}; "
        f"arbitrate p50 {pct(0.5):.3f} ms, p99 {pct(0.99):.3f} ms per decision"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(offers_app, name="offers")
