"""``personalize train-propensity``: purchase, repeat/dormancy and shipping-sensitivity models."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

# Tables are wide; when the output is not a terminal (logs, CI) rich would wrap them at 80.
console = Console(width=max(shutil.get_terminal_size((160, 24)).columns, 120))


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _purchase(path: Path, out: Path | None, version: str) -> dict[str, object]:
    from personalize.propensity.purchase import REFERENCE, train_purchase
    from personalize.propensity.shoppers import load_shoppers

    with console.status("training purchase propensity on online-shoppers..."):
        training = train_purchase(load_shoppers(path), out, version)
    table = Table(
        title=f"In-session purchase propensity (online-shoppers, 70/30 split seed 42; "
        f"reference LR {REFERENCE['lr_auc']}, HGB {REFERENCE['hgb_auc']}, "
        f"HGB w/o PageValues {REFERENCE['hgb_auc_no_page_values']})"
    )
    for col in (
        "model",
        "AUC",
        "log loss",
        "base-rate log loss",
        "log-loss skill",
        "Brier",
        "base Brier",
        "ECE",
    ):
        table.add_column(col, justify="left" if col == "model" else "right")
    served_prefix = (
        "HGB, online features, calibrated" if training.serving == "online_hgb" else "LR, online"
    )
    served = next(r for r in training.reports if r.name.startswith(served_prefix))
    for r in training.reports:
        table.add_row(
            r.name + (" (serving)" if r is served else ""),
            _fmt(r.auc),
            _fmt(r.log_loss),
            _fmt(r.base_log_loss),
            _fmt(r.log_loss_skill),
            _fmt(r.brier),
            _fmt(r.base_brier),
            _fmt(r.expected_calibration_error),
        )
    console.print(table)
    cal = Table(
        title=f"Calibration of the served model ({served.name}), test split; "
        f"base rate {served.base_rate:.3f}"
    )
    for col in ("bin", "n", "mean predicted", "observed"):
        cal.add_column(col, justify="right")
    for b in served.calibration:
        cal.add_row(
            f"{b.lower:.3f}-{b.upper:.3f}",
            str(b.count),
            _fmt(b.mean_predicted),
            _fmt(b.observed_rate),
        )
    console.print(cal)
    return {
        "serving": training.serving,
        "reports": [
            {
                "name": r.name,
                "auc": r.auc,
                "log_loss": r.log_loss,
                "brier": r.brier,
                "base_log_loss": r.base_log_loss,
                "base_brier": r.base_brier,
                "ece": r.expected_calibration_error,
                "calibration": [asdict(b) for b in r.calibration],
            }
            for r in training.reports
        ],
    }


def _repeat(path: Path) -> dict[str, object]:
    from personalize.propensity.repeat import REFERENCE, evaluate_repeat

    with console.status("fitting BG/NBD and gradient boosting on CDNOW..."):
        ev = evaluate_repeat(path)
    params = Table(title="BG/NBD on CDNOW_sample (calibration to 1997-09-30, weeks)")
    for col in ("", "r", "alpha", "a", "b"):
        params.add_column(col, justify="right")
    params.add_row(
        "fitted", *(f"{v:.3f}" for v in (ev.bgnbd.r, ev.bgnbd.alpha, ev.bgnbd.a, ev.bgnbd.b))
    )
    params.add_row("reference", *(f"{REFERENCE[k]:.3f}" for k in ("r", "alpha", "a", "b")))
    console.print(params)
    table = Table(
        title=f"Repeat purchase, 39-week holdout to 1998-06-30 ({ev.n_test} sample customers; "
        f"GB trained on {ev.n_train} other CDNOW customers, same windows)"
    )
    for col in ("model", "holdout MAE", "RMSE", "corr", "AUC buys again", "Brier", "reference"):
        table.add_column(col, justify="left" if col == "model" else "right")
    table.add_row(
        "BG/NBD (ours)",
        _fmt(ev.bgnbd_mae),
        _fmt(ev.bgnbd_rmse),
        _fmt(ev.bgnbd_corr),
        _fmt(ev.bgnbd_auc),
        _fmt(ev.bgnbd_brier),
        f"MAE {REFERENCE['mae']}, AUC {REFERENCE['auc']}",
    )
    table.add_row(
        "GB, mean forecast (Poisson)",
        _fmt(ev.gb_mae),
        _fmt(ev.gb_rmse),
        _fmt(ev.gb_corr),
        _fmt(ev.gb_auc),
        _fmt(ev.gb_brier),
        f"{ev.gb_auc - REFERENCE['auc']:+.3f} AUC vs ref",
    )
    table.add_row(
        "GB time-honest (data to 1997-09-30 only)",
        "-",
        "-",
        "-",
        _fmt(ev.gb_time_honest_auc),
        "-",
        f"{ev.gb_time_honest_auc - REFERENCE['auc']:+.3f} AUC vs ref",
    )
    table.add_row(
        "GB hurdle, point forecast (for MAE)",
        _fmt(ev.gb_point_mae),
        "-",
        "-",
        "-",
        "-",
        f"{ev.gb_point_mae - REFERENCE['mae']:+.3f} MAE vs ref",
    )
    table.add_row(
        "predict 0 for everyone",
        _fmt(ev.zero_mae),
        "-",
        "-",
        "-",
        "-",
        f"{ev.holdout_buyer_share:.1%} buy in holdout",
    )
    console.print(table)
    return asdict(ev)


def _events(
    path: Path, horizon_days: float, redis_url: str | None, prefix: str, version: str
) -> dict[str, object]:
    from personalize.propensity.customer_scores import score_customers, write_scores
    from personalize.propensity.event_log import read_event_log
    from personalize.store.keys import Keys

    with console.status(f"reading {path}..."):
        log = read_event_log(path)
        result = score_customers(log, horizon_days)
    m = result.bgnbd
    source = (
        f"fitted on {result.repeat_buyers} repeat buyers of the file"
        if result.bgnbd_fitted
        else f"only {result.repeat_buyers} repeat buyers: CDNOW reference parameters used "
        "(another store's behaviour, treat scores as rough)"
    )
    table = Table(
        title=f"Customer scores from {path.name} ({log.rows} rows, {log.skipped_rows} skipped)"
    )
    table.add_column("item")
    table.add_column("value", justify="right")
    scores = result.scores
    buyers = [s for s in scores if s.p_buy_again is not None]
    table.add_row("customers scored", str(len(scores)))
    table.add_row("customers with purchases", str(len(buyers)))
    table.add_row(f"BG/NBD r/alpha/a/b ({source})", f"{m.r:.3f}/{m.alpha:.3f}/{m.a:.3f}/{m.b:.3f}")
    if buyers:
        table.add_row(
            f"mean p_buy_again ({horizon_days:g} days)",
            _fmt(sum(s.p_buy_again or 0 for s in buyers) / len(buyers)),
        )
    sp = result.shipping.sensitivity_prior if result.shipping else None
    if sp is None:
        table.add_row("shipping sensitivity", "not scored: the file has no shipping_fee column")
    else:
        table.add_row(
            "shipping sensitivity prior mean / strength", f"{sp.mean:.3f} / {sp.strength:.1f}"
        )
        table.add_row(
            "mean shipping_sensitivity",
            _fmt(sum(s.shipping_sensitivity or 0.0 for s in scores) / max(len(scores), 1)),
        )
    console.print(table)
    written = 0
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url, socket_timeout=10)
        with Progress(console=console) as progress:
            task = progress.add_task("writing scores to Redis", total=len(scores))
            written = write_scores(
                client,
                Keys(prefix),
                scores,
                version=version,
                scored_at=time.time(),
                on_chunk=lambda n: progress.advance(task, n),
            )
        client.close()
        console.print(f"wrote {written} score hashes (prefix {prefix!r}, version {version})")
    return {
        "customers": len(scores),
        "with_purchases": len(buyers),
        "written": written,
        "bgnbd": asdict(m),
        "bgnbd_fitted": result.bgnbd_fitted,
        "horizon_days": horizon_days,
        "shipping_prior": asdict(sp) if sp else None,
    }


def train_propensity(
    online_shoppers: Annotated[
        Path | None,
        typer.Option("--online-shoppers", help="online-shoppers dir or CSV: purchase model"),
    ] = None,
    cdnow: Annotated[
        Path | None, typer.Option("--cdnow", help="CDNOW dir: repeat-purchase evaluation")
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option("--events", help="canonical event file (CSV/Parquet): per-customer scores"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="artifact directory, e.g. models/propensity/<version>"),
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="write batch scores here")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="model version (default: --out's name or a timestamp)"),
    ] = None,
    horizon_days: Annotated[
        float, typer.Option("--horizon-days", help="horizon of p_buy_again")
    ] = 90.0,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Redis key prefix (default: settings)")
    ] = None,
) -> None:
    """Train and report propensity models; write per-customer batch scores."""
    if not (online_shoppers or cdnow or events):
        raise typer.BadParameter("give at least one of --online-shoppers, --cdnow, --events")
    if out and not online_shoppers:
        # The server loads the newest directory under models/propensity as a purchase model;
        # a directory without one would be refused there.
        raise typer.BadParameter("--out stores the purchase model: give --online-shoppers too")
    if redis_url and not events:
        raise typer.BadParameter("--redis-url writes the scores of --events; give --events too")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    model_version = version or (out.name if out else f"propensity-{stamp}")
    if prefix is None:
        from personalize.settings import get_settings

        prefix = get_settings().key_prefix
    report: dict[str, object] = {"version": model_version}
    if online_shoppers:
        report["purchase"] = _purchase(online_shoppers, out, model_version)
    if cdnow:
        report["repeat"] = _repeat(cdnow)
    if events:
        report["customers"] = _events(events, horizon_days, redis_url, prefix, model_version)
    if out:
        from personalize.propensity.artifacts import refresh_manifest

        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2, default=float))
        refresh_manifest(out, {"version": model_version})
        console.print(f"artifact and report in {out}")


def register(app: typer.Typer) -> None:
    app.command("train-propensity")(train_propensity)
