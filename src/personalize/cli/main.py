"""The ``personalize`` command. Each area registers its commands from its own module."""

from __future__ import annotations

import importlib
import os

# Pin BLAS before numpy/implicit load anywhere: multithreaded BLAS hurt serving throughput 4.6x.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import typer

app = typer.Typer(
    name="personalize",
    help="Real-time personalization and next-best-offer API for online stores.",
    no_args_is_help=True,
    add_completion=False,
)

# Modules exposing ``register(app)``; add a line when an area gains commands.
COMMAND_MODULES: tuple[str, ...] = (
    "personalize.cli.serve",
    "personalize.cli.offers",
    "personalize.cli.imports",
    "personalize.cli.models",
    "personalize.cli.propensity",
    "personalize.cli.ml",
    "personalize.cli.reports",
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
