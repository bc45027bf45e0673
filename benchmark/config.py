"""Configuration dataclasses: one-line docs per field, defaults equal to the published protocol.

:class:`TrainConfig` describes one training run. Its defaults ARE the protocol of Locatello et al. 2019,
"Challenging Common Assumptions in the Unsupervised Learning of Disentangled Representations", ICML
(https://arxiv.org/abs/1811.12359), as run by google-research/disentanglement_lib: 10 Gaussian latents,
batch 64, Adam lr 1e-4 (β1 0.9, β2 0.999, ε 1e-8), 300,000 steps, the convolutional encoder/decoder,
β-VAE with β = 1 (the plain VAE). Anything else is a named option.

This module imports no torch, so the sweep layer can expand and validate grids of configs cheaply.
:func:`dataclass_from_dict` is the generic "dataclass from a mapping, unknown keys rejected, values
coerced and checked" helper that every config of the suite uses.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import typing
from typing import Any, Callable, Mapping, TypeVar

from benchmark._io import UserError

T = TypeVar("T")



@dataclasses.dataclass(frozen=True)
class Method:
    """What the torch-free layers need to know of a training objective (``TrainConfig.model``).

    ``hyperparameters``: the :class:`TrainConfig` fields the objective reads (``benchmark.models.OBJECTIVES``
    holds the functions, which take exactly these as keyword arguments). ``study_axis``: the one that the
    study grid varies (PROTOCOL.md), which reports put on their x axis and call ``hparam``; ``axis_label`` is
    its name in figures (matplotlib mathtext).
    """

    hyperparameters: tuple[str, ...]
    study_axis: str
    axis_label: str


#: Training objectives by ``TrainConfig.model`` name.
METHODS: dict[str, Method] = {
    "beta_vae": Method(hyperparameters=("beta",), study_axis="beta", axis_label=r"$\beta$"),
    "annealed_vae": Method(hyperparameters=("gamma", "c_max", "c_anneal_steps"), study_axis="c_max",
                           axis_label=r"$C_{\max}$"),
}
MODEL_NAMES = tuple(METHODS)
#: Encoder/decoder architectures (``TrainConfig.architecture``); ``benchmark.models.MODELS`` holds the classes.
ARCHITECTURE_NAMES = ("conv", "mlp")

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def field_docs(cls: type) -> dict[str, str]:
    """``{field name: one-line doc}`` of a config dataclass (the ``doc`` entry of each field's metadata)."""
    return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}


def _field(default: Any, doc: str, execution: bool = False, **bounds: float) -> Any:
    # execution=True: the field changes how a run is executed or recorded, not the model it trains.
    # bounds (ge, gt, lt) are checked by check_bounds for every config dataclass.
    return dataclasses.field(default=default, metadata={"doc": doc, "execution": execution, **bounds})


def _bounds_text(m: Mapping[str, Any]) -> str:
    lo = f"[{m['ge']:g}" if "ge" in m else (f"({m['gt']:g}" if "gt" in m else None)
    if lo and "lt" in m:
        return f"in {lo}, {m['lt']:g})"
    return lo.replace("[", ">= ").replace("(", "> ") if lo else f"< {m['lt']:g}"


def _in_bounds(v: float, m: Mapping[str, Any]) -> bool:
    return v >= m.get("ge", -math.inf) and (v > m["gt"] if "gt" in m else True) and v < m.get("lt", math.inf)


def check_bounds(obj: Any, where: str) -> list[str]:
    """Problems with the numeric fields of dataclass ``obj``: non-finite floats, values outside the ``ge``/``gt``/``lt``
    bounds declared in the fields' metadata. Each names ``<where>.<field>`` (``where`` "": the field alone)."""
    problems = []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        label = f"{where}.{f.name}" if where else f.name
        if isinstance(v, float) and not math.isfinite(v):
            problems.append(f"{label} must be a finite number, got {v!r}")
            continue
        if any(k in f.metadata for k in ("ge", "gt", "lt")) and not _in_bounds(v, f.metadata):
            problems.append(f"{label} must be {_bounds_text(f.metadata)}, got {v!r}")
    return problems


@functools.lru_cache(maxsize=None)
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class ConfigError(ValueError, UserError):
    """Every problem found in one mapping of config values, one line each (``problems`` keeps them apart)."""

    def __init__(self, problems: list[str] | str):
        problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(problems))
        self.problems = problems


