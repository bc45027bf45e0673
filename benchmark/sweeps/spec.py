"""Sweep specs: a YAML grid file → validated trial configs, each with a stable id and its own run directory.

This module never imports ``ray`` (nor torch): ``dbench sweep SPEC --dry-run`` and every validation error
happen here, before a Ray instance is started or imported.

The file format (every key is checked; an unknown key or a bad value raises :class:`SpecError` naming the
file, the key and the valid choices)::

    name: quick                      # sweep name: a folder under the storage path
    description: free text           # optional
    config:                          # fixed TrainConfig fields, shared by every trial
      dataset: dsprites_procedural
      model: beta_vae
      steps: 1000
    grid:                            # cartesian product over any TrainConfig fields
      beta: [1, 4, 16]
      seed: {range: [0, 2]}          # a list, or {range: [start, stop]} / {range: stop} (stop excluded)
    resources: {cpu: 1, gpu: 0}      # per trial; fractional: gpu 0.25 packs 4 trials on one GPU
    evaluation:
      metrics: [mig, dci]            # names in benchmark.metrics.METRICS, or "all"
      representations: [mean]        # mean and/or sampled
      seed: 0                        # evaluation seed
      overrides:                     # protocol changes per metric (recorded as protocol.* in every record)
        mig: {num_train: 2000}       # names checked against benchmark.metrics.METRICS[metric].defaults
    storage:
      path: sweeps                   # local or shared folder (made absolute), or s3://bucket/prefix
      options: {}                    # pyarrow filesystem options for URIs, e.g. {region: eu-west-1}
    failure: {max_failures: 2}       # retries of a crashed trial, each from its last checkpoint
    checkpoints: {num_to_keep: 2}    # Ray checkpoints kept per trial
    max_concurrent_trials: null      # optional cap (null: as many as the resources allow)

Layout on the storage, for a sweep named ``NAME``::

    <storage>/NAME/runs/<trial id>/      the trial's run directory (benchmark.training.train)
    <storage>/NAME/results/              result records (benchmark.metrics.evaluate)
    <storage>/NAME/tune/                 Ray Tune's experiment state
    <storage>/NAME/faults/               markers of injected crashes (tests)
    <storage>/NAME/sweep.json            the resolved spec the sweep was started with

A trial id is ``<dataset>-<model>-<grid fields>-<hash8>`` (e.g. ``dsprites-beta_vae-beta4-seed0-1a2b3c4d``):
the readable part names the varied fields, the hash covers the whole trial config (fixed and grid
fields), so editing a fixed field gives new trials instead of silently resuming old run directories.
Operational fields (:data:`OPERATIONAL_FIELDS`: device, logging and checkpoint cadence, data path) are
left out of the hash: they do not change what a run computes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

PRESETS_DIR = Path(__file__).resolve().parent / "presets"

# TrainConfig fields that do not change what a run computes; they are kept out of the trial hash so a sweep
# moved to another machine (other device, other data folder) finds its own run directories again.
OPERATIONAL_FIELDS = frozenset({"device", "dataset_path", "checkpoint_every", "log_every", "compile"})

_TOP_KEYS = {
    "name": "sweep name (a folder under the storage path)",
    "description": "free text",
    "config": "fixed TrainConfig fields shared by every trial",
    "grid": "TrainConfig fields to vary: field -> list of values",
    "resources": "per-trial resources {cpu, gpu}",
    "evaluation": "{metrics, representations, seed, overrides}",
    "storage": "{path, options}",
    "failure": "{max_failures}",
    "checkpoints": "{num_to_keep}",
    "max_concurrent_trials": "cap on trials running at once (null: no cap)",
}
_SECTION_KEYS = {
    "resources": ("cpu", "gpu"),
    "evaluation": ("metrics", "representations", "seed", "overrides"),
    "storage": ("path", "options"),
    "failure": ("max_failures",),
    "checkpoints": ("num_to_keep",),
}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SpecError(ValueError):
    """A sweep spec that cannot run: the message names the file, the key, and what is valid."""


@dataclass(frozen=True)
class Trial:
    """One grid point: its id, full training config and where its outputs go."""

    trial_id: str
    config: dict  # TrainConfig fields (fixed ∪ grid point), as given in the spec
    point: dict  # the grid fields of this trial only
    run_dir: str  # absolute path, or URI for remote storage
    results_dir: str

    @property
    def run_id(self) -> str:
        """The ``run.id`` its result records carry (:func:`benchmark.metrics.evaluate.run_id` of the resolved config)."""
        from benchmark.config import TrainConfig
        from benchmark.metrics.evaluate import run_id

        return run_id(self.run_dir, TrainConfig.from_dict(self.config).to_dict())


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec. Build with :func:`load_spec` / :func:`parse_spec`."""

    name: str
    config: dict
    grid: dict  # field -> tuple of values, in file order
    cpu: float = 1.0
    gpu: float = 0.0
    metrics: tuple = ()
    representations: tuple = ("mean",)
    eval_seed: int = 0
    overrides: dict = field(default_factory=dict)
    storage: str = ""  # absolute path or URI (scheme://...)
    storage_options: dict = field(default_factory=dict)
    max_failures: int = 2
    num_to_keep: int = 2
    max_concurrent_trials: int | None = None
    description: str = ""
    source: str = "<dict>"

    # -- layout --------------------------------------------------------------------------------------
    @property
    def is_remote(self) -> bool:
        return is_uri(self.storage)

    @property
    def root(self) -> str:
        """The sweep's folder on the storage: ``<storage>/<name>``."""
        return join(self.storage, self.name)

    @property
    def runs_dir(self) -> str:
        return join(self.root, "runs")

    @property
    def results_dir(self) -> str:
        return join(self.root, "results")

    @property
    def tune_dir(self) -> str:
        return join(self.root, "tune")

    @property
    def faults_dir(self) -> str:
        return join(self.root, "faults")

    # -- expansion -----------------------------------------------------------------------------------
    def trials(self) -> list[Trial]:
        """The grid expanded in file order (first grid field varies slowest)."""
        keys = list(self.grid)
        out: list[Trial] = []
        seen: dict[str, dict] = {}
        for values in itertools.product(*(self.grid[k] for k in keys)):
            point = dict(zip(keys, values))
            config = {**self.config, **point}
            tid = trial_id(config, point)
            if tid in seen:  # e.g. a grid listing the same value twice
                raise SpecError(f"{self.source}: grid gives the same trial twice ({tid}); remove the duplicate value")
            seen[tid] = config
            out.append(Trial(tid, config, point, join(self.runs_dir, tid), self.results_dir))
        return out

    def with_storage(self, storage: str, storage_options: Mapping | None = None) -> "SweepSpec":
        """The same sweep on another storage (``dbench sweep --storage``)."""
        return dataclasses.replace(
            self,
            storage=_resolve_storage(storage, f"{self.source}: --storage"),
            storage_options=dict(self.storage_options if storage_options is None else storage_options),
        )

    def to_dict(self) -> dict:
        """The resolved spec as plain data (written to ``<root>/sweep.json``; parses back with parse_spec)."""
        return {
            "name": self.name,
            "description": self.description,
            "config": dict(self.config),
            "grid": {k: list(v) for k, v in self.grid.items()},
            "resources": {"cpu": self.cpu, "gpu": self.gpu},
            "evaluation": {
                "metrics": list(self.metrics),
                "representations": list(self.representations),
                "seed": self.eval_seed,
                "overrides": dict(self.overrides),
            },
            "storage": {"path": self.storage, "options": dict(self.storage_options)},
            "failure": {"max_failures": self.max_failures},
            "checkpoints": {"num_to_keep": self.num_to_keep},
            "max_concurrent_trials": self.max_concurrent_trials,
        }

    def resources_summary(self, num_cpus: float | None = None, num_gpus: float | None = None) -> str:
        """Text of what the sweep needs, and how many trials run at once on a machine of the given size."""
        n = len(self.trials())
        steps = int(self.config.get("steps") or 0)
        lines = [
            f"{n} trials; per trial {_num(self.cpu)} CPU, {_num(self.gpu)} GPU"
            + (f" ({int(round(1 / self.gpu))} trials share one GPU)" if 0 < self.gpu < 1 else ""),
            f"all at once: {_num(n * self.cpu)} CPU, {_num(n * self.gpu)} GPU; "
            f"{n * steps:,} training steps in total"
            if steps
            else f"all at once: {_num(n * self.cpu)} CPU, {_num(n * self.gpu)} GPU",
            f"evaluation: metrics {', '.join(self.metrics)}; representations {', '.join(self.representations)}"
            f" -> {n * len(self.metrics) * len(self.representations):,} result records",
        ]
        if num_cpus is not None:
            slots = [math.floor(num_cpus / self.cpu + 1e-9) if self.cpu > 0 else n]
            if self.gpu > 0:
                slots.append(math.floor((num_gpus or 0) / self.gpu + 1e-9))
            conc = max(0, min([n, *slots]))
            if self.max_concurrent_trials:
                conc = min(conc, self.max_concurrent_trials)
            where = f"{_num(num_cpus)} CPU, {_num(num_gpus or 0)} GPU"
            lines.append(
                f"this machine ({where}): {conc} trials at once"
                + ("" if conc else " - not enough resources here; run it on a GPU machine or a Ray cluster")
            )
        lines.append(f"storage: {self.root}")
        return "\n".join(lines)


