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


def _add_sweep(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a grid of training runs and their evaluation on Ray Tune",
        description="Run a sweep spec (YAML file or preset name: quick, locatello_beta_vae) on Ray Tune: one "
        "trial per grid point trains into its own run directory on the storage, then writes its result "
        "records. Ctrl-C or SIGTERM stop gracefully; --resume continues where it stopped.",
    )
    p.add_argument("spec", help="sweep spec: a YAML file or a preset name")
    p.add_argument("--storage", help="storage folder (local or shared filesystem), overriding the spec's")
    p.add_argument("--address", help="join a running Ray cluster: 'auto' or HOST:PORT (default: a local Ray)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted sweep on the same storage")
    p.add_argument("--dry-run", action="store_true", help="print the trial table and resources; start nothing")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all of this machine)")
    p.set_defaults(func=_run_sweep)


def _run_sweep(args) -> int:
    from benchmark.sweeps.spec import SpecError, load_spec, trial_table

    try:
        spec = load_spec(args.spec, storage=args.storage)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        import os

        print(trial_table(spec))
        print()
        print(spec.resources_summary(num_cpus=os.cpu_count(), num_gpus=_cuda_count()))
        return 0
    from benchmark.sweeps.tune import print_outcome, run_sweep

    try:
        outcome = run_sweep(spec, address=args.address, resume=args.resume, num_cpus=args.num_cpus)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_outcome(spec, outcome)
    return 0 if outcome.ok else 1


def _cuda_count() -> int:
    # Counting GPUs without importing torch: the dry run must stay instant.
    import os
    import shutil
    import subprocess

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        res = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in res.stdout.splitlines() if line.startswith("GPU "))


_SUBCOMMANDS: list = [_add_sweep]


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
