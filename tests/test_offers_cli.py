"""``personalize offers ...`` commands."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from personalize.cli.main import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "offers.yaml"
runner = CliRunner()


def test_validate_example_and_broken_catalog(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["offers", "validate", str(EXAMPLE)])
    assert ok.exit_code == 0, ok.output
    assert "6 offers" in ok.output and "global cap 3 offers per customer per day" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text('offers:\n  - {id: x, name: X, kind: message, eligibility: ["cart.value >"]}\n')
    result = runner.invoke(app, ["offers", "validate", str(bad)])
    assert result.exit_code == 1
    assert (
        "offer 'x': eligibility[0] 'cart.value >': expected a value, found end of rule at position 12"
        in " ".join(result.output.split())
    )


def test_explain_free_shipping(tmp_path: Path) -> None:
    facts = {
        "profile": {
            "orders": 5,
            "shipping_paid_ratio": 1.0,
            "stage": "consideration",
            "segments": [],
        },
        "cart": {"value": 42.0, "items": 2},
        "context": {"page_type": "cart", "channel": "web"},
        "scores": {"p_purchase": 0.71},
    }
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts))
    result = runner.invoke(app, ["offers", "explain", str(EXAMPLE), "--facts", str(path)])
    assert result.exit_code == 0, result.output
    assert "free shipping: cart.value >= 30" in " ".join(result.output.split())


def test_simulate_small() -> None:
    result = runner.invoke(app, ["offers", "simulate", "-n", "50", "--synthetic-offers", "20"])
    assert result.exit_code == 0, result.output
    assert "SIMULATED" in result.output and "50 decisions over 20 offers" in " ".join(
        result.output.split()
    )