# -- public helpers --------------------------------------------------------------------------------------


def is_uri(path: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", str(path)))


def join(base: str, *parts: str) -> str:
    """Join path parts for a local path or a URI (URIs always use ``/``)."""
    if is_uri(base):
        return "/".join([base.rstrip("/"), *parts])
    return os.path.join(base, *parts)


def trial_id(config: Mapping[str, Any], point: Mapping[str, Any]) -> str:
    """``<dataset>-<model>-<field><value>...-<hash8>``: readable grid fields plus a hash of the whole config."""
    parts = [str(config.get("dataset", "data")), str(config.get("model", "model"))]
    for key, value in point.items():
        if key in ("dataset", "model"):
            continue
        parts.append(f"{key}{_fmt(value)}")
    readable = "-".join(_safe(p) for p in parts)
    return f"{readable}-{config_hash(config)}"


def config_hash(config: Mapping[str, Any]) -> str:
    """8 hex digits of SHA-256 over the config's result-relevant fields (operational fields left out)."""
    relevant = {k: v for k, v in sorted(config.items()) if k not in OPERATIONAL_FIELDS}
    blob = json.dumps(relevant, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:8]


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def resolve_spec_path(spec: str | os.PathLike) -> Path:
    """A spec file path, or the name of a preset (``quick``, ``locatello_beta_vae``)."""
    path = Path(spec)
    if path.is_file():
        return path
    if not path.suffix and (PRESETS_DIR / f"{path.name}.yaml").is_file() and len(path.parts) == 1:
        return PRESETS_DIR / f"{path.name}.yaml"
    raise SpecError(
        f"sweep spec {str(spec)!r} not found: give a YAML file or a preset name ({', '.join(preset_names())})"
    )


def load_spec(spec: str | os.PathLike, storage: str | None = None) -> SweepSpec:
    """Read and validate a YAML sweep spec (file path or preset name); ``storage`` overrides its storage path.

    Relative storage paths are taken relative to the current directory. Raises :class:`SpecError`.
    """
    import yaml

    path = resolve_spec_path(spec)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    return parse_spec(data, source=str(path), storage=storage)


def parse_spec(data: Any, source: str = "<dict>", storage: str | None = None) -> SweepSpec:
    """Validate a spec given as plain data (the parsed YAML). Raises :class:`SpecError`."""
    if not isinstance(data, Mapping):
        raise SpecError(f"{source}: a sweep spec is a mapping with keys {', '.join(_TOP_KEYS)}")
    _check_keys(data, _TOP_KEYS, source, "")
    for section, keys in _SECTION_KEYS.items():
        value = data.get(section)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise SpecError(f"{source}: {section!r} must be a mapping with keys {', '.join(keys)}")
        _check_keys(value, keys, source, f"{section}.")

    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SpecError(
            f"{source}: 'name' must be a folder-safe name (letters, digits, '.', '_', '-'), got {name!r}"
        )

    fields = _train_fields()
    config = dict(data.get("config") or {})
    if not isinstance(data.get("config") or {}, Mapping):
        raise SpecError(f"{source}: 'config' must be a mapping of TrainConfig fields")
    for key in config:
        _check_field(key, fields, source, f"config.{key}")

    raw_grid = data.get("grid") or {}
    if not isinstance(raw_grid, Mapping):
        raise SpecError(f"{source}: 'grid' must be a mapping field -> list of values")
    grid: dict[str, tuple] = {}
    for key, values in raw_grid.items():
        _check_field(key, fields, source, f"grid.{key}")
        if key in config:
            raise SpecError(f"{source}: {key!r} is both in 'config' and in 'grid'; keep it in one of them")
        grid[key] = _grid_values(values, source, f"grid.{key}")

    res = data.get("resources") or {}
    cpu = _number(res.get("cpu", 1), source, "resources.cpu", minimum=0)
    gpu = _number(res.get("gpu", 0), source, "resources.gpu", minimum=0)
    if cpu == 0 and gpu == 0:
        raise SpecError(f"{source}: resources.cpu and resources.gpu are both 0; a trial needs at least one")
    if gpu > 1 and gpu != int(gpu):
        raise SpecError(f"{source}: resources.gpu above 1 must be a whole number of GPUs, got {gpu}")

    ev = data.get("evaluation") or {}
    from benchmark.metrics._codes import REPRESENTATIONS  # the representation kinds evaluate knows
    metrics = _metrics(ev.get("metrics", "all"), source)
    reps = ev.get("representations", ["mean"])
    if isinstance(reps, str):
        reps = [r.strip() for r in reps.split(",") if r.strip()]
    if not isinstance(reps, list) or not reps:
        raise SpecError(f"{source}: evaluation.representations must be a non-empty list of {REPRESENTATIONS}")
    for r in reps:
        if r not in REPRESENTATIONS:
            raise SpecError(
                f"{source}: evaluation.representations: unknown {r!r}; valid: {', '.join(REPRESENTATIONS)}"
            )
    eval_seed = _integer(ev.get("seed", 0), source, "evaluation.seed", minimum=0)
    overrides = ev.get("overrides") or {}
    if not isinstance(overrides, Mapping):
        raise SpecError(f"{source}: evaluation.overrides must be a mapping of metric protocol parameters")
    _check_overrides(dict(overrides), metrics, source)

    st = data.get("storage") or {}
    storage_path = storage if storage is not None else st.get("path", "sweeps")
    if not isinstance(storage_path, (str, os.PathLike)) or not str(storage_path):
        raise SpecError(f"{source}: storage.path must be a folder path or a URI such as s3://bucket/prefix")
    where = f"{source}: --storage" if storage is not None else f"{source}: storage.path"
    storage_abs = _resolve_storage(os.fspath(storage_path), where)
    options = st.get("options") or {}
    if not isinstance(options, Mapping):
        raise SpecError(f"{source}: storage.options must be a mapping of filesystem options")
    if options and storage_abs.split("://", 1)[0] not in ("s3", "gs", "gcs"):
        raise SpecError(
            f"{source}: storage.options apply to s3:// and gs:// storage only (pyarrow S3FileSystem / "
            f"GcsFileSystem arguments), not to {storage_abs!r}"
        )

    max_failures = _integer((data.get("failure") or {}).get("max_failures", 2), source, "failure.max_failures",
                            minimum=-1)
    num_to_keep = _integer((data.get("checkpoints") or {}).get("num_to_keep", 2), source,
                           "checkpoints.num_to_keep", minimum=1)
    mct = data.get("max_concurrent_trials")
    if mct is not None:
        mct = _integer(mct, source, "max_concurrent_trials", minimum=1)

    description = data.get("description") or ""
    if not isinstance(description, str):
        raise SpecError(f"{source}: 'description' must be text")

    spec = SweepSpec(
        name=name, config=config, grid=grid, cpu=cpu, gpu=gpu, metrics=tuple(metrics),
        representations=tuple(dict.fromkeys(reps)), eval_seed=eval_seed, overrides=dict(overrides),
        storage=storage_abs, storage_options=dict(options), max_failures=max_failures,
        num_to_keep=num_to_keep, max_concurrent_trials=mct, description=description, source=source,
    )
    trials = spec.trials()
    if not trials:
        raise SpecError(f"{source}: the grid is empty")
    _check_trial_configs(trials, source)
    return spec


def trial_table(spec: SweepSpec) -> str:
    """One row per trial: id, the config fields that vary or matter most, and its resources."""
    trials = spec.trials()
    shown = ["dataset", "model"] + [k for k in spec.grid if k not in ("dataset", "model")]
    for extra in ("steps", "batch_size"):
        if extra not in shown and extra in spec.config:
            shown.append(extra)
    header = ["#", "trial", *shown, "cpu", "gpu"]
    rows = [
        [str(i), t.trial_id, *(_fmt(t.config.get(k, "")) for k in shown), _num(spec.cpu), _num(spec.gpu)]
        for i, t in enumerate(trials)
    ]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    fmt = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), *(fmt(r) for r in rows)])


