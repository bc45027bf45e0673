"""Sweep specs: a YAML grid file → validated trial configs, each with a stable id and its own run directory.

This module never imports ``ray`` (nor torch): ``dbench sweep SPEC --dry-run`` and every validation error
happen here, before a Ray instance is started or imported.

A spec is parsed by the same config layer as :class:`~benchmark.config.TrainConfig`
(:func:`benchmark.config.dataclass_from_dict`): each section is a dataclass below, every key is checked, values
are coerced, and every problem of a file is reported at once, one line each naming the file, the key and what
is valid (:class:`SpecError`). The file format is in the README (Sweeps › The spec) and in the section
dataclasses below; the storage layout in the README (Sweeps › Where things go) and :class:`SweepSpec`.

A trial id is ``<dataset>-<model>-<grid fields>-<model digest>`` (e.g. ``dsprites-beta_vae-beta4-seed0-1a2b3c4d``):
the readable part names the varied fields, the digest is :func:`benchmark.records.model_digest` of the trial's
resolved TrainConfig, so ``beta: 4`` and ``beta: 4.0`` are one trial, editing a fixed field that defines the
model gives new trials, and the execution-only fields (device, data path, cadences) never change an id. The
trial's records carry the same id as their ``run.id``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from benchmark._io import UserError
from benchmark.config import METHODS, ConfigError, TrainConfig, dataclass_from_dict
from benchmark.metrics import METRIC_SETS, METRICS, PROTOCOLS, parse_metrics, parse_representations, resolve_protocol
from benchmark.records import model_digest

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
#: Largest grid a spec may expand to unless the caller raises it (``dbench sweep --max-trials``): the study is
#: 3,600 trials; a typo such as ``{range: 1000000000}`` must fail at once, not expand.
MAX_TRIALS = 100_000
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_URI_SCHEMES = ("s3", "gs", "gcs", "file", "hdfs", "abfs", "abfss")


class SpecError(ValueError, UserError):
    """A sweep spec that cannot run: one line per problem, each naming the file, the key, and what is valid."""


def _field(default: Any, doc: str, **metadata: Any) -> Any:
    meta = {"doc": doc, **metadata}
    if isinstance(default, dict) or dataclasses.is_dataclass(default):  # an empty dict or a default section
        return field(default_factory=type(default), metadata=meta)
    return field(default=default, metadata=meta)


def _fail_all(problems: list[str]) -> None:
    if problems:
        raise ConfigError(problems)


# ------------------------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class Resources:
    """Per-trial resources, as Ray Tune reserves them."""

    cpu: float = _field(1.0, "CPUs per trial (also the trial's torch thread count)", ge=0)
    gpu: float = _field(0.0, "GPUs per trial; a fraction shares one GPU (0.25: four trials per GPU)", ge=0)

    def validate(self) -> None:
        problems = []
        if self.cpu == 0 and self.gpu == 0:
            problems.append("resources.cpu and resources.gpu are both 0; a trial needs at least one")
        if self.gpu > 1 and self.gpu != int(self.gpu):
            problems.append(f"resources.gpu above 1 must be a whole number of GPUs, got {self.gpu}")
        _fail_all(problems)


def _metric_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (str, list, tuple)):
        raise ValueError(f"must be {' or '.join(map(repr, METRIC_SETS))} or a list of: {', '.join(METRICS)}")
    return tuple(parse_metrics(value))


def _representation_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (str, list, tuple)):
        raise ValueError("must be a list of representations: mean, sampled")
    return tuple(parse_representations(value))


@dataclass(frozen=True)
class Evaluation:
    """What each trial evaluates after training (benchmark.evaluation.evaluate)."""

    metrics: tuple = _field(METRIC_SETS["all"], "metric names, or 'all' (the study's) or 'extended'", parse=_metric_list)
    representations: tuple = _field(("mean",), "mean and/or sampled", parse=_representation_list)
    seed: int = _field(0, "evaluation seed", ge=0)
    protocol: str = _field("reference", "named metric protocol: reference (the study's sample sizes) or quick")
    overrides: dict = _field({}, "protocol changes per metric: {metric: {parameter: value}}")

    def validate(self) -> None:
        problems = []
        if self.protocol not in PROTOCOLS:
            problems.append(f"evaluation.protocol: unknown protocol {self.protocol!r}; valid: {', '.join(PROTOCOLS)}")
        for name, params in self.overrides.items():
            where = f"evaluation.overrides.{name}"
            if name not in METRICS:
                problems.append(f"evaluation.overrides: unknown metric {name!r}; valid: {', '.join(METRICS)}")
            elif name not in self.metrics:
                problems.append(f"{where}: {name!r} is not in evaluation.metrics ({', '.join(self.metrics)}); add it "
                                "there or drop the override")
            elif not isinstance(params, Mapping):
                problems.append(f"{where} must be a mapping of protocol parameters")
            else:
                try:
                    resolve_protocol(name, dict(params), self.protocol if self.protocol in PROTOCOLS else "reference")
                except ValueError as exc:
                    problems.append(f"{where}: {exc}")
        _fail_all(problems)


@dataclass(frozen=True)
class Storage:
    """Where the sweep lives: a local or shared folder, or a URI with pyarrow filesystem options."""

    path: str = _field("sweeps", "folder (made absolute) or URI: s3://, gs://, file://")
    options: dict = _field({}, "pyarrow S3FileSystem / GcsFileSystem arguments (URI storage only)")

    def validate(self) -> None:
        if not self.path:
            raise ValueError("storage.path must be a folder path or a URI such as s3://bucket/prefix")
        if is_uri(self.path) and self.path.split("://", 1)[0].lower() not in _URI_SCHEMES:
            raise ValueError(f"storage.path: unsupported storage scheme {self.path.split('://', 1)[0].lower()!r}; "
                             "valid: a path, s3://, gs://, file://")
        if self.options and self.path.split("://", 1)[0] not in ("s3", "gs", "gcs"):
            raise ValueError("storage.options apply to s3:// and gs:// storage only (pyarrow S3FileSystem / "
                             f"GcsFileSystem arguments), not to {self.path!r}")

    def resolved(self) -> "Storage":
        """Local paths made absolute (relative to the current directory); URIs without a trailing slash."""
        path = self.path.rstrip("/") if is_uri(self.path) else str(Path(self.path).expanduser().resolve())
        return dataclasses.replace(self, path=path)


@dataclass(frozen=True)
class Failure:
    max_failures: int = _field(2, "retries of a crashed trial, each from its last checkpoint (-1: unlimited)", ge=-1)


@dataclass(frozen=True)
class Checkpoints:
    num_to_keep: int = _field(2, "Ray checkpoints kept per trial", ge=1)


#: The largest pack ``packing: {models_per_trial: auto}`` tries.
AUTO_MAX_MODELS = 64


def _models_per_trial(value: Any) -> int | str:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise ValueError(f"must be a whole number of models >= 1, or auto; got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Packing:
    """Several trials trained as one network in one Tune trial (benchmark.packing): trials that differ only in
    model, hyperparameters and seed are grouped, in grid order, into packs of ``models_per_trial``."""

    models_per_trial: typing.Any = _field(1, "models per Tune trial: 1 (unpacked, the default), K, or auto (K from "
                                          "the GPU's memory and a measured throughput curve when the sweep starts; "
                                          "1 without a GPU)", parse=_models_per_trial)


# ------------------------------------------------------------------------------------------- config and grid
def _axis_values(key: str, values: Any, where: str | None = None) -> typing.Sequence:
    """One grid axis: a list, or ``{range: ...}`` kept as a ``range`` (never expanded here), values coerced."""
    where = where or f"grid.{key}"
    if isinstance(values, Mapping):
        r = values.get("range") if set(values) == {"range"} else None
        if isinstance(r, int) and not isinstance(r, bool):
            r = [0, r]
        if not (isinstance(r, list) and len(r) in (2, 3) and all(isinstance(x, int) and not isinstance(x, bool) for x in r)):
            raise ValueError(f"{where}.range must be stop or [start, stop] or [start, stop, step] (integers)")
        if len(r) == 3 and r[2] == 0:
            raise ValueError(f"{where}.range: the step must not be 0")
        axis = range(*r)
        if len(axis):
            TrainConfig.coerce(key, axis[0], where="grid")
        return axis
    if not isinstance(values, list) or not values:
        raise ValueError(f"{where} must be a non-empty list of values")
    out = []
    for v in values:
        if not isinstance(v, (str, int, float, bool)) or v is None:
            raise ValueError(f"{where}: values must be numbers, text or booleans, got {v!r}")
        out.append(TrainConfig.coerce(key, v, where="grid"))
    twice = sorted({repr(v) for v in out if out.count(v) > 1})
    if twice:
        raise ValueError(f"{where} lists the same value more than once after conversion to the field's type "
                         f"({', '.join(twice)}): each would be the same model; remove the duplicates")
    return tuple(out)


def _train_fields(section: str, convert: Callable[[str, Any], Any]) -> Callable[[Any], dict]:
    """Parser of a section mapping TrainConfig fields to values: every key checked, every value converted."""

    def parse(value: Any) -> dict:
        if not isinstance(value, Mapping):
            raise ValueError(f"must be a mapping of TrainConfig fields to {'values' if section == 'config' else 'lists'}")
        if section == "grid" and not value:
            raise ValueError("is empty: list at least one field to vary (leave the key out for a single trial)")
        out, problems, names = {}, [], TrainConfig.field_names()
        for key, v in value.items():
            if key not in names:
                problems.append(f"unknown config field '{section}.{key}'; valid fields: {', '.join(names)}")
                continue
            try:
                out[key] = convert(key, v)
            except ValueError as exc:
                problems.append(str(exc))
        _fail_all(problems)
        return out

    return parse


_parse_config = _train_fields("config", lambda key, v: TrainConfig.coerce(key, v, where="config"))
_parse_grid = _train_fields("grid", _axis_values)


def _parse_methods(value: Any) -> dict:
    """``methods:``: method name → ``study`` (its study axis over the declared study grid), or a mapping of
    fields to vary for that method only (lists, ``{range: ...}``, or ``study`` for a hyperparameter's study grid)."""
    if not isinstance(value, Mapping) or not value:
        raise ValueError("must be a mapping of method names to 'study' or to a grid of that method's fields")
    out, problems = {}, []
    for name, block in value.items():
        if name not in METHODS:
            problems.append(f"methods.{name}: unknown method; valid names: {', '.join(sorted(METHODS))} (a method of "
                            "your own: list its file under plugins:, or pass --plugin FILE)")
            continue
        method = METHODS[name]
        if block == "study":
            block = {method.study_axis: "study"} if method.study_axis else {}
        if block is None:
            block = {}
        if not isinstance(block, Mapping):
            problems.append(f"methods.{name} must be 'study' or a mapping of fields to lists of values, got {block!r}")
            continue
        axes = {}
        for key, values in block.items():
            where = f"methods.{name}.{key}"
            if key == "model" or key not in TrainConfig.field_names():
                problems.append(f"{where}: not a field or hyperparameter to vary; valid: {', '.join(TrainConfig.field_names())}")
                continue
            if values == "study":
                if key not in method.names or not method.hyperparameter(key).grid:
                    problems.append(f"{where}: 'study' needs a hyperparameter of {name} with a study grid")
                    continue
                values = list(method.hyperparameter(key).grid)
            try:
                axes[key] = _axis_values(key, values, where)
            except ValueError as exc:
                problems.append(str(exc))
        out[name] = axes
    _fail_all(problems)
    return out


def _parse_plugins(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of paths of plugin files (.py), relative to the spec's folder")
    return tuple(value)


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValueError(f"must be a folder-safe name (letters, digits, '.', '_', '-'), got {value!r}")
    return value


# ------------------------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class Trial:
    """One grid point: its id, resolved training config and where its outputs go."""

    trial_id: str
    config: TrainConfig  # fixed fields ∪ grid point, resolved
    point: dict  # the grid fields of this trial only
    run_dir: str  # absolute path, or URI for remote storage
    results_dir: str

    @property
    def run_id(self) -> str:
        """The ``run.id`` its result records carry: the trial id (the run directory is named by it)."""
        return self.trial_id

    def to_dict(self) -> dict:
        """Plain data (what a Ray worker receives); :meth:`from_dict` rebuilds it."""
        return {"trial_id": self.trial_id, "config": self.config.to_dict(), "point": dict(self.point),
                "run_dir": self.run_dir, "results_dir": self.results_dir}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Trial":
        return cls(data["trial_id"], TrainConfig.from_dict(data["config"]), dict(data["point"]), data["run_dir"],
                   data["results_dir"])


@dataclass(frozen=True)
class Pack:
    """Trials trained as one network in one Tune trial (``packing:``); each keeps its id and run directory."""

    pack_id: str
    trials: tuple

    def to_dict(self) -> dict:
        """What a Ray worker receives: the pack's id and step budget (as a trial's, for the progress lines) and
        its members' trials."""
        first = self.trials[0].to_dict()
        return {"trial_id": self.pack_id, "config": first["config"], "members": [t.to_dict() for t in self.trials]}


def pack_trials(trials: typing.Sequence[Trial], models_per_trial: int) -> list:
    """``trials`` grouped into :class:`Pack` units of at most ``models_per_trial`` (1: the trials themselves).

    Trials pack together when their configs agree on everything but :data:`benchmark.config.PACK_MEMBER_FIELDS`
    (:func:`benchmark.config.pack_key`); each group is cut, in grid order, into packs. A pack's id is
    ``pack<K>-<first member's id>-<digest of all member ids>``: the same members give the same id.
    """
    from benchmark.config import pack_key

    if models_per_trial <= 1:
        return list(trials)
    groups: dict[str, list[Trial]] = {}
    for t in trials:
        groups.setdefault(pack_key(t.config), []).append(t)
    units: list = []
    for members in groups.values():
        for i in range(0, len(members), models_per_trial):
            chunk = tuple(members[i : i + models_per_trial])
            digest = hashlib.sha256(" ".join(t.trial_id for t in chunk).encode()).hexdigest()[:8]
            units.append(chunk[0] if len(chunk) == 1 else Pack(f"pack{len(chunk)}-{chunk[0].trial_id}-{digest}", chunk))
    return units


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec. Build with :func:`load_spec` / :func:`parse_spec`."""

    name: str = _field("", "sweep name (a folder under the storage path)", parse=_check_name)
    description: str = _field("", "free text")
    config: dict = _field({}, "fixed TrainConfig fields shared by every trial", parse=_parse_config)
    grid: dict = _field({}, "TrainConfig fields to vary: field -> list of values, or {range: ...}", parse=_parse_grid)
    methods: dict = _field({}, "methods to train, each with its own grid: name -> 'study' or {field: values}",
                           parse=_parse_methods)
    plugins: tuple = _field((), "plugin files registering methods (docs/PLUGINS.md), loaded before the rest is read",
                            parse=_parse_plugins)
    resources: Resources = _field(Resources(), "per-trial resources {cpu, gpu}")
    evaluation: Evaluation = _field(Evaluation(), "{metrics, representations, seed, overrides}")
    storage: Storage = _field(Storage(), "{path, options}")
    failure: Failure = _field(Failure(), "{max_failures}")
    checkpoints: Checkpoints = _field(Checkpoints(), "{num_to_keep}")
    packing: Packing = _field(Packing(), "{models_per_trial}: trials trained as one network, K per Tune trial")
    max_concurrent_trials: typing.Optional[int] = _field(None, "cap on trials running at once (null: no cap)", ge=1)
    source: str = _field("<dict>", "where the spec was read from", internal=True)

    def validate(self) -> None:
        problems = [f"{k!r} is both in 'config' and in 'grid'; keep it in one of them" for k in self.grid if k in self.config]
        if self.methods:
            problems += [f"'model' is in '{where}' and 'methods' lists the methods; keep one of them"
                         for where, section in (("config", self.config), ("grid", self.grid)) if "model" in section]
            problems += [f"methods.{m}.{k} is also in 'grid'; vary it in one place" for m, axes in self.methods.items()
                         for k in axes if k in self.grid]
        if not problems:
            problems += self._invalid_trial_values()
        _fail_all(problems)

    def _invalid_trial_values(self) -> list[str]:
        """The fixed fields, then every grid value with them, checked as a TrainConfig.

        TrainConfig has no cross-field rules, so this finds every invalid value without expanding the grid. Its
        rules on integers are bounds, so a ``range`` axis is checked at its two ends.
        """
        def ends(values: typing.Sequence) -> typing.Sequence:
            return (values[0], values[-1]) if isinstance(values, range) and len(values) else values

        problems = []
        for prefix, base, axes in self._blocks():
            checks = [(prefix or "config", {})] + [
                (f"{prefix}{'.' if prefix else 'grid.'}{key}", {key: v}) for key, values in axes.items() for v in ends(values)]
            for where, point in checks:
                try:
                    TrainConfig.from_dict({**base, **point})
                except ValueError as exc:
                    problems.append(f"{where}: {exc}")
                    if not point:
                        break  # every value would repeat it
        return list(dict.fromkeys(problems))

    def _blocks(self) -> list[tuple[str, dict, dict]]:
        """``(where, fixed fields, axes)`` per method block: its fixed fields and every axis that varies in it
        (the method's own and the grid's). Without ``methods:``, one block: ``config`` and ``grid``."""
        if not self.methods:
            return [("", dict(self.config), dict(self.grid))]
        return [(f"methods.{m}", {**self.config, "model": m}, {**axes, **self.grid}) for m, axes in self.methods.items()]

    # -- layout --------------------------------------------------------------------------------------
    @property
    def is_remote(self) -> bool:
        return is_uri(self.storage.path)

    @property
    def root(self) -> str:
        """The sweep's folder on the storage: ``<storage>/<name>``."""
        return join(self.storage.path, self.name)

    @property
    def runs_dir(self) -> str:
        return join(self.root, "runs")

    @property
    def results_dir(self) -> str:
        return join(self.root, "results")

    @property
    def tune_dir(self) -> str:
        return join(self.root, "tune")

    # -- expansion -----------------------------------------------------------------------------------
    @property
    def num_trials(self) -> int:
        """The grid's size, from the axes' lengths (nothing is expanded)."""
        return sum(math.prod(len(v) for v in axes.values()) for _, _, axes in self._blocks())

    @property
    def first_config(self) -> TrainConfig:
        """The first trial's resolved config (its step budget is the one the progress lines and summaries show)."""
        _, base, axes = self._blocks()[0]
        return TrainConfig.from_dict({**base, **{k: v[0] for k, v in axes.items() if len(v)}})

    @property
    def total_steps(self) -> int:
        """The training steps of all trials, from the axes (nothing is expanded)."""
        total = 0
        for _, base, axes in self._blocks():
            others = math.prod(len(v) for k, v in axes.items() if k != "steps")
            steps = sum(axes["steps"]) if "steps" in axes else TrainConfig.from_dict(base).steps
            total += others * steps
        return total

    def trials(self) -> list[Trial]:
        """The grid expanded: method by method in file order (``methods:``), then each method's own axes and the
        grid's in file order (the first varies slowest)."""
        out = []
        for _, base, axes in self._blocks():
            keys = list(axes)
            for values in itertools.product(*(axes[k] for k in keys)):
                point = {**({"model": base["model"]} if self.methods else {}), **dict(zip(keys, values))}
                config = TrainConfig.from_dict({**base, **point})
                tid = trial_id(config, point)
                out.append(Trial(tid, config, point, join(self.runs_dir, tid), self.results_dir))
        return out

    def with_storage(self, storage: str, options: Mapping | None = None) -> "SweepSpec":
        """The same sweep on another storage (``dbench sweep --storage``)."""
        new = Storage(os.fspath(storage), dict(self.storage.options if options is None else options))
        try:
            new.validate()
        except ValueError as exc:
            raise SpecError(f"{self.source}: --storage: {exc}") from None
        return dataclasses.replace(self, storage=new.resolved())

    def to_dict(self) -> dict:
        """The resolved spec as plain data (written to ``<root>/sweep.json``; parses back with parse_spec)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.metadata.get("internal")}
        for section in ("resources", "evaluation", "storage", "failure", "checkpoints", "packing"):
            data[section] = dataclasses.asdict(data[section])
        data["evaluation"]["metrics"] = list(self.evaluation.metrics)
        data["evaluation"]["representations"] = list(self.evaluation.representations)
        data["grid"] = {k: list(v) for k, v in self.grid.items()}
        data["methods"] = {m: {k: list(v) for k, v in axes.items()} for m, axes in self.methods.items()}
        data["plugins"] = list(self.plugins)
        for key in ("grid", "methods", "plugins"):
            if not data[key]:
                del data[key]  # a spec without a grid is one trial; an empty grid in a file is refused
        data["config"] = dict(self.config)
        return data

    def models_per_trial_on(self, num_gpus: float | None) -> int | None:
        """``packing.models_per_trial`` on a machine with ``num_gpus`` GPUs: ``auto`` is 1 without a GPU and None
        (measured when the sweep starts) with one."""
        k = self.packing.models_per_trial
        return k if k != "auto" else (None if num_gpus else 1)

    def resources_summary(self, num_cpus: float | None = None, num_gpus: float | None = None) -> str:
        """Text of what the sweep needs, and how many trials run at once on a machine of the given size."""
        n, cpu, gpu = self.num_trials, self.resources.cpu, self.resources.gpu
        ev = self.evaluation
        k = self.models_per_trial_on(num_gpus)
        units = n if k is None or k == 1 else len(pack_trials(self.trials(), k))
        packing = [] if self.packing.models_per_trial == 1 else [
            f"packing: models_per_trial {self.packing.models_per_trial}: "
            + (f"{n} trials in {units} Tune trials (packs of up to {k} models, each holding the per-trial resources)"
               if k is not None and k > 1 else "1 model per trial here (no GPU: unpacked)" if k == 1 else
               f"K is measured when the sweep starts (up to {AUTO_MAX_MODELS} models per Tune trial)")]
        lines = [*packing,
            f"{n} trials; per {'Tune trial (a pack or a lone trial)' if units < n else 'trial'} {_num(cpu)} CPU, {_num(gpu)} GPU"
            + (f" ({int(round(1 / gpu))} trials share one GPU)" if 0 < gpu < 1 else ""),
            f"all at once: {_num(units * cpu)} CPU, {_num(units * gpu)} GPU; {self.total_steps:,} training steps in total",
            f"evaluation: metrics {', '.join(ev.metrics)}; representations {', '.join(ev.representations)}"
            f" -> {n * len(ev.metrics) * len(ev.representations):,} result records",
        ]
        if num_cpus is not None:
            slots = [math.floor(num_cpus / cpu + 1e-9) if cpu > 0 else n]
            if gpu > 0:
                slots.append(math.floor((num_gpus or 0) / gpu + 1e-9))
            conc = max(0, min([units, *slots]))
            if self.max_concurrent_trials:
                conc = min(conc, self.max_concurrent_trials)
            lines.append(
                f"this machine ({_num(num_cpus)} CPU, {_num(num_gpus or 0)} GPU): {conc} {'packs' if units < n else 'trials'} at once"
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


def trial_id(config: TrainConfig, point: Mapping[str, Any]) -> str:
    """``<dataset>-<model>-<field><value>...-<model digest>``: readable grid fields plus the model's digest."""
    parts = [config.dataset, config.model] + [f"{k}{_fmt(v)}" for k, v in point.items() if k not in ("dataset", "model")]
    return "-".join(_safe(p) for p in parts) + f"-{model_digest(config)}"


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


def load_spec(spec: str | os.PathLike, storage: str | None = None, max_trials: int = MAX_TRIALS) -> SweepSpec:
    """Read and validate a YAML sweep spec (file path or preset name); ``storage`` overrides its storage path.

    Relative storage paths are taken relative to the current directory. Raises :class:`SpecError`.
    """
    import yaml

    path = resolve_spec_path(spec)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    return parse_spec(data, source=str(path), storage=storage, max_trials=max_trials)


def parse_spec(data: Any, source: str = "<dict>", storage: str | None = None, max_trials: int = MAX_TRIALS) -> SweepSpec:
    """Validate a spec given as plain data (the parsed YAML); every problem at once in one :class:`SpecError`.

    A grid of more than ``max_trials`` trials is refused with its size, counted from the axes (never expanded).
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"{source}: a sweep spec is a mapping with keys {', '.join(_spec_keys())}")
    if "name" not in data:
        raise SpecError(f"{source}: 'name' is required: the sweep's folder name under the storage path")
    data = _with_plugins_loaded(data, source)
    try:
        spec = dataclass_from_dict(SweepSpec, data, what="", collect=True)
    except ConfigError as exc:
        raise SpecError("\n".join(f"{source}: {p}" for p in exc.problems)) from None
    if spec.num_trials > max_trials:
        raise SpecError(f"{source}: the grid has {spec.num_trials:,} trials, more than the limit of {max_trials:,}; "
                        "check its ranges, split the sweep, or raise the limit (dbench sweep --max-trials N)")
    spec = dataclasses.replace(spec, source=source, storage=spec.storage.resolved())
    return spec.with_storage(storage) if storage is not None else spec


def _with_plugins_loaded(data: Mapping[str, Any], source: str) -> dict:
    """Load the spec's ``plugins`` (paths relative to the spec's folder, made absolute for the Ray workers)
    before the rest is parsed: their methods and hyperparameters are then known names."""
    from benchmark.plugins import load_plugins

    data = dict(data)
    plugins = data.get("plugins")
    if isinstance(plugins, list) and all(isinstance(p, str) for p in plugins):
        folder = Path(source).parent if Path(source).is_file() else Path.cwd()
        data["plugins"] = [str((folder / Path(p).expanduser()).resolve()) for p in plugins]
        try:
            load_plugins(data["plugins"], what=f"{source}: plugins:")
        except UserError as exc:
            raise SpecError(str(exc)) from None
    return data


def _spec_keys() -> list[str]:
    return [f.name for f in dataclasses.fields(SweepSpec) if not f.metadata.get("internal")]


def trial_table(spec: SweepSpec, num_gpus: float | None = 0) -> str:
    """One row per trial: id, the config fields that vary or matter most, and its resources; with ``packing``,
    the pack each trial trains in (``#`` of :func:`pack_table`), whose Tune trial holds the resources."""
    trials = spec.trials()
    varied = [*spec.grid, *(k for axes in spec.methods.values() for k in axes)]
    shown = ["dataset", "model"] + [k for k in dict.fromkeys(varied) if k not in ("dataset", "model")]
    shown += [k for k in ("steps", "batch_size") if k not in shown and k in spec.config]
    k = spec.models_per_trial_on(num_gpus)
    pack_of = {t.trial_id: str(i) for i, u in enumerate(pack_trials(trials, k)) for t in getattr(u, "trials", [u])} if k else {}
    packed = spec.packing.models_per_trial != 1
    header = ["#", "trial", *shown, *(["pack"] if packed else []), "cpu", "gpu"]
    cpu, gpu = _num(spec.resources.cpu), _num(spec.resources.gpu)
    rows = [[str(i), t.trial_id, *(_fmt(t.config.get(k, "")) for k in shown), *([pack_of.get(t.trial_id, "auto")] if packed else []),
             cpu, gpu] for i, t in enumerate(trials)]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    fmt = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), *(fmt(r) for r in rows)])


def pack_table(spec: SweepSpec, num_gpus: float | None = 0) -> str | None:
    """One row per Tune trial of a packed sweep: its id, how many models it trains, its resources; None when
    the sweep is unpacked here (or ``auto`` waits for the GPU it will measure)."""
    k = spec.models_per_trial_on(num_gpus)
    if not k or k == 1:
        return None
    units = pack_trials(spec.trials(), k)
    header = ["#", "tune trial", "models", "cpu", "gpu"]
    rows = [[str(i), getattr(u, "pack_id", None) or u.trial_id, str(len(getattr(u, "trials", [u]))),
             _num(spec.resources.cpu), _num(spec.resources.gpu)] for i, u in enumerate(units)]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in [header, *rows])


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _num(v: float) -> str:
    return _fmt(round(float(v), 6))


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "_", s)
