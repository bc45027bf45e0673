"""Command line: ``dbench <subcommand>``. A thin shell over public functions that the tests call directly.

Each subcommand is one ``_add_<name>`` function that builds its parser and sets ``func``; the
functions run the real work. Imports of heavy modules (torch, ray) stay inside the handlers so
``dbench --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

import benchmark


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dbench",
        description="Disentanglement benchmarking suite: datasets, beta-VAE training, metrics, sweeps, reports.",
    )
    parser.add_argument("--version", action="version", version=f"dbench {benchmark.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def _add_evaluate(sub) -> None:
    from benchmark.metrics.evaluate import add_parser  # light: torch and the models load only when it runs

    add_parser(sub)


_SUBCOMMANDS: list = [_add_evaluate]


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
