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
    for command in sub.choices.values():  # read by main() before parsing; declared here for --help and argparse
        command.add_argument("--plugin", action="append", default=[], metavar="FILE",
                             help="a Python file registering a method of your own (docs/PLUGINS.md); repeatable")
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
    from benchmark.config import TrainConfig, field_docs, hyperparameter_docs  # torch-free

    defaults = TrainConfig().to_dict()
    p = sub.add_parser(
        "train",
        help="train one VAE run (any method) into a run directory (resumable)",
        description=(
            "Train one VAE run. Every TrainConfig field is an option (--beta 4, --steps 2000, ...); defaults are "
            "the Locatello et al. 2019 protocol. Re-running on a run directory that holds a checkpoint resumes it."
        ),
        epilog="examples:\n  dbench train --dataset dsprites_procedural --model beta_vae --beta 4 --steps 2000 --seed 0 --out runs/b4s0\n"
        "  dbench train --resume runs/b4s0\n  dbench train --resume runs/b4s0 --steps 4000 --extend   # extend the budget\n"
        "  dbench train --pack pack.json --steps 2000   # several runs as one network, each its own run directory\n"
        "  dbench train --resume runs/b1s0 runs/b4s0    # continue them as one pack",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.__class__ = _StrictFieldParser
    p.valid_fields = tuple(TrainConfig.field_names())
    p.add_argument("--out", metavar="RUN_DIR", help="run directory of a new run (resumed if it holds a checkpoint)")
    p.add_argument("--resume", metavar="RUN_DIR", nargs="+", help="continue the run in RUN_DIR with its saved config; "
                   "several RUN_DIRs continue as one pack (they must share all but model, hyperparameters and seed)")
    p.add_argument("--pack", metavar="JSON", help='train several runs as one network (benchmark.packing): a JSON file '
                   '{"config": {shared fields}, "members": [{"out": RUN_DIR, field: value, ...}, ...]}; members may '
                   "differ in model, hyperparameters and seed; options given here apply to every member")
    p.add_argument("--config", metavar="JSON", help="read config fields from a JSON file (options given here override it)")
    p.add_argument("--extend", action="store_true", help="with --resume and a larger --steps: continue the same "
                   "trajectory to the new budget (the run becomes the longer-budget model)")
    p.add_argument("--recon-png", metavar="PNG", help="after training, save inputs over reconstructions to PNG")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar (default: on a terminal)")
    fields = p.add_argument_group("config fields (TrainConfig; defaults = Locatello et al. 2019)")
    options = {name: f"{doc} [{defaults[name]}]" for name, doc in field_docs(TrainConfig).items() if name in defaults}
    hyper = p.add_argument_group("method hyperparameters (each method's own; [default; study grid])")
    for group, docs in ((fields, options), (hyper, hyperparameter_docs())):
        for name, doc in docs.items():
            flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
            group.add_argument(*flags, dest=f"field.{name}", metavar="V", default=argparse.SUPPRESS, help=doc)
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    import json

    from benchmark._io import UserError, check_writable
    from benchmark.config import TrainConfig

    overrides = {k[len("field.") :]: v for k, v in vars(args).items() if k.startswith("field.")}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise UserError(f"--config {args.config}: not valid JSON ({e}); give a JSON object of TrainConfig fields") from None
        try:
            overrides = {**TrainConfig.from_dict(data, what=f"--config {args.config}").to_dict(), **overrides}
        except UserError as e:
            raise UserError(str(e) if args.config in str(e) else f"--config {args.config}: {e}") from None
    if args.pack or (args.resume and len(args.resume) > 1):
        return _cmd_train_pack(args, overrides)
    if args.resume:
        from benchmark.training import read_config

        if args.out and args.out != args.resume[0]:
            raise UserError(f"give either --out or --resume, not both ({args.out} vs {args.resume[0]})")
        run_dir = args.resume[0]
        config = read_config(run_dir)
        if overrides:
            config = config.replace(**overrides)
    elif args.out:
        run_dir = args.out
        config = TrainConfig.from_dict(overrides, what="dbench train")
    else:
        raise UserError("give --out RUN_DIR for a new run, or --resume RUN_DIR to continue one")
    if args.recon_png:
        check_writable(args.recon_png, "--recon-png")  # before training, not found out after it

    from benchmark.training import NonFiniteLossError, train
    from benchmark.views import save_reconstruction_grid

    try:
        summary = train(config, run_dir, progress=args.progress, extend=args.extend)
    except NonFiniteLossError as e:  # the run failed (its last good checkpoint is kept): not a usage error
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


def _read_pack_file(path: str, overrides: dict) -> tuple[list, list]:
    """``(configs, run dirs)`` of a ``--pack`` file; ``overrides`` (the command line's fields) apply to every member."""
    import json

    from benchmark._io import UserError
    from benchmark.config import TrainConfig

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise UserError(f"--pack {path}: not valid JSON ({e})") from None
    members = data.get("members") if isinstance(data, dict) else None
    if not isinstance(members, list) or not members or set(data) - {"config", "members"} or not all(
            isinstance(m, dict) and isinstance(m.get("out"), str) for m in members):
        raise UserError(f'--pack {path}: expected {{"config": {{fields}}, "members": [{{"out": RUN_DIR, field: value, ...}}, '
                        "...]} with at least one member, each with its run directory")
    shared = dict(data.get("config") or {})
    configs = [TrainConfig.from_dict({**shared, **{k: v for k, v in m.items() if k != "out"}, **overrides},
                                     what=f"--pack {path}: members[{i}]") for i, m in enumerate(members)]
    return configs, [m["out"] for m in members]


def _cmd_train_pack(args: argparse.Namespace, overrides: dict) -> int:
    from benchmark._io import UserError

    if args.recon_png or args.out or args.config or (args.pack and args.resume):
        raise UserError("a pack trains from --pack FILE (its shared fields in the file's config) or --resume RUN_DIR "
                        "RUN_DIR ...; --out, --config and --recon-png are for one run")
    if args.pack:
        configs, run_dirs = _read_pack_file(args.pack, overrides)
    else:
        from benchmark.training import read_config

        run_dirs = args.resume
        configs = [read_config(d).replace(**overrides) if overrides else read_config(d) for d in run_dirs]
    from benchmark.packing import train_pack

    summaries = train_pack(configs, run_dirs, progress=args.progress, extend=args.extend)
    failed = 0
    for run_dir, summary in zip(run_dirs, summaries):
        if "error" in summary:
            failed += 1
            print(f"dbench train: error: {summary['error']}", file=sys.stderr)
            continue
        rate = summary.get("images_per_s")
        print(f"{run_dir}: step {summary['step']}, loss {summary.get('loss', float('nan')):.4g} (recon "
              f"{summary.get('recon', float('nan')):.4g}, KL {summary.get('kl', float('nan')):.4g}), "
              f"{summary['elapsed_s']:.1f} s" + (f", {rate:.0f} images/s per model" if rate else ""))
    print(f"pack of {len(run_dirs)}: {len(run_dirs) - failed} trained, {failed} stopped by a non-finite loss")
    return 1 if failed else 0


def _add_evaluate(sub) -> None:
    from benchmark.metrics import METRICS, PROTOCOLS  # torch-free: models and torch load only when it runs
    from benchmark.metrics.costs import cost_table

    p = sub.add_parser(
        "evaluate",
        help="score trained run directories with the disentanglement metrics",
        description="Score run directories; one JSON record per (run, representation, metric) in --results.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="defaults: --metrics all (the study's metrics; 'extended' adds irs ... dci_es below) --protocol "
               "reference.\nmeasured cost of one dSprites model at the reference protocol (benchmark/metrics/costs.py: "
               "the first\nmetric also pays the shared grid encoding, ~1,850 images/s on 2 CPU cores; --protocol "
               "quick is ~1 min):\n" + cost_table(METRICS),
    )
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="run directories written by `dbench train` (none "
                   "with --encoder)")
    p.add_argument("--metrics", default="all", help="'all' (the study's metrics, the default), 'extended' (all and "
                   "the newer ones) or a comma list of: " + ", ".join(METRICS))
    p.add_argument("--representation", default="mean", help="mean, sampled or mean,sampled (default: mean)")
    p.add_argument("--results", default="results", help="results directory (default: ./results)")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (default: 0)")
    p.add_argument("--device", default="auto", help="torch device: auto (cuda if available), cpu, cuda, ...")
    p.add_argument("--dataset", default=None, help="dataset name (default: the run's config; required with --encoder)")
    p.add_argument("--encoder", metavar="FILE|MODULE:FUNCTION", help="score a model the suite did not train: a "
                   "TorchScript (torch.jit.save) or torch.export (.pt2) file, or a Python callable module:function or "
                   "path/file.py:function; images (N, C, 64, 64) in [0, 1] -> means or (means, log-variances)")
    p.add_argument("--decoder", metavar="FILE|MODULE:FUNCTION", help="with --encoder: its decoder, codes -> logits "
                   "(N, C, 64, 64), for the reconstruction metric (left out without one)")
    p.add_argument("--id", metavar="NAME", help="with --encoder: the run.id of its records (default: "
                   "encoder-<first 12 hex digits of the file's SHA-256>; required for a callable)")
    p.add_argument("--force", action="store_true", help="recompute records that already exist")
    p.add_argument("--allow-unfinished", action="store_true",
                   help="score runs that have not reached their step budget (records say run.finished false)")
    p.add_argument("--jobs", type=int, default=None, help="processes for a metric's independent fits (DCI per factor, "
                   "SAP per code, ...); default: the CPUs this process may use; the values do not depend on it")
    p.add_argument("--protocol", default="reference", choices=list(PROTOCOLS),
                   help="metric sample sizes: reference (Locatello et al. 2019, the default) or quick (the quick "
                        "presets' reduced sizes, for short budgets); recorded in every record")
    p.add_argument(
        "--set", action="append", metavar="METRIC.PARAM=VALUE",
        help="change a protocol parameter, e.g. --set dci.num_train=1000 (recorded under protocol.*)",
    )
    p.add_argument("--address", default=None,
                   help="fan the runs out over a Ray cluster, one task per run: 'auto' or HOST:PORT (run and results "
                        "directories on storage every node sees); interrupted, run it again: existing records are skipped")
    p.add_argument("--cpus-per-run", type=float, default=1, help="with --address: CPUs each run's task holds (default: 1)")
    p.add_argument("--gpus-per-run", type=float, default=0,
                   help="with --address: GPU share each run's task holds, e.g. 0.25 (default: 0, CPU only)")
    p.set_defaults(func=_cmd_evaluate)


def parse_set(items) -> dict:
    """``["dci.num_train=1000", ...]`` → ``{"dci": {"num_train": 1000}}``; values are JSON, else text."""
    import json

    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        metric, dot, param = key.partition(".")
        if not sep or not dot or not param:
            raise ValueError(f"--set expects METRIC.PARAM=VALUE (e.g. dci.num_train=1000), got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(metric, {})[param] = value
    return out


def _cmd_evaluate(args: argparse.Namespace) -> int:
    """Every run dir in turn; failures reported at the end; exit 1 if any failed."""
    from pathlib import Path

    from benchmark._io import check_writable
    from benchmark.metrics import METRICS, parse_metrics, parse_representations, resolve_protocol

    try:
        names = parse_metrics(args.metrics)
        kinds = parse_representations(args.representation)
        overrides = parse_set(args.set or [])
        if args.jobs is not None and args.jobs < 1:
            raise ValueError(f"--jobs must be a positive number of processes, got {args.jobs}")
        for metric, params in overrides.items():  # a typo fails here, before any record is read or replaced
            resolve_protocol(METRICS[metric].name, params, args.protocol)
        check_writable(Path(args.results) / "record.json", "--results")  # before the first metric, not after it
        if args.encoder is None and (args.decoder or args.id or not args.run_dirs):
            raise ValueError("--decoder and --id go with --encoder" if args.run_dirs else "give RUN_DIR arguments (run "
                             "directories of dbench train), or --encoder FILE|MODULE:FUNCTION --dataset NAME")
    except ValueError as exc:
        print(f"dbench evaluate: {exc}", file=sys.stderr)
        return 2
    if args.encoder is not None:
        return _evaluate_encoder(args, names, kinds, overrides)
    if args.address is not None:
        return _evaluate_on_ray(args, names, kinds, overrides)
    from benchmark.evaluation import ProgressLine, evaluate

    failures: list[tuple[str, str]] = []
    total = len(args.run_dirs)
    for i, run_dir in enumerate(args.run_dirs, 1):
        print(f"[{i}/{total}] {run_dir}", flush=True)
        try:
            records = evaluate(
                run_dir, dataset=args.dataset, metrics=names, representation=kinds, seed=args.seed,
                results_dir=args.results, force=args.force, device=args.device, allow_unfinished=args.allow_unfinished,
                protocol=args.protocol, jobs=args.jobs, metric_progress=ProgressLine(),
                progress=lambda line: print(line, flush=True), **overrides,
            )
        except Exception as exc:  # a missing/corrupt checkpoint must not stop the other runs
            failures.append((str(run_dir), f"{type(exc).__name__}: {exc}"))
            print(f"  failed: {type(exc).__name__}: {exc}", flush=True)
            continue
        failures += [(str(run_dir), f"{r['eval.representation']}/{r['eval.metric']}: {r.get('error')}")
                     for r in records if r.get("status") != "ok"]
    return _print_failures(failures, total, args.results)


def _print_failures(failures: list[tuple[str, str]], total: int, results: str) -> int:
    print(f"evaluated {total - len({f[0] for f in failures})}/{total} runs without failure; records in {results}")
    if failures:
        print("failures:", file=sys.stderr)
        for run_dir, reason in failures:
            print(f"  {run_dir}: {reason}", file=sys.stderr)
        return 1
    return 0


def _evaluate_on_ray(args: argparse.Namespace, names: list, kinds: list, overrides: dict) -> int:
    """``dbench evaluate --address``: one Ray task per run (:mod:`benchmark.sweeps.fanout`)."""
    from benchmark.sweeps.fanout import evaluate_runs

    if args.cpus_per_run <= 0 or args.gpus_per_run < 0:
        print(f"dbench evaluate: --cpus-per-run must be > 0 and --gpus-per-run >= 0, got {args.cpus_per_run:g} "
              f"and {args.gpus_per_run:g}", file=sys.stderr)
        return 2
    outcome = evaluate_runs(
        args.run_dirs, address=args.address, cpus=args.cpus_per_run, gpus=args.gpus_per_run, plugins=args.plugin or (),
        dataset=args.dataset, metrics=names, representation=kinds, seed=args.seed, results_dir=args.results,
        force=args.force, device=args.device, allow_unfinished=args.allow_unfinished, protocol=args.protocol,
        **overrides,
    )
    return _print_failures(outcome.failures, len(args.run_dirs), args.results)


def _evaluate_encoder(args: argparse.Namespace, names: list, kinds: list, overrides: dict) -> int:
    """``dbench evaluate --encoder``: a model the suite did not train (:mod:`benchmark.encoders`). Bad input (the
    files, the dataset, a representation it lacks, an encoder failing on its first batch) is one line, exit 2."""
    from benchmark._io import UserError

    if args.run_dirs or args.address is not None:
        raise UserError("--encoder scores one model in this process: give it without RUN_DIR arguments or --address")
    if not args.dataset:
        raise UserError("--encoder needs --dataset NAME (an encoder carries no config to take it from)")
    from benchmark import records
    from benchmark.encoders import identity, load
    from benchmark.evaluation import ProgressLine, evaluate
    from benchmark.training import resolve_device

    try:
        device = str(resolve_device(args.device))
    except (ValueError, RuntimeError) as exc:
        raise UserError(f"--device {args.device}: {exc}") from None
    fns = {"representation_fn": load(args.encoder, "--encoder", device)}
    if args.decoder:
        fns["decoder_fn"] = load(args.decoder, "--decoder", device)
    print(f"[1/1] {args.encoder}", flush=True)
    try:
        rid = records.external_run_id(identity(fns["representation_fn"]), args.id, what="--id")
        recs = evaluate(None, dataset=args.dataset, metrics=names, representation=kinds, seed=args.seed,
                        results_dir=args.results, force=args.force, device=device, run_id_override=rid,
                        protocol=args.protocol, jobs=args.jobs, metric_progress=ProgressLine(),
                        progress=lambda line: print(line, flush=True), **fns, **overrides)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    failures = [(args.encoder, f"{r['eval.representation']}/{r['eval.metric']}: {r.get('error')}")
                for r in recs if r.get("status") != "ok"]
    return _print_failures(failures, 1, args.results)


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
    from benchmark.datasets.preview import save_factor_grid

    if args.max_columns < 1:
        print(f"error: --max-columns must be >= 1, got {args.max_columns}", file=sys.stderr)
        return 2
    try:
        ds = get(args.name, path=args.path)
        save_factor_grid(ds, args.out, base=args.base, max_columns=args.max_columns)
    except ValueError as exc:  # DatasetFileError included
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({ds.name}: {' x '.join(map(str, ds.factor_sizes))}, source {ds.source})")
    return 0


def _datasets_check(args) -> int:
    import numpy as np

    from benchmark.datasets import DATASETS, get, real_file_datasets
    from benchmark.datasets._files import DatasetFileError

    real = real_file_datasets()
    if args.name not in real:
        print(f"error: {args.name!r} is not a real-file dataset; check validates one of: {', '.join(real)}", file=sys.stderr)
        return 2
    cls = DATASETS[args.name]
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
    images = ds.sample_observations_from_factors(ds.index_to_factors(idx), np.random.default_rng(1))
    print(f"mean pixel over {idx.size} sampled images: {float(images.mean()):.6f}")
    return 0


def _add_report(sub) -> None:
    p = sub.add_parser(
        "report",
        help="tables, figures and a self-contained HTML page from result records",
        description="Aggregate result records (RESULTS_DIR/<run.id>/<representation>__<metric>.json) over seeds "
        "into CSV/Markdown/LaTeX tables, PDF/PNG figures and one HTML page.",
    )
    p.add_argument("results", nargs="+", metavar="RESULTS_DIR", help="results directories of `dbench evaluate`, or "
                   "sweep folders (<storage>/<name>, holding sweep.json): their grid says what is missing")
    p.add_argument("--out", required=True, metavar="REPORT_DIR", help="folder to write the report into")
    p.add_argument("--group-by", default="dataset,model,hparam,representation",
                   help="comma-separated columns that define a setting (default: %(default)s); any column of "
                   "tables/runs.csv, e.g. config.architecture")
    p.add_argument("--metrics", default=None,
                   help="the paper tables' columns: comma-separated metric keys or names (e.g. mig,dci or "
                   "dci.disentanglement), or 'all'; default: beta_vae, factor_vae, mig, dci, sap, modularity, "
                   "reconstruction (tables/summary.csv always has every key)")
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


def _checkpoint_views(*args, **kwargs):
    """:func:`benchmark.views.checkpoint_views`, imported at its first call: torch and the models (about 2 s) load
    only when a report draws a checkpoint figure, not for every ``dbench report``."""
    from benchmark import views

    return views.checkpoint_views(*args, **kwargs)


def _run_report(args) -> int:
    from benchmark.reports.report import write_report

    def split(s):
        return [t.strip() for t in s.split(",") if t.strip()] if s else None

    if args.max_checkpoint_runs < 0:
        print(f"dbench report: error: --max-checkpoint-runs must be >= 0, got {args.max_checkpoint_runs}", file=sys.stderr)
        return 2
    opener = None if args.no_checkpoints else _checkpoint_views
    from benchmark.sweeps.storage import read_grid

    try:
        res = write_report(args.results, args.out, group_by=split(args.group_by), metrics=split(args.metrics),
                           formats=split(args.format), checkpoint_figures=not args.no_checkpoints,
                           max_checkpoint_runs=args.max_checkpoint_runs, seed=args.seed, jobs=args.jobs,
                           checkpoint_views=opener, read_grid=read_grid)  # a sweep folder's expected grid
    except (ValueError, FileNotFoundError) as exc:
        print(f"dbench report: error: {exc}", file=sys.stderr)
        return 2
    for u in res.unreadable:
        print(f"warning: skipped unreadable record {u.path}: {u.reason}", file=sys.stderr)
    for g in res.grid.grids:
        if not g.known:
            print(f"warning: sweep {g.spec_path}: {g.error}; what is missing is inferred from the records", file=sys.stderr)
            continue
        print(f"sweep {g.name}: {g.summary()}")
        for t in g.incomplete:
            print(f"  {t.state}: {t.trial_id} ({t.detail})")
    if res.grid.plain_sources:
        print(f"no sweep grid for {', '.join(res.grid.plain_sources)}: what is missing is inferred from the records")
    print(f"{res.n_records} records of {res.n_runs} runs; {res.n_failed} failed and {res.n_missing} missing "
          f"evaluations; {len(res.unreadable)} unreadable files")
    print(f"wrote {len(res.files)} files to {res.out_dir}")
    if res.html is not None:
        print(f"report: {res.html}")
    return 0


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
    p.add_argument("--max-trials", type=int, default=None, help="refuse grids larger than this (default: 100,000)")
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="do not write the report (<storage>/<name>/report) at the end")
    p.set_defaults(func=_run_sweep)


def _run_sweep(args) -> int:
    from benchmark.sweeps.spec import MAX_TRIALS, SpecError, load_spec, trial_table

    try:
        spec = load_spec(args.spec, storage=args.storage, max_trials=MAX_TRIALS if args.max_trials is None else args.max_trials)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.plugin:  # the Ray workers load the spec's plugins: --plugin files join them, resolved as the spec's are
        import dataclasses
        from pathlib import Path

        resolved = dict.fromkeys(str(Path(p).expanduser().resolve()) for p in args.plugin)
        spec = dataclasses.replace(spec, plugins=spec.plugins + tuple(p for p in resolved if p not in spec.plugins))
    if args.dry_run:
        import os

        from benchmark.sweeps.spec import pack_table

        gpus = _cuda_count()
        print(trial_table(spec, gpus))
        packs = pack_table(spec, gpus)
        if packs is not None:  # packing: the Tune trials, each training its models as one network
            print()
            print(packs)
        print()
        print(spec.resources_summary(num_cpus=os.cpu_count(), num_gpus=gpus))
        return 0
    from benchmark.sweeps.tune import run_sweep

    try:
        outcome = run_sweep(spec, address=args.address, resume=args.resume, num_cpus=args.num_cpus)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.report and not outcome.interrupted:
        try:
            write_sweep_report(spec, outcome)
        except Exception as exc:  # the records are safe on storage; a failed report must not hide them
            print(f"warning: the report could not be written ({type(exc).__name__}: {exc}); "
                  f"run dbench report {outcome.local_results_dir or spec.results_dir} --out REPORT_DIR", file=sys.stderr)
    print_outcome(spec, outcome)
    return 0 if outcome.ok else 1


def write_sweep_report(spec, outcome) -> str | None:
    """Write the report of a sweep's records into ``<storage>/<name>/report``; the page's path, or None.

    Returns None when there are no records yet. On URI storage the report is written in the local mirror
    and pushed to the storage. The path is also stored in ``outcome.report``.
    """
    import glob
    import os

    from benchmark.reports.report import write_report
    from benchmark.sweeps.spec import join
    from benchmark.sweeps.storage import Mirror, read_grid

    local_results = outcome.local_results_dir or spec.results_dir
    if not os.path.isdir(local_results) or not glob.glob(os.path.join(glob.escape(local_results), "*", "*.json")):
        return None
    report_dir = os.path.join(os.path.dirname(local_results), "report")
    # the sweep's grid says what is missing (a trial not started, unfinished, not evaluated)
    res = write_report(os.path.dirname(local_results), report_dir, checkpoint_views=_checkpoint_views,
                       read_grid=read_grid)
    page = str(res.html) if res.html else None
    if spec.is_remote:
        Mirror(spec).push(report_dir)
        page = join(spec.root, "report", os.path.basename(page)) if page else None
    outcome.report = page
    return page


def print_outcome(spec, outcome, out=None) -> None:
    """Where a sweep's results are, what finished, and its results table."""
    import os

    from benchmark._io import format_duration

    out = out or sys.stdout
    print("", file=out)
    print(f"sweep {spec.name}: {len(outcome.done)}/{outcome.num_trials} trials done, {len(outcome.incomplete)} "
          f"incomplete, {len(outcome.failed_records)} failed records, {format_duration(outcome.elapsed_s)}", file=out)
    for tid, err in outcome.errors.items():
        print(f"  failed trial {tid}: {err}", file=out)
    for path in outcome.failed_records:
        print(f"  failed record {path}", file=out)
    print(f"run directories: {spec.runs_dir}", file=out)
    print(f"results:         {spec.results_dir}", file=out)
    if outcome.report:
        print(f"report:          {outcome.report}", file=out)
    if outcome.incomplete or outcome.failed_records:
        print(f"continue with:   dbench sweep {spec.source} --storage {spec.storage.path} --resume"
              + ("  (retries the failed records)" if outcome.failed_records else ""), file=out)
    local_results = outcome.local_results_dir or spec.results_dir
    if os.path.isdir(local_results):
        import pandas as pd

        from benchmark.reports import results_table

        table = results_table(local_results)
        if table is not None:
            with pd.option_context("display.max_rows", 200, "display.max_columns", 50, "display.width", 200,
                                   "display.float_format", "{:.3f}".format):
                print(table.to_string(), file=out)
    out.flush()


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job on its offline default: the quick sweep, its evaluation and its report",
        description="Train the quick preset (beta in {1, 4, 16} x 2 seeds on dsprites_procedural, short budget), "
        "evaluate every run and write the report page. Offline, a few minutes on a 2-core CPU. Running it again "
        "continues or reuses what is already on the storage.",
    )
    p.add_argument("--storage", default="demo", help="folder for runs, results and report (default: ./demo)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all of this machine)")
    p.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    # The demo is the quick preset through the same path as `dbench sweep`; resume=True makes a second run
    # reuse finished trials instead of refusing an existing sweep.
    sweep_args = argparse.Namespace(spec="quick", storage=args.storage, address=None, resume=True,
                                    dry_run=False, num_cpus=args.num_cpus, report=True, max_trials=None)
    return _run_sweep(sweep_args)


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


# In the order of the flow: data, training, evaluation, sweeps (and the demo built on them), reports.
_SUBCOMMANDS = [_add_datasets, _add_train, _add_evaluate, _add_sweep, _add_demo, _add_report]


def main(argv: list[str] | None = None) -> int:
    from benchmark._io import UserError

    from benchmark.plugins import load_plugins, plugin_arguments

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        load_plugins(plugin_arguments(argv))  # before the parser: a plugin's hyperparameters become train options
    except UserError as exc:
        print(f"dbench: error: {exc}", file=sys.stderr)
        return 2
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except UserError as exc:  # bad input: one line (one per problem), what and where; a bug keeps its traceback
        print(f"dbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the user gave that cannot be read or written (missing, a file, read-only, full)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"dbench {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