# -- validation details -------------------------------------------------------------------------------------


def _check_keys(data: Mapping, valid, source: str, prefix: str) -> None:
    for key in data:
        if key not in valid:
            raise SpecError(f"{source}: unknown key {prefix}{key!r}; valid keys: {', '.join(valid)}")


def _train_fields() -> dict:
    from benchmark.config import TrainConfig

    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def _check_field(key: str, fields: Mapping, source: str, where: str) -> None:
    if key not in fields:
        raise SpecError(f"{source}: unknown config field {where!r}; valid fields: {', '.join(fields)}")


def _grid_values(values: Any, source: str, where: str) -> tuple:
    if isinstance(values, Mapping):
        if set(values) != {"range"}:
            raise SpecError(f"{source}: {where}: a mapping must be {{range: [start, stop]}} or {{range: stop}}")
        r = values["range"]
        if isinstance(r, int) and not isinstance(r, bool):
            r = [0, r]
        if not (isinstance(r, list) and len(r) in (2, 3) and all(isinstance(x, int) for x in r)):
            raise SpecError(f"{source}: {where}.range must be stop or [start, stop] or [start, stop, step] (ints)")
        values = list(range(*r))
    if not isinstance(values, list) or not values:
        raise SpecError(f"{source}: {where} must be a non-empty list of values")
    for v in values:
        if not isinstance(v, (str, int, float, bool)) or v is None:
            raise SpecError(f"{source}: {where}: values must be numbers, text or booleans, got {v!r}")
    return tuple(values)


