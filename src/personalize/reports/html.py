"""Self-contained HTML report (inline SVG, inline CSS, no external requests)."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from html import escape
from typing import Any

from personalize.reports import charts

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f8fafc;color:#111827}
main{max-width:1160px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #e5e7eb;padding-bottom:6px}
.sub{color:#6b7280;margin-bottom:16px} .warn{background:#fef3c7;border:1px solid #f59e0b;padding:8px 12px;border-radius:6px;margin:8px 0}
.bad{background:#fee2e2;border-color:#ef4444}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:16px}
svg{display:block}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px;overflow-x:auto;min-width:0;margin-bottom:12px}
.kpis{display:flex;gap:12px;flex-wrap:wrap} .kpi{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:8px 14px;min-width:110px}
.kpi b{display:block;font-size:20px} .kpi span{color:#6b7280;font-size:12px}
table{border-collapse:collapse;font-size:12px;width:100%} th,td{padding:3px 6px;text-align:right;border-bottom:1px solid #f1f5f9;white-space:nowrap}
th{white-space:normal;vertical-align:bottom}
th:first-child,td:first-child{text-align:left} th{background:#f8fafc;color:#374151}
.pos{color:#15803d} .neg{color:#b91c1c} .muted{color:#6b7280;font-size:12px}
"""


