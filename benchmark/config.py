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
from typing import Any, Mapping, TypeVar

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


def _field(default: Any, doc: str, execution: bool = False) -> Any:
    # execution=True: the field changes how a run is executed or recorded, not the model it trains.
    return dataclasses.field(default=default, metadata={"doc": doc, "execution": execution})


@functools.lru_cache(maxsize=None)
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class ConfigError(ValueError):
    """Every problem found in one mapping of config values, one line each (``problems`` keeps them apart)."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


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
        raise ValueError(f"{cls.__name__} has no field {name!r}; valid fields: {', '.join(f.name for f in dataclasses.fields(cls))}")
    parse = next(f for f in dataclasses.fields(cls) if f.name == name).metadata.get("parse")
    if parse is not None:
        try:
            return parse(value)
        except ConfigError:
            raise  # its problems already name their keys
        except ValueError as exc:
            raise ValueError(f"{label}: {exc}") from None
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
        raise ValueError(f"{label} must be a {getattr(hint, '__name__', hint)}, got None")
    if dataclasses.is_dataclass(hint):
        return dataclass_from_dict(hint, value, what=label, collect=True)
    return _coerce_scalar(hint, value, label)


def _coerce_scalar(hint: Any, value: Any, label: str) -> Any:
    def fail(expected: str) -> ValueError:
        return ValueError(f"{label} must be {expected}, got {value!r} ({type(value).__name__})")

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
        raise ValueError(f"{prefix}expected a mapping of field names to values, got {type(data).__name__}")
    # "internal" fields are set by code (e.g. where a spec was read from), never from the data
    names = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("internal")]
    problems: list[str] = []
    unknown = sorted(set(data) - set(names), key=str)
    if unknown:
        problems.append(f"{prefix}unknown field(s) {', '.join(map(repr, unknown))}; valid fields: {', '.join(names)}")
        if not collect:
            raise ValueError(problems[0])
    kwargs = {}
    for k, v in data.items():
        if k in names:
            try:
                kwargs[k] = coerce_value(cls, k, v, what if collect else None)
            except ConfigError as exc:
                problems += exc.problems
            except ValueError as exc:
                if not collect:
                    raise
                problems.append(str(exc))
    if not problems:
        try:
            obj = cls(**kwargs)
            validate = getattr(obj, "validate", None)
            if callable(validate):
                validate()
            return obj
        except ConfigError as exc:
            problems += exc.problems
        except ValueError as exc:
            if not collect:
                raise
            problems.append(str(exc))
    raise ConfigError(problems)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults = Locatello et al. 2019 (β-VAE, β = 1, i.e. the plain VAE)."""

    dataset: str = _field("dsprites_procedural", "dataset name in benchmark.datasets.DATASETS")
    dataset_path: typing.Optional[str] = _field(None, "file of a real-file dataset (None: search the default places)", execution=True)
    model: str = _field("beta_vae", "objective: beta_vae (recon + beta*KL) or annealed_vae (recon + gamma*|KL - C(t)|)")
    architecture: str = _field("conv", "encoder/decoder: conv (Locatello et al. 2019) or mlp (Higgins et al. 2017)")
    beta: float = _field(1.0, "beta_vae: weight of the KL term (1 = plain VAE; study grid 1, 2, 4, 6, 8, 16)")
    gamma: float = _field(1000.0, "annealed_vae: weight of |KL - C(t)| (Burgess et al. 2018)")
    c_max: float = _field(25.0, "annealed_vae: final capacity C_max in nats (study grid 5, 10, 25, 50, 75, 100)")
    c_anneal_steps: int = _field(100000, "annealed_vae: steps T over which C(t) = min(C_max, C_max*t/T) grows")
    num_latents: int = _field(10, "number of Gaussian latent dimensions")
    steps: int = _field(300000, "number of optimizer updates (the step budget)")
    batch_size: int = _field(64, "images per update, drawn uniformly over the factor grid")
    lr: float = _field(1e-4, "Adam learning rate")
    adam_beta1: float = _field(0.9, "Adam beta1")
    adam_beta2: float = _field(0.999, "Adam beta2")
    adam_eps: float = _field(1e-8, "Adam epsilon")
    seed: int = _field(0, "the one seed every random stream (init, batches, reparameterisation noise) derives from")
    device: str = _field("auto", "auto (cuda if available, else cpu), cpu, cuda, cuda:N or mps", execution=True)
    checkpoint_every: int = _field(10000, "steps between checkpoints (one is always written at the end)", execution=True)
    log_every: int = _field(100, "write the loss terms of every log_every-th step to log.jsonl (1 = every step)", execution=True)
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
        data = {k: v for k, v in dict(data).items() if not str(k).startswith("env.")}
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
        """Raise ValueError naming the first field whose value is out of range; return self."""

        def bad(name: str, expected: str) -> ValueError:
            return ValueError(f"TrainConfig.{name} must be {expected}, got {getattr(self, name)!r}")

        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise bad(f.name, "a finite number")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise bad("dataset", "a dataset name")
        from benchmark.datasets import DATASETS  # numpy-only import

        if DATASETS and self.dataset not in DATASETS:
            raise ValueError(f"TrainConfig.dataset: unknown dataset {self.dataset!r}; valid names: {', '.join(sorted(DATASETS))}")
        if self.model not in MODEL_NAMES:
            raise ValueError(f"TrainConfig.model: unknown model {self.model!r}; valid names: {', '.join(MODEL_NAMES)}")
        if self.architecture not in ARCHITECTURE_NAMES:
            raise ValueError(
                f"TrainConfig.architecture: unknown architecture {self.architecture!r}; valid names: {', '.join(ARCHITECTURE_NAMES)}"
            )
        for name in ("beta", "gamma", "c_max"):
            if getattr(self, name) < 0:
                raise bad(name, ">= 0")
        for name in ("c_anneal_steps", "num_latents", "batch_size", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise bad(name, ">= 1")
        if self.steps < 0:
            raise bad("steps", ">= 0")
        if self.lr <= 0:
            raise bad("lr", "> 0")
        for name in ("adam_beta1", "adam_beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise bad(name, "in [0, 1)")
        if self.adam_eps <= 0:
            raise bad("adam_eps", "> 0")
        if not 0 <= self.seed < 2**63:
            raise bad("seed", "an integer in [0, 2**63)")
        if not _DEVICE_RE.match(self.device):
            raise bad("device", "auto, cpu, cuda, cuda:N or mps")
        return self

    def __post_init__(self) -> None:
        # Direct construction (TrainConfig(beta=4)) gets the same checks as from_dict, after coercion.
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, coerce_value(type(self), f.name, getattr(self, f.name)))
        self.validate()


TrainConfig.EXECUTION_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("execution"))

__all__ = [
    "ARCHITECTURE_NAMES",
    "ConfigError",
    "METHODS",
    "MODEL_NAMES",
    "Method",
    "TrainConfig",
    "coerce_value",
    "dataclass_from_dict",
    "field_docs",
]