def coerce_value(cls: type, name: str, value: Any, where: str | None = None) -> Any:
    """Convert ``value`` to the declared type of field ``name`` of dataclass ``cls``.

    Accepts what JSON, YAML and the command line produce: ints for floats, integral floats (``1e5``) for
    ints, numeric and boolean strings (``"4"``, ``"1e5"``, ``"true"``), ``None``/``"none"`` for optional
    fields. A field whose metadata has a ``parse`` function is converted by it (it raises ValueError with the
    reason); a field typed as a dataclass is built from a mapping by :func:`dataclass_from_dict`; ``dict``
    fields take a mapping. Anything else raises a ValueError that names ``<where>.<name>`` (``where``
    defaults to the class name; ``""`` names the field alone) and the expected type.
    """
    label = name if where == "" else f"{cls.__name__ if where is None else where}.{name}"
    hints = _type_hints(cls)
    if name not in hints:
        raise ConfigError(f"{cls.__name__} has no field {name!r}; valid fields: {', '.join(f.name for f in dataclasses.fields(cls))}")
    parse = next(f for f in dataclasses.fields(cls) if f.name == name).metadata.get("parse")
    if parse is not None:
        try:
            return parse(value)
        except ConfigError:
            raise  # its problems already name their keys
        except ValueError as exc:
            raise ConfigError(f"{label}: {exc}") from None
    hint = hints[name]
    optional = False
    args = typing.get_args(hint)
    if type(None) in args:
        optional = True
        rest = [a for a in args if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else hint
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in ("none", "null")):
        if optional:
            return None
        raise ConfigError(f"{label} must be a {getattr(hint, '__name__', hint)}, got None")
    if dataclasses.is_dataclass(hint):
        return dataclass_from_dict(hint, value, what=label, collect=True)
    return _coerce_scalar(hint, value, label)


def _coerce_scalar(hint: Any, value: Any, label: str) -> Any:
    def fail(expected: str) -> ValueError:
        return ConfigError(f"{label} must be {expected}, got {value!r} ({type(value).__name__})")

    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise fail("a boolean (true/false)")
    if hint is int:
        if isinstance(value, bool):
            raise fail("an integer")
        if isinstance(value, int):
            return int(value)
        number = value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise fail("an integer") from None
        if isinstance(number, float) and math.isfinite(number) and number == int(number):
            return int(number)
        raise fail("an integer")
    if hint is float:
        if isinstance(value, bool):
            raise fail("a number")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise fail("a number") from None
        raise fail("a number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise fail("a string")
    if typing.get_origin(hint) is dict or hint is dict:
        if isinstance(value, Mapping):
            return dict(value)
        raise fail("a mapping")
    return value  # pragma: no cover - every config field has one of the types above


def dataclass_from_dict(cls: type[T], data: Mapping[str, Any], what: str | None = None, *, collect: bool = False) -> T:
    """Build dataclass ``cls`` from ``data``: unknown keys rejected, values coerced (:func:`coerce_value`).

    Missing keys take the dataclass defaults. ``what`` names the source in errors (a file, "sweep spec", or
    the key of a nested section). If the dataclass has a ``validate()`` method it is called, so range errors
    surface here too. ``collect=True`` checks every field (nested sections included) before it fails, and
    raises one :class:`ConfigError` listing every problem; otherwise the first problem raises.
    """
    prefix = f"{cls.__name__ if what is None else what}: " if what != "" else ""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix}expected a mapping of field names to values, got {type(data).__name__}")
    # "internal" fields are set by code (e.g. where a spec was read from), never from the data
    names = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("internal")]
    problems: list[str] = []
    unknown = sorted(set(data) - set(names), key=str)
    if unknown:
        problems.append(f"{prefix}unknown field(s) {', '.join(map(repr, unknown))}; valid fields: {', '.join(names)}")
        if not collect:
            raise ConfigError(problems[0])
    kwargs = {k: _attempt(lambda: coerce_value(cls, k, v, what if collect else None), problems, collect)
              for k, v in data.items() if k in names}
    if not problems:
        obj = _attempt(lambda: _construct(cls, kwargs, cls.__name__ if what is None else what), problems, collect)
        if not problems:
            return obj
    raise ConfigError(problems)


def _attempt(fn: Callable[[], Any], problems: list[str], collect: bool) -> Any:
    """``fn()``; a ValueError it raises is added to ``problems`` when collecting, else raised."""
    try:
        return fn()
    except ConfigError as exc:
        problems += exc.problems
    except ValueError as exc:
        if not collect:
            raise
        problems.append(str(exc))
    return None