def _n(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return "–" if not math.isfinite(v) else f"{round(v, digits) + 0.0:,.{digits}f}"
    return escape(str(v))


def _pct(v: float | None, digits: int = 1) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{round(v * 100, digits) + 0.0:.{digits}f}%"  # + 0.0: no "-0.0%"


def _ci(d: dict[str, float], pct: bool = True, signed: bool = False, colour: bool = False) -> str:
    def f(x: float) -> str:
        sign = "+" if signed and math.isfinite(x) and x > 0 else ""
        return sign + (_pct(x) if pct else _n(x))

    est, lo, hi = d["estimate"], d["low"], d["high"]
    # Colour only lifts: green/red when the whole interval is above/below zero.
    cls = ""
    if colour:
        cls = (
            "pos" if math.isfinite(lo) and lo > 0 else "neg" if math.isfinite(hi) and hi < 0 else ""
        )
    return f'<span class="{cls}">{f(est)}</span> <span class="muted">[{f(lo)}, {f(hi)}]</span>'


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _comparison(title: str, res: dict[str, Any]) -> str:
    parts = [f"<h3>{escape(title)}</h3>"]
    srm = res.get("srm")
    if srm and srm["mismatch"]:
        parts.append(
            f'<div class="warn bad">Sample ratio mismatch: χ²={srm["chi_square"]:.2f}, p={srm["p_value"]:.2g}. '
            "The split is not what was configured; do not trust the lift until the cause is found.</div>"
        )
    rows = []
    for a in res["arms"]:
        lift = a.get("lift")
        rows.append(
            [
                escape(a["arm"])
                + (" <span class='muted'>(control)</span>" if a["control"] else ""),
                _n(a["visitors"]),
                _n(a["conversions"]),
                _ci(a["conversion_rate"]),
                _n(a["revenue"]),
                _ci(a["revenue_per_visitor"], pct=False),
                _ci(lift["conversion_rate_rel"], signed=True, colour=True) if lift else "",
                _ci(lift["revenue_per_visitor_rel"], signed=True, colour=True) if lift else "",
                _n(lift["conversion_p_value"], 4) if lift else "",
            ]
        )
    parts.append(
        _table(
            [
                "arm",
                "visitors",
                "conversions",
                "conversion rate [95% CI]",
                "revenue",
                "revenue / visitor [95% CI]",
                "conversion lift [95% CI]",
                "revenue/visitor lift [95% CI]",
                "p (conv.)",
            ],
            rows,
        )
    )
    lifts = [
        (
            f"{a['arm']} conversion",
            *(a["lift"]["conversion_rate_rel"][k] for k in ("estimate", "low", "high")),
        )
        for a in res["arms"]
        if a.get("lift")
    ]
    lifts += [
        (
            f"{a['arm']} revenue/visitor",
            *(a["lift"]["revenue_per_visitor_rel"][k] for k in ("estimate", "low", "high")),
        )
        for a in res["arms"]
        if a.get("lift")
    ]
    parts.append(
        charts.interval_chart(
            lifts,
            f"Relative lift vs {res['control']} (95% CI)",
            percent=True,
            reference=0.0,
            reference_label="no effect",
        )
    )
    if srm:
        parts.append(
            f'<p class="muted">Sample-ratio check: χ²={srm["chi_square"]:.2f}, dof={srm["dof"]}, p={srm["p_value"]:.3g}'
            f" ({'mismatch' if srm['mismatch'] else 'consistent with the configured split'}). "
            f"Visitors seen in more than one group: {res.get('crossover_visitors', 0)}.</p>"
        )
    return "".join(parts)


def render(
    summary: dict[str, Any], title: str = "Personalization report", synthetic: bool = False
) -> str:
    s = summary
    at = s["attribution"]["totals"]
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(s.get("generated_at", time.time())))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        f"<div class='sub'>Source: {escape(str(s.get('source', '')))} · generated {generated} · ",
        f"attribution window {at.get('window_h', 24):g} h, last touch</div>",
    ]
    if synthetic:
        parts.append(
            "<div class='warn'><b>SYNTHETIC DATA.</b> This report was produced from a simulated A/B run, "
            "not from a real store.</div>"
        )
    kpis = [
        ("decisions", _n(s["counts"]["decisions"])),
        ("customers", _n(s["counts"]["customers"])),
        ("orders", _n(at.get("purchases", 0))),
        ("revenue", _n(at.get("revenue", 0.0))),
        ("attributed revenue", _n(at.get("attributed_revenue", 0.0))),
        (
            "by decision id / window / none",
            f"{_n(at.get('attributed_by_decision_id', 0))} / {_n(at.get('attributed_by_window', 0))} / {_n(at.get('unattributed', 0))}",
        ),
        ("duplicates dropped", _n(at.get("duplicates_dropped", 0))),
    ]
    parts.append(
        "<div class='kpis'>"
        + "".join(f"<div class='kpi'><b>{v}</b><span>{escape(k)}</span></div>" for k, v in kpis)
        + "</div>"
    )

    # Daily series by arm and holdout.
    conv: dict[str, list[tuple[str, float]]] = defaultdict(list)
    rev: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for r in s["daily"]:
        conv[r["group"]].append((r["day"], r["conversion_rate"]))
        rev[r["group"]].append((r["day"], r["revenue"]))
    parts.append("<h2>Conversion and revenue per day</h2><div class='grid'>")
    parts.append(
        f"<div class='card'>{charts.line_chart(dict(conv), 'Conversion rate by decision day (last touch)', percent=True)}</div>"
    )
    parts.append(
        f"<div class='card'>{charts.line_chart(dict(rev), 'Attributed revenue by decision day')}</div></div>"
    )

    # Offers.
    offers = s["offers"]
    parts.append("<h2>Offers</h2><div class='grid'>")
    parts.append(
        "<div class='card'>"
        + charts.bar_chart(
            [(o["offer"], o["take_up_rate"]) for o in offers],
            "Take-up rate (accepts / impressions)",
            percent=True,
        )
        + charts.bar_chart(
            [(o["offer"], o["dismissal_rate"]) for o in offers],
            "Dismissal rate",
            percent=True,
            color=charts.PALETTE[1],
        )
        + "</div>"
    )
    parts.append(
        "<div class='card'>"
        + _table(
            ["offer", "decisions", "impressions", "accepts", "dismissals", "take-up", "dismissal"],
            [
                [
                    escape(o["offer"]),
                    _n(o["decisions"]),
                    _n(o["impressions"]),
                    _n(o["accepts"]),
                    _n(o["dismissals"]),
                    _pct(o["take_up_rate"]),
                    _pct(o["dismissal_rate"]),
                ]
                for o in offers
            ],
        )
        + "</div></div>"
    )

    # Attribution.
    groups = s["attribution"]["groups"]
    parts.append("<h2>Attributed revenue</h2><div class='grid'>")
    for dim, label in (
        ("offer", "by offer"),
        ("slot", "by recommendation slot (items bought that the slot showed)"),
    ):
        rows = groups.get(dim, {})
        parts.append(
            "<div class='card'>"
            + charts.bar_chart(
                [(k, v["revenue"]) for k, v in rows.items()],
                f"Revenue {label}",
                color=charts.PALETTE[2],
            )
            + _table(
                [
                    dim,
                    "orders",
                    "revenue",
                    "accepts",
                    "clicks",
                    "influenced orders",
                    "influenced revenue",
                ],
                [
                    [
                        escape(k),
                        _n(v["orders"]),
                        _n(v["revenue"], 0),
                        _n(v["accepts"]),
                        _n(v["clicks"]),
                        _n(v["influenced_orders"]),
                        _n(v["influenced_revenue"], 0),
                    ]
                    for k, v in rows.items()
                ],
            )
            + "</div>"
        )
    parts.append("</div><div class='grid'>")
    for dim in ("model_version", "policy_version", "arm", "holdout"):
        rows = groups.get(dim, {})
        parts.append(
            "<div class='card'><b>By "
            + escape(dim.replace("_", " "))
            + "</b>"
            + _table(
                [dim, "orders", "revenue", "accepts", "clicks", "influenced orders"],
                [
                    [
                        escape(k),
                        _n(v["orders"]),
                        _n(v["revenue"], 0),
                        _n(v["accepts"]),
                        _n(v["clicks"]),
                        _n(v["influenced_orders"]),
                    ]
                    for k, v in rows.items()
                ],
            )
            + "</div>"
        )
    parts.append(
        "</div><p class='muted'>Last touch: an outcome goes to the decision it names (decision_id), else to the "
        "customer's latest decision within the window, after identity merges. Influenced: any decision of the customer in the window. "
        "Duplicate events (same event id) and orders (same order id) count once.</p>"
    )

    # Experiments.
    parts.append("<h2>Experiments</h2>")
    if not s["experiments"] and not s.get("holdout"):
        parts.append("<p class='muted'>No experiment in this period.</p>")
    for res in s["experiments"]:
        parts.append(
            "<div class='card'>" + _comparison(f"Experiment {res['experiment_id']}", res) + "</div>"
        )
    if s.get("experiments_without_definition"):
        parts.append(
            "<p class='muted'>Decisions name experiments with no stored definition: "
            + escape(", ".join(s["experiments_without_definition"]))
            + "</p>"
        )
    if s.get("holdout"):
        parts.append(
            "<div class='card'>"
            + _comparison("Next-best-offer uplift: treated vs holdout", s["holdout"])
            + "</div>"
        )

    # OPE.
    ope_rows = s.get("ope") or []
    parts.append("<h2>Off-policy evaluation of candidate policies</h2>")
    if ope_rows:
        reward = ope_rows[0]["reward"]
        parts.append(
            "<div class='grid'><div class='card'>"
            + charts.interval_chart(
                [
                    (f"{r['policy']} · {r['estimator']}", r["value"], r["low"], r["high"])
                    for r in ope_rows
                    if r["estimator"] in ("SNIPS", "DR")
                ],
                f"Estimated value per decision (reward: {reward}), 95% bootstrap CI",
                percent=reward != "revenue",
                reference=None,
            )
            + "</div>"
        )
        parts.append(
            "<div class='card'>"
            + _table(
                ["policy", "estimator", "value", "95% CI", "n", "effective n"],
                [
                    [
                        escape(r["policy"]),
                        r["estimator"],
                        _n(r["value"], 4),
                        f"[{_n(r['low'], 4)}, {_n(r['high'], 4)}]",
                        _n(r["n"]),
                        _n(round(r["effective_sample_size"])),
                    ]
                    for r in ope_rows
                ],
            )
            + "</div></div>"
        )
        parts.append(
            "<p class='muted'>IPS and SNIPS reweight logged decisions by candidate/logging probability; DR adds a per-offer mean-reward model; "
            "DM uses the model alone, and its interval ignores model error. A small effective n means the candidate rarely agrees with what was logged: trust it less.</p>"
        )
    else:
        parts.append("<p class='muted'>No decisions with logged probabilities.</p>")
    obd = s.get("ope_obd")
    if obd:
        parts.append(
            "<h3>Validation on the Open Bandit Dataset</h3><div class='card'>"
            + _table(
                [
                    "campaign",
                    "estimator",
                    "estimate",
                    "95% CI",
                    "on-policy (BTS logs)",
                    "relative error",
                    "effective n",
                ],
                [
                    [
                        escape(v["campaign"]),
                        e["estimator"],
                        _n(e["value"], 5),
                        f"[{_n(e['low'], 5)}, {_n(e['high'], 5)}]",
                        _n(v["on_policy_value"], 5),
                        _n(e["relative_error"], 3),
                        _n(round(e["effective_sample_size"])),
                    ]
                    for v in obd
                    for e in v["estimates"]
                ],
            )
            + "</div><p class='muted'>Estimated from the uniform-random logs, compared with the click rate "
            "the Bernoulli-TS logs show. Clicks are rare, so intervals are wide: read the relative error against the interval width.</p>"
        )
    parts.append("</main></body></html>")
    return "".join(parts)
