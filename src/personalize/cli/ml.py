"""``personalize convert | train | evaluate``: the data scientist's commands."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
errors = Console(stderr=True)

MAX_FACTORS = 1024  # personalize.ml.train.MAX_FACTORS, without importing training at start-up
WEIGHTS_HELP = ("event weights merged into the defaults (product_view=1, image_zoom=1.5, video_play=1.5, "
                "add_to_cart=4, purchase=8), e.g. fav=2,purchase=10; 0 switches a type off")


@contextmanager
def _progress(enabled: bool = True) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False, disable=not enabled) as bar:
        def stage(name: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(name, total=total)
            return lambda steps: bar.advance(task, steps)
        yield stage


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _warn(message: str) -> None:
    """One line on stderr: stdout stays a table (or JSON with --json)."""
    errors.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)


@contextmanager
def _data_errors_reported() -> Iterator[None]:
    """A file that cannot be read or trained on ends the command with its reason (exit 2),
    not a traceback: the reason names the row, column or event types to fix."""
    from personalize.ml.artifact import ArtifactError
    from personalize.ml.events import EventFileError

    try:
        yield
    except (EventFileError, ValueError, ArtifactError) as exc:
        raise _fail(str(exc)) from exc
    except OSError as exc:  # an output path that is a file, unwritable, on /proc, ...
        raise _fail(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)) from exc


def _read_log(path: Path, drop_duplicates: bool) -> Any:
    """Read an event file and report (or, asked to, drop) its exact duplicate rows: logged
    twice, a row counts twice in training and makes a trivial "next item = itself" case."""
    from personalize.ml.events import duplicate_rows, read_events

    log = read_events(path)
    duplicates = duplicate_rows(log)
    count = int(duplicates.sum())
    if count and drop_duplicates:
        log = log.take(np.flatnonzero(~duplicates))
        _warn(f"{path}: dropped {count:,} exact duplicate row(s) (every column equal to an earlier row)")
    elif count:
        _warn(f"{path}: {count:,} exact duplicate row(s) (every column equal to an earlier row) count twice; "
              "--drop-duplicates removes them")
    return log


def _weights(text: str | None) -> dict[str, float]:
    from personalize.ml.interactions import weights_option

    try:
        return weights_option(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--weights") from exc


def _warn_absent_weights(log: Any, text: str | None) -> None:
    from personalize.ml.interactions import absent_weighted_types, parse_weights

    absent = absent_weighted_types(log, parse_weights(text)) if text else []
    if absent:
        _warn(f"--weights names event type(s) the file has no item event of: {', '.join(absent)} (a typo?)")


def _weights_row(weights: dict[str, float]) -> str:
    return ", ".join(f"{t}={w:g}" for t, w in weights.items() if w > 0)


DROP_DUPLICATES_HELP = "drop exact duplicate rows (every column equal to an earlier one) instead of only counting them"


def convert(
    dataset: Annotated[str, typer.Argument(help="yoochoose | tmall | rees46 | online-retail")],
    src: Annotated[Path, typer.Argument(help="source file of that data set")],
    dst: Annotated[Path, typer.Argument(help="canonical event file to write (.csv or .parquet)")],
) -> None:
    """Convert a public data set to the canonical event file."""
    from personalize.ml.convert import CONVERTERS
    from personalize.ml.convert import convert as run_convert
    from personalize.ml.events import write_events

    if dataset not in CONVERTERS:
        raise typer.BadParameter(f"unknown data set {dataset!r}; choose from {', '.join(CONVERTERS)}")
    with _data_errors_reported():
        log = run_convert(dataset, src)
        write_events(log, dst)
    console.print(f"wrote {len(log):,} events from {src} to {dst}")


def split(
    events: Annotated[Path, typer.Argument(help="canonical event file (.csv or .parquet)")],
    train_out: Annotated[Path, typer.Option("--train-out", help="training part to write (.csv or .parquet)")],
    test_out: Annotated[Path, typer.Option("--test-out", help="test part to write (.csv or .parquet)")],
    test_days: Annotated[float, typer.Option(help="sessions ending in the last N days are the test part")] = 1.0,
    test_fraction: Annotated[float | None, typer.Option(
        help="instead: this share of sessions, those that end last (0-1)")] = None,
    drop_duplicates: Annotated[bool, typer.Option(help=DROP_DUPLICATES_HELP)] = False,
) -> None:
    """Time-based train/test split by whole sessions, as session-rec splits (for `evaluate`)."""
    from datetime import UTC, datetime

    from personalize.ml.events import write_events
    from personalize.ml.split import time_split

    with _data_errors_reported():
        parts = time_split(_read_log(events, drop_duplicates), test_days=test_days, test_fraction=test_fraction)
        write_events(parts.train, train_out)
        write_events(parts.test, test_out)
    cutoff = datetime.fromtimestamp(parts.cutoff, UTC).isoformat(timespec="seconds")
    console.print(
        f"train: {len(parts.train):,} events, {parts.train_sessions:,} sessions -> {train_out}\n"
        f"test:  {len(parts.test):,} events, {parts.test_sessions:,} sessions ending after {cutoff} -> {test_out}\n"
        f"dropped from test: {parts.dropped_events:,} events on items unknown to train, "
        f"{parts.dropped_sessions:,} sessions left with fewer than 2 items"
    )


def train(
    events: Annotated[Path, typer.Argument(help="canonical event file (.csv or .parquet)")],
    out: Annotated[Path, typer.Option("--out", help="artifact root; the model goes to OUT/<version>/")] = Path("models"),
    version: Annotated[str | None, typer.Option(help="version name (default: UTC time + model)")] = None,
    factors: Annotated[int, typer.Option(min=1, max=MAX_FACTORS, help="latent factors of ALS/BPR")] = 64,
    iterations: Annotated[int, typer.Option(min=1, help="ALS iterations")] = 15,
    algorithms: Annotated[str, typer.Option(help="comma list of als,bpr,itemknn")] = "als,bpr,itemknn",
    weights: Annotated[str | None, typer.Option(help=WEIGHTS_HELP)] = None,
    half_life_days: Annotated[float, typer.Option(min=0.0, help="time-decay half-life in days (0 = no decay)")] = 30.0,
    neighbors: Annotated[int, typer.Option(min=1, help="neighbors kept per item")] = 100,
    test: Annotated[Path | None, typer.Option(help="optional test events: next-item metrics go into metrics.json")] = None,
    k: Annotated[int, typer.Option(min=1, help="cut-off for --test metrics")] = 20,
    tune: Annotated[bool, typer.Option(help="tune the scoring weights on the newest 10% of sessions")] = True,
    drop_duplicates: Annotated[bool, typer.Option(help=DROP_DUPLICATES_HELP)] = False,
) -> None:
    """Train ALS/BPR/item-item models and write a versioned, checksummed artifact."""
    from personalize.ml import evaluate as ev
    from personalize.ml.model import ScoringParams
    from personalize.ml.train import train as run_train

    config = _train_config(algorithms=algorithms, factors=factors, iterations=iterations, weights=_weights(weights),
                           half_life_days=half_life_days, neighbors=neighbors, tune=tune)
    with _data_errors_reported():
        _check_out(out, version)
        log = _read_log(events, drop_duplicates)
        _warn_absent_weights(log, weights)
        # Read the test file before training: a bad one must not cost a training run.
        cases = _cases(ev.session_cases(_read_log(test, drop_duplicates)), test) if test is not None else None
        with _progress() as stage:
            result = run_train(log, out, config, version, progress=stage, source=str(events))
        if test is not None and cases is not None:
            _add_test_metrics(result.path, log, test, cases, k)
    table = Table(title=f"trained {result.version}")
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in result.summary.items():
        table.add_row(key, ", ".join(f"{a} {s}s" for a, s in value.items()) if isinstance(value, dict) else f"{value:,}" if isinstance(value, int) else str(value))
    tuning = result.metrics.get("tuning")
    if tuning:
        start, tuned = tuning["start"], tuning["tuned"]
        table.add_row("holdout HR/MRR@20", f"{start['hr']:.4f}/{start['mrr']:.4f} -> {tuned['hr']:.4f}/{tuned['mrr']:.4f}")
        changed = {k: v for k, v in tuning["params"].items() if getattr(ScoringParams(), k) != v}
        table.add_row("tuned weights", ", ".join(f"{k}={v}" for k, v in changed.items()) or "defaults kept")
    else:
        table.add_row("tuned weights", "no (disabled or holdout < 200 cases)")
    table.add_row("event weights", _weights_row(dict(config.weights)))
    table.add_row("artifact", str(result.path))
    console.print(table)


def _train_config(*, algorithms: str, weights: dict[str, float], half_life_days: float, **rest: Any) -> Any:
    from personalize.ml.train import TrainConfig

    try:
        return TrainConfig(algorithms=tuple(a.strip() for a in algorithms.split(",") if a.strip()),
                           weights=weights, half_life_days=half_life_days or None, **rest)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _check_out(out: Path, version: str | None) -> None:
    """Refuse before training what write_artifact would refuse after it."""
    from personalize.ml.artifact import ArtifactError, check_version_name

    if out.exists() and not out.is_dir():
        raise ArtifactError(f"--out {out} is a file; give the artifact root directory")
    if version is not None:
        check_version_name(version)
        if (out / version).exists():
            raise ArtifactError(f"{out / version} already exists; versions are immutable, choose another --version")
    out.mkdir(parents=True, exist_ok=True)
    probe = out / f".write-test-{os.getpid()}"
    probe.touch()  # an unwritable root fails here, not after the training run
    probe.unlink()


def _cases(cases: list[Any], source: Path) -> list[Any]:
    if not cases:
        raise ValueError(f"{source}: no next-item cases (no session has two or more item events)")
    return cases


def _add_test_metrics(path: Path, train_log: Any, test: Path, cases: list[Any], k: int) -> None:
    """Evaluate the fresh model on TEST and rewrite metrics.json + its manifest checksum."""
    import hashlib

    from personalize.ml import evaluate as ev
    from personalize.ml.model import load_artifact

    model = load_artifact(path)
    percentiles = ev.popularity_percentiles(train_log.item_id)
    result = ev.evaluate({"served": ev.served(model)}, cases, k, percentiles, model.n_items)[0]
    metrics = dict(model.metrics)
    metrics["next_item"] = {"k": k, "test": str(test), **result.as_dict()}
    data = json.dumps(metrics, indent=2, sort_keys=True).encode()
    (path / "metrics.json").write_bytes(data)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["metrics.json"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (path / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def evaluate(
    train_file: Annotated[Path, typer.Option("--train", help="training events (canonical file)")],
    test_file: Annotated[Path | None, typer.Option("--test", help="test events (canonical file)")] = None,
    tmall: Annotated[Path | None, typer.Option("--tmall", help="tmall/test_cases.csv instead of --test")] = None,
    k: Annotated[int, typer.Option(min=1, help="cut-off")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    model_dir: Annotated[list[Path] | None, typer.Option("--models", help="evaluate these artifacts (default: train one in a temp dir)")] = None,
    reference: Annotated[list[Path] | None, typer.Option("--reference", help="session-rec reference list CSV(s), scored on the same cases")] = None,
    half_life_days: Annotated[float, typer.Option(min=0.0, help="time decay when training here (0 = none)")] = 0.0,
    limit: Annotated[int, typer.Option(min=0, help="evaluate only the first N cases (0 = all)")] = 0,
    tune: Annotated[bool, typer.Option(help="when training here: tune scoring weights on a holdout of TRAIN")] = True,
    weights: Annotated[str | None, typer.Option(help="when training here: " + WEIGHTS_HELP)] = None,
    drop_duplicates: Annotated[bool, typer.Option(help=DROP_DUPLICATES_HELP)] = False,
) -> None:
    """Next-item evaluation: served recommender vs POP, S-POP, item-kNN (and reference lists)."""
    import tempfile

    from personalize.ml import evaluate as ev
    from personalize.ml.model import load_artifact
    from personalize.ml.train import train as run_train

    if (test_file is None) == (tmall is None):
        raise typer.BadParameter("give exactly one of --test or --tmall")
    config = _train_config(algorithms="als,bpr,itemknn", weights=_weights(weights),
                           half_life_days=half_life_days, tune=tune)
    with _data_errors_reported(), tempfile.TemporaryDirectory(prefix="pz-eval-") as tmp:
        train_log = _read_log(train_file, drop_duplicates)
        if tmall is not None:
            cases = _cases(ev.tmall_cases(tmall), tmall)
        else:
            assert test_file is not None
            cases = _cases(ev.session_cases(_read_log(test_file, drop_duplicates)), test_file)
        if limit:
            cases = cases[:limit]
        lists = {_reference_name(p): ev.read_reference_lists(p) for p in reference or []}
        if model_dir:
            models = {f"served {p.name}": load_artifact(p) for p in model_dir}
        else:
            _warn_absent_weights(train_log, weights)
            with _progress(not as_json) as stage:
                trained = run_train(train_log, Path(tmp), config, version="eval", progress=stage)
            models = {"served": load_artifact(trained.path)}
        tables = _evaluation_tables(models, train_log, cases, lists, k, as_json)
    if as_json:
        print(json.dumps({"k": k, "cases": len(cases),
                          "tables": {t: [r.as_dict() for r in rs] for t, rs in tables.items()}}, indent=2))
        return
    for title, rows in tables.items():
        evaluation = Table(title=f"next-item evaluation, {title} (k={k})")
        for column in ("model", "cases", f"HR@{k}", f"MRR@{k}", f"NDCG@{k}", "coverage", "pop. bias"):
            evaluation.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
        for r in rows:
            evaluation.add_row(r.name, f"{r.cases:,}", f"{r.hr:.4f}", f"{r.mrr:.4f}", f"{r.ndcg:.4f}",
                               f"{r.coverage:.4f}", f"{r.popularity_bias:.4f}")
        console.print(evaluation)


def _reference_name(path: Path) -> str:
    return f"ref {path.stem.rsplit('_', 1)[-1]}"  # recoms_rsc15_100k_vsknn.csv -> "ref vsknn"


def _evaluation_tables(models: dict[str, Any], train_log: Any, cases: list[Any],
                       lists: dict[str, dict[tuple[str, int], list[str]]], k: int,
                       as_json: bool) -> dict[str, list[Any]]:
    """The baselines and MODELS on CASES, and again with LISTS on the cases those lists cover."""
    from personalize.ml import evaluate as ev

    first = next(iter(models.values()))
    percentiles = ev.popularity_percentiles(train_log.item_id)
    recommenders: dict[str, ev.Recommender] = {
        "POP": ev.pop_baseline(train_log.item_id),
        "S-POP": ev.spop_baseline(train_log.item_id),
    }
    if first.knn is not None:
        recommenders["item-kNN"] = ev.item_knn_baseline(first, train_log.item_id)
    for name, model in models.items():
        recommenders[name] = ev.served(model)
    with _progress(not as_json) as stage:
        advance = stage("evaluating", len(cases) * len(recommenders))
        results = ev.evaluate(recommenders, cases, k, percentiles, first.n_items, on_case=lambda: advance(1))
    tables = {"all cases": results}
    if lists:
        keys = set.intersection(*(set(v) for v in lists.values()))
        subset = [c for c in cases if (c.session_id, c.position) in keys]
        if not subset:
            _warn(f"no case has a list in every --reference file ({', '.join(lists)}): their session ids "
                  "and positions match none of the test cases (another test split?); no reference table")
            return tables
        same = ev.evaluate(recommenders, subset, k, percentiles, first.n_items)
        for name, table in lists.items():
            refs = ev.reference_recommender(table)
            same.append(ev.score_lists(name, subset, [refs(c, k) for c in subset], k, percentiles, first.n_items))
        tables["cases with reference lists"] = same
    return tables


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
    app.command("split")(split)
    app.command("train")(train)
    app.command("evaluate")(evaluate)
