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


def _add_report(sub) -> None:
    p = sub.add_parser(
        "report",
        help="tables, figures and a self-contained HTML page from result records",
        description="Aggregate result records (RESULTS_DIR/<run.id>/<representation>__<metric>.json) over seeds "
        "into CSV/Markdown/LaTeX tables, PDF/PNG figures and one HTML page.",
    )
    p.add_argument("results", nargs="+", metavar="RESULTS_DIR", help="results directories of `dbench evaluate`")
    p.add_argument("--out", required=True, metavar="REPORT_DIR", help="folder to write the report into")
    p.add_argument("--group-by", default="dataset,model,hparam,representation",
                   help="comma-separated columns that define a setting (default: %(default)s); any column of "
                   "tables/runs.csv, e.g. config.architecture")
    p.add_argument("--metrics", default=None,
                   help="comma-separated metric keys or names (e.g. mig,dci or dci.disentanglement), or 'all'; "
                   "default: the headline keys")
    p.add_argument("--format", default="md,tex,html,csv", help="comma-separated subset of md,tex,html,csv "
                   "(default: %(default)s); figures are always written as PDF and PNG")
    p.add_argument("--no-checkpoints", action="store_true",
                   help="skip traversal and reconstruction figures drawn from checkpoints")
    p.add_argument("--max-checkpoint-runs", type=int, default=24, help="at most this many runs get checkpoint "
                   "figures (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed for point jitter and image choice (default: 0)")
    p.add_argument("--jobs", type=int, default=None, help="processes rendering figures (default: up to 4, one per "
                   "core); the report does not depend on it")
    p.set_defaults(func=_run_report)


def _run_report(args) -> int:
    from benchmark.reports.report import write_report

    def split(s):
        return [t.strip() for t in s.split(",") if t.strip()] if s else None

    try:
        res = write_report(args.results, args.out, group_by=split(args.group_by), metrics=split(args.metrics),
                           formats=split(args.format), checkpoint_figures=not args.no_checkpoints,
                           max_checkpoint_runs=args.max_checkpoint_runs, seed=args.seed, jobs=args.jobs)
    except (ValueError, FileNotFoundError) as exc:
        print(f"dbench report: error: {exc}", file=sys.stderr)
        return 2
    for u in res.unreadable:
        print(f"warning: skipped unreadable record {u.path}: {u.reason}", file=sys.stderr)
    print(f"{res.n_records} records of {res.n_runs} runs; {res.n_failed} failed and {res.n_missing} missing "
          f"evaluations; {len(res.unreadable)} unreadable files")
    print(f"wrote {len(res.files)} files to {res.out_dir}")
    if res.html is not None:
        print(f"report: {res.html}")
    return 0


_SUBCOMMANDS: list = [_add_report]


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