def _construct(cls: type[T], kwargs: dict[str, Any], where: str) -> T:
    obj = cls(**kwargs)
    problems = check_bounds(obj, where)
    if problems:
        raise ConfigError(problems)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults = Locatello et al. 2019 (β-VAE, β = 1, i.e. the plain VAE)."""

    dataset: str = _field("dsprites_procedural", "dataset name in benchmark.datasets.DATASETS")
    dataset_path: typing.Optional[str] = _field(None, "file of a real-file dataset (None: search the default places)", execution=True)
    model: str = _field("beta_vae", "objective: beta_vae (recon + beta*KL) or annealed_vae (recon + gamma*|KL - C(t)|)")
    architecture: str = _field("conv", "encoder/decoder: conv (Locatello et al. 2019) or mlp (Higgins et al. 2017)")
    beta: float = _field(1.0, "beta_vae: weight of the KL term (1 = plain VAE; study grid 1, 2, 4, 6, 8, 16)", ge=0)
    gamma: float = _field(1000.0, "annealed_vae: weight of |KL - C(t)| (Burgess et al. 2018)", ge=0)
    c_max: float = _field(25.0, "annealed_vae: final capacity C_max in nats (study grid 5, 10, 25, 50, 75, 100)", ge=0)
    c_anneal_steps: int = _field(100000, "annealed_vae: steps T over which C(t) = min(C_max, C_max*t/T) grows", ge=1)
    num_latents: int = _field(10, "number of Gaussian latent dimensions", ge=1)
    steps: int = _field(300000, "number of optimizer updates (the step budget)", ge=0)
    batch_size: int = _field(64, "images per update, drawn uniformly over the factor grid", ge=1)
    lr: float = _field(1e-4, "Adam learning rate", gt=0)
    adam_beta1: float = _field(0.9, "Adam beta1", ge=0, lt=1)
    adam_beta2: float = _field(0.999, "Adam beta2", ge=0, lt=1)
    adam_eps: float = _field(1e-8, "Adam epsilon", gt=0)
    seed: int = _field(0, "the one seed every random stream (init, batches, reparameterisation noise) derives from")
    device: str = _field("auto", "auto (cuda if available, else cpu), cpu, cuda, cuda:N or mps", execution=True)
    checkpoint_every: int = _field(10000, "steps between checkpoints (one is always written at the end)", execution=True, ge=1)
    log_every: int = _field(100, "write the loss terms of every log_every-th step to log.jsonl (1 = every step)", execution=True, ge=1)
    bf16: bool = _field(False, "speed: bfloat16 autocast of the forward pass on CUDA (changes numerics)")
    channels_last: bool = _field(False, "speed: channels-last memory format for the conv model (same maths, other kernels)", execution=True)
    compile: bool = _field(False, "speed: torch.compile the model (same maths, fused kernels; slow first steps)", execution=True)
    dataset_cache: bool = _field(False, "speed: serve batches from the dataset's full-grid cache (dsprites_procedural: 360 MiB, built once); same images", execution=True)

    #: The execution-only fields (declared with ``execution=True`` above): where and how a run executes and is
    #: recorded, not which model it trains. The one set that the model's identity (``run.id``, the trial id of
    #: a sweep) leaves out and that may differ between a run directory and the config resuming it.
    EXECUTION_FIELDS: typing.ClassVar[tuple[str, ...]]

    # ------------------------------------------------------------------ construction and checks
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], what: str | None = None) -> "TrainConfig":
        """Config from a mapping; unknown keys are rejected with the list of valid ones; values are checked.

        Keys starting with ``env.`` (the versions that ``config.json`` carries beside the fields) are ignored.
        """
        if isinstance(data, Mapping):  # anything else is refused by dataclass_from_dict, naming `what`
            data = {k: v for k, v in data.items() if not str(k).startswith("env.")}
        return dataclass_from_dict(cls, data, what or "TrainConfig")

    @classmethod
    def from_json(cls, text: str, what: str | None = None) -> "TrainConfig":
        return cls.from_dict(json.loads(text), what)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        """Every field, plain JSON values, in declaration order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` applied, coerced and validated like :meth:`from_dict`."""
        return type(self).from_dict({**self.to_dict(), **changes})

    def differing_fields(self, other: "TrainConfig") -> dict[str, tuple[Any, Any]]:
        """``{field: (self value, other value)}`` for every field that differs."""
        return {
            f.name: (getattr(self, f.name), getattr(other, f.name))
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming every field whose value is out of range (the fields' declared bounds and the
        registries' names); return self."""
        from benchmark.datasets import DATASETS  # numpy-only import

        problems = check_bounds(self, "TrainConfig")
        if DATASETS and self.dataset not in DATASETS:
            problems.append(f"TrainConfig.dataset: unknown dataset {self.dataset!r}; valid names: {', '.join(sorted(DATASETS))}")
        if self.model not in MODEL_NAMES:
            problems.append(f"TrainConfig.model: unknown model {self.model!r}; valid names: {', '.join(MODEL_NAMES)}")
        if self.architecture not in ARCHITECTURE_NAMES:
            problems.append(f"TrainConfig.architecture: unknown architecture {self.architecture!r}; valid names: "
                            f"{', '.join(ARCHITECTURE_NAMES)}")
        if not 0 <= self.seed < 2**63:
            problems.append(f"TrainConfig.seed must be an integer in [0, 2**63), got {self.seed!r}")
        if not _DEVICE_RE.match(self.device):
            problems.append(f"TrainConfig.device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        if problems:
            raise ConfigError(problems)
        return self

    def __post_init__(self) -> None:
        # Direct construction (TrainConfig(beta=4)) gets the same checks as from_dict, after coercion.
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, coerce_value(type(self), f.name, getattr(self, f.name)))
        self.validate()


TrainConfig.EXECUTION_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("execution"))

__all__ = [
    "ARCHITECTURE_NAMES", "ConfigError", "METHODS", "check_bounds", "MODEL_NAMES", "Method", "TrainConfig",
    "coerce_value", "dataclass_from_dict", "field_docs",
]