def _metrics(value: Any, source: str) -> list[str]:
    from benchmark.metrics import METRICS

    valid = list(METRICS)
    if value == "all":
        return valid
    if isinstance(value, str):
        value = [m.strip() for m in value.split(",") if m.strip()]
    if not isinstance(value, list) or not value:
        raise SpecError(f"{source}: evaluation.metrics must be 'all' or a list of: {', '.join(valid)}")
    for m in value:
        if m not in METRICS:
            raise SpecError(f"{source}: evaluation.metrics: unknown metric {m!r}; valid: all, {', '.join(valid)}")
    return list(dict.fromkeys(value))


def _check_overrides(overrides: dict, metrics: list[str], source: str) -> None:
    """``{metric: {protocol parameter: value}}``, checked against each metric's reference protocol."""
    from benchmark.metrics import METRICS

    for name, params in overrides.items():
        if name not in METRICS:
            raise SpecError(
                f"{source}: evaluation.overrides: unknown metric {name!r}; valid: {', '.join(METRICS)}"
            )
        if name not in metrics:
            raise SpecError(
                f"{source}: evaluation.overrides.{name}: {name!r} is not in evaluation.metrics "
                f"({', '.join(metrics)}); add it there or drop the override"
            )
        if not isinstance(params, Mapping):
            raise SpecError(f"{source}: evaluation.overrides.{name} must be a mapping of protocol parameters")
        valid = METRICS[name].defaults
        for key, value in params.items():
            if key not in valid:
                raise SpecError(
                    f"{source}: evaluation.overrides.{name}: unknown protocol parameter {key!r}; "
                    f"valid: {', '.join(valid)}"
                )
            if not isinstance(value, (str, int, float, bool, list)) or value is None:
                raise SpecError(f"{source}: evaluation.overrides.{name}.{key} must be plain data, got {value!r}")


