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


_SUBCOMMANDS: list = []


# ---------------------------------------------------------------------------------------------- datasets
def _add_datasets(sub) -> None:
    p = sub.add_parser("datasets", help="list, preview and validate the ground-truth datasets")
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION")
    dsub.required = True

    q = dsub.add_parser("list", help="every dataset: factors with sizes, source, whether its real file was found")
    q.add_argument("--path", help="a file or folder to look in instead of the data folder ($DBENCH_DATA_DIR)")
    q.set_defaults(func=_datasets_list)

    q = dsub.add_parser("show", help="PNG grid: one row per factor, that factor swept, the others fixed")
    q.add_argument("name", help="dataset name (see `dbench datasets list`)")
    q.add_argument("--out", required=True, help="PNG file to write")
    q.add_argument("--path", help="the real file (real-file datasets only)")
    q.add_argument("--max-columns", type=int, default=16, help="long factors are subsampled to this many columns")
    q.add_argument("--base", type=int, nargs="+", metavar="CLASS", help="classes of the fixed factors (one per factor)")
    q.set_defaults(func=_datasets_show)

    q = dsub.add_parser("check", help="validate a real dataset file and print its summary")
    q.add_argument("name", help="real-file dataset name: dsprites or shapes3d")
    q.add_argument("--path", help="the file or its folder (default: the data folder, $DBENCH_DATA_DIR)")
    q.set_defaults(func=_datasets_check)


def _datasets_list(args) -> int:
    from benchmark._io import data_dir
    from benchmark.datasets import DATASETS

    rows = []
    for name in sorted(DATASETS):
        cls = DATASETS[name]
        factors = " ".join(f"{n}={s}" for n, s in zip(cls.factor_names, cls.factor_sizes))
        if getattr(cls, "FILE_SPEC", None) is None:
            source = "procedural stand-in" if cls.stand_in else "procedural"
            found = "n/a (drawn offline)"
        else:
            source = "official file"
            hit = cls.find_file(args.path)
            found = f"yes: {hit}" if hit is not None else f"no: put {cls.FILE_SPEC.filenames[0]} in {args.path or data_dir()}"
        rows.append((name, factors, source, found))
    header = ("NAME", "FACTORS", "SOURCE", "REAL FILE FOUND")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(3)]
    for r in [header] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
    return 0


def _datasets_show(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from benchmark.datasets import get
    from benchmark.datasets._files import DatasetFileError
    from benchmark.datasets.preview import save_factor_grid

    try:
        ds = get(args.name, path=args.path) if args.path else get(args.name)
        save_factor_grid(ds, args.out, base=args.base, max_columns=args.max_columns)
    except DatasetFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({ds.name}: {' x '.join(map(str, ds.factor_sizes))}, source {ds.source})")
    return 0


def _datasets_check(args) -> int:
    import numpy as np

    from benchmark.datasets import DATASETS, get
    from benchmark.datasets._files import DatasetFileError

    cls = DATASETS.get(args.name)
    if cls is None or getattr(cls, "FILE_SPEC", None) is None:
        real = sorted(n for n, c in DATASETS.items() if getattr(c, "FILE_SPEC", None) is not None)
        print(f"error: {args.name!r} is not a real-file dataset; check validates one of: {', '.join(real)}", file=sys.stderr)
        return 2
    try:
        ds = get(args.name, path=args.path)
    except DatasetFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"OK {ds.name}: {ds.path} ({ds.path.stat().st_size:,} bytes)")
    print(f"images: {len(ds):,} x {ds.observation_shape} (C, H, W), pixel_max {ds.pixel_max}")
    for name, size, values in zip(ds.factor_names, ds.factor_sizes, ds.factor_values):
        print(f"  {name:<12} {size:>3} classes, values {values.min():.6g} .. {values.max():.6g}")
    official = tuple(cls.factor_sizes) == tuple(ds.factor_sizes)
    print(f"grid: complete, row-major; {'the official grid' if official else 'NOT the official grid ' + str(cls.factor_sizes)}")
    idx = np.random.default_rng(0).integers(0, len(ds), min(len(ds), 10000))
    print(f"mean pixel over {idx.size} sampled images: {float(ds.images(idx).mean()):.6f}")
    return 0


_SUBCOMMANDS.append(_add_datasets)


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
