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


class _StrictFieldParser(argparse.ArgumentParser):
    """A subcommand parser that rejects unknown ``--options`` itself, listing the valid config fields.

    argparse hands a subparser's leftovers to the top-level parser, whose message cannot list them.
    """

    valid_fields: tuple[str, ...] = ()

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unknown argument(s) {' '.join(extras)}; valid config fields: --{', --'.join(self.valid_fields)}")
        return namespace, extras


def _add_train(sub) -> None:
    from benchmark.config import TrainConfig, field_docs  # torch-free

    defaults = TrainConfig().to_dict()
    p = sub.add_parser(
        "train",
        help="train one beta-VAE run into a run directory (resumable)",
        description=(
            "Train one VAE run. Every TrainConfig field is an option (--beta 4, --steps 2000, ...); defaults are "
            "the Locatello et al. 2019 protocol. Re-running on a run directory that holds a checkpoint resumes it."
        ),
        epilog="examples:\n  dbench train --dataset dsprites_procedural --model beta_vae --beta 4 --steps 2000 --seed 0 --out runs/b4s0\n"
        "  dbench train --resume runs/b4s0\n  dbench train --resume runs/b4s0 --steps 4000   # extend the budget",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.__class__ = _StrictFieldParser
    p.valid_fields = tuple(defaults)
    p.add_argument("--out", metavar="RUN_DIR", help="run directory of a new run (resumed if it holds a checkpoint)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR with its saved config")
    p.add_argument("--config", metavar="JSON", help="read config fields from a JSON file (options given here override it)")
    p.add_argument("--recon-png", metavar="PNG", help="after training, save inputs over reconstructions to PNG")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar (default: on a terminal)")
    fields = p.add_argument_group("config fields (TrainConfig; defaults = Locatello et al. 2019)")
    for name, doc in field_docs(TrainConfig).items():
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        fields.add_argument(*flags, dest=f"field.{name}", metavar="V", default=argparse.SUPPRESS, help=f"{doc} [{defaults[name]}]")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    import json

    from benchmark.config import TrainConfig

    overrides = {k[len("field.") :]: v for k, v in vars(args).items() if k.startswith("field.")}
    try:
        if args.config:
            with open(args.config, encoding="utf-8") as f:
                overrides = {**TrainConfig.from_dict(json.load(f), what=args.config).to_dict(), **overrides}
        if args.resume:
            from benchmark.training import read_config

            if args.out and args.out != args.resume:
                raise ValueError(f"give either --out or --resume, not both ({args.out} vs {args.resume})")
            run_dir = args.resume
            config = read_config(run_dir)
            if overrides:
                config = TrainConfig.from_dict({**config.to_dict(), **overrides})
        elif args.out:
            run_dir = args.out
            config = TrainConfig.from_dict(overrides, what="dbench train")
        else:
            raise ValueError("give --out RUN_DIR for a new run, or --resume RUN_DIR to continue one")
    except (ValueError, OSError) as e:
        print(f"dbench train: error: {e}", file=sys.stderr)
        return 2

    from benchmark.training import CheckpointError, NonFiniteLossError, save_reconstruction_grid, train

    try:
        summary = train(config, run_dir, progress=args.progress)
    except (ValueError, CheckpointError, NonFiniteLossError) as e:
        print(f"dbench train: error: {e}", file=sys.stderr)
        return 1
    rate = summary.get("images_per_s")
    print(
        f"{run_dir}: step {summary['step']}, loss {summary.get('loss', float('nan')):.4g} "
        f"(recon {summary.get('recon', float('nan')):.4g}, KL {summary.get('kl', float('nan')):.4g}), "
        f"{summary['elapsed_s']:.1f} s" + (f", {rate:.0f} images/s" if rate else "")
    )
    if args.recon_png:
        print(f"reconstructions: {save_reconstruction_grid(run_dir, args.recon_png)}")
    return 0


def _add_evaluate(sub) -> None:
    from benchmark.metrics.evaluate import add_parser  # light: torch and the models load only when it runs

    add_parser(sub)


_SUBCOMMANDS: list = [_add_train, _add_evaluate]


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