def _check_trial_configs(trials: list[Trial], source: str) -> None:
    """Every trial config must build a TrainConfig, and every dataset must be in the registry."""
    from benchmark.config import TrainConfig
    from benchmark.datasets import DATASETS

    checked: set = set()
    for t in trials:
        ds = t.config.get("dataset")
        if ds is not None and ds not in DATASETS:
            key = "grid.dataset" if "dataset" in t.point else "config.dataset"
            raise SpecError(f"{source}: {key}: unknown dataset {ds!r}; valid: {', '.join(DATASETS)}")
        # Values of one field are independent of the others for validation purposes except in rare
        # cross-field checks, so validate every distinct config (cheap: dataclass construction only).
        key = json.dumps(t.config, sort_keys=True, default=str)
        if key in checked:
            continue
        checked.add(key)
        try:
            TrainConfig.from_dict(dict(t.config))
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{source}: trial {t.trial_id}: {exc}") from None


def _number(v: Any, source: str, where: str, minimum: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < minimum:
        raise SpecError(f"{source}: {where} must be a number >= {minimum}, got {v!r}")
    return float(v)


def _integer(v: Any, source: str, where: str, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise SpecError(f"{source}: {where} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _resolve_storage(path: str, where: str) -> str:
    if is_uri(path):
        scheme = path.split("://", 1)[0].lower()
        if scheme not in ("s3", "gs", "gcs", "file", "hdfs", "abfs", "abfss"):
            raise SpecError(f"{where}: unsupported storage scheme {scheme!r}; valid: a path, s3://, gs://, file://")
        return path.rstrip("/")
    return str(Path(path).expanduser().resolve())


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _num(v: float) -> str:
    return _fmt(round(float(v), 6))


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "_", s)
