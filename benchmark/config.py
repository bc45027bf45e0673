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
from benchmark.registry import Registry

T = TypeVar("T")



@dataclasses.dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a method, declared once beside the method: the CLI option, spec keys, presets'
    study grids, the model's identity (run ids) and report axes all read this declaration.

    ``grid``: the values the study of Locatello et al. 2019 uses (PROTOCOL.md); empty for one the study fixes.
    ``label``: its name in figures (matplotlib mathtext); ``text``: in tables (plain text). ``bounds``: any of
    ``ge``, ``gt``, ``lt``, checked like the TrainConfig fields' bounds.
    """

    name: str
    default: float | int
    doc: str
    grid: tuple = ()
    label: str = ""
    text: str = ""
    type: type = float
    bounds: Mapping[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Method:
    """A training objective (``TrainConfig.model``) as the torch-free layers know it: its hyperparameters and
    the one its study grid varies (``study_axis``, which reports put on their x axis and call ``hparam``).

    ``benchmark.models.OBJECTIVES`` holds the loss functions, which take exactly these hyperparameters as
    keyword arguments; ``benchmark.models.register_method`` registers a method and its objective together.
    """

    name: str
    doc: str
    hyperparameters: tuple[Hyperparameter, ...]
    study_axis: str | None = None
    paper: str = ""

    def __post_init__(self) -> None:
        names = [h.name for h in self.hyperparameters]
        if len(set(names)) != len(names) or (self.study_axis is not None and self.study_axis not in names):
            raise ValueError(f"method {self.name!r}: hyperparameter names {names} must be unique and include the "
                             f"study axis {self.study_axis!r}")

    def hyperparameter(self, name: str) -> Hyperparameter:
        return next(h for h in self.hyperparameters if h.name == name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hyperparameters)

    @property
    def axis_label(self) -> str:
        return self.hyperparameter(self.study_axis).label if self.study_axis else "hyperparameter"

    @property
    def axis_text(self) -> str:
        return self.hyperparameter(self.study_axis).text if self.study_axis else "hyperparameter"

    @property
    def study_grid(self) -> tuple:
        return self.hyperparameter(self.study_axis).grid if self.study_axis else ()


_BETA = dict(name="beta", label=r"$\beta$", text="β", bounds={"ge": 0})
_LOCATELLO = "Locatello et al. 2019 study grid"

#: Training objectives by ``TrainConfig.model`` name: the six methods of Locatello et al. 2019, as
#: google-research/disentanglement_lib (methods/unsupervised/vae.py, config/unsupervised_study_v1) trains them.
METHODS: Registry = Registry("model (method)")


def register(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS`. A hyperparameter name two methods share must have one type (the CLI
    option and spec key are shared: ``beta`` is β-VAE's and β-TCVAE's)."""
    for h in method.hyperparameters:
        for other in METHODS.values():
            if h.name in other.names and other.hyperparameter(h.name).type is not h.type:
                raise ValueError(f"method {method.name!r}: hyperparameter {h.name!r} is a {h.type.__name__}, but "
                                 f"{other.name!r} declares it as a {other.hyperparameter(h.name).type.__name__}")
        if h.name in _FIELD_NAMES:
            raise ValueError(f"method {method.name!r}: hyperparameter {h.name!r} is the name of a TrainConfig field")
    return METHODS.register(method.name)(method)


def declared_hyperparameter(name: str) -> Hyperparameter | None:
    """The first registered method's declaration of hyperparameter ``name`` (None: no method takes it). Methods
    sharing a name agree on its type (:func:`register`), so this one decides how values are converted."""
    return next((m.hyperparameter(name) for m in METHODS.values() if name in m.names), None)


def hyperparameter_names() -> list[str]:
    """Every registered method's hyperparameter names, in registration order, each once."""
    return list(dict.fromkeys(h.name for m in METHODS.values() for h in m.hyperparameters))


def hyperparameter_docs() -> dict[str, str]:
    """``{name: doc}`` of every registered hyperparameter name, with the methods that take it and their defaults."""
    out: dict[str, list[str]] = {}
    for m in METHODS.values():
        for h in m.hyperparameters:
            grid = f"; study grid {', '.join(f'{v:g}' for v in h.grid)}" if h.grid else ""
            out.setdefault(h.name, []).append(f"{m.name}: {h.doc} [{h.default:g}{grid}]")
    return {name: " | ".join(docs) for name, docs in out.items()}


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
        valid = cls.field_names() if hasattr(cls, "field_names") else names  # TrainConfig: with the hyperparameters
        problems.append(f"{prefix}unknown field(s) {', '.join(map(repr, unknown))}; valid fields: {', '.join(valid)}")
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
    model: str = _field("beta_vae", "the method (objective): beta_vae, annealed_vae, factor_vae, beta_tc_vae, dip_vae_i, dip_vae_ii or a plugin's")
    architecture: str = _field("conv", "encoder/decoder: conv (Locatello et al. 2019) or mlp (Higgins et al. 2017)")
    hyperparameters: dict = dataclasses.field(default_factory=dict, metadata={
        "doc": "the method's hyperparameters (METHODS[model]); flat keys (beta: 4, --beta 4) set them", "execution": False})
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
    def from_dict(cls, data: Mapping[str, Any], what: str | None = None, stored: bool = False) -> "TrainConfig":
        """Config from a mapping; unknown keys are rejected with the list of valid ones; values are checked.

        The method's hyperparameters are given flat (``{"model": "beta_vae", "beta": 4}``) or as a
        ``hyperparameters`` mapping. Keys starting with ``env.`` (the versions ``config.json`` carries beside the
        fields) are ignored. ``stored=True`` (a config this suite wrote) also ignores hyperparameters of other
        methods: run directories written before configs held only their method's hyperparameters carry them all.
        """
        if isinstance(data, Mapping):  # anything else is refused by dataclass_from_dict, naming `what`
            data = {k: v for k, v in data.items() if not str(k).startswith("env.")}
            hyper = dict(data.pop("hyperparameters", None) or {})
            known = set(hyperparameter_names())
            model = METHODS.get(data.get("model", cls.model))
            # with an unknown model, its hyperparameters are unknown too: the error then names the model
            hyper.update({k: data.pop(k) for k in list(data) if k not in _FIELD_NAMES and (k in known or model is None)})
            if stored and model is not None:
                hyper = {k: v for k, v in hyper.items() if k in model.names}
            data["hyperparameters"] = hyper
        return dataclass_from_dict(cls, data, what or "TrainConfig")

    @classmethod
    def from_json(cls, text: str, what: str | None = None) -> "TrainConfig":
        return cls.from_dict(json.loads(text), what)

    @classmethod
    def field_names(cls) -> list[str]:
        """The fields and every registered method's hyperparameter names: what a config mapping may set."""
        return [f for f in _FIELD_NAMES if f != "hyperparameters"] + hyperparameter_names()

    @classmethod
    def coerce(cls, name: str, value: Any, where: str) -> Any:
        """``value`` converted for field or hyperparameter ``name`` (a hyperparameter: to its declared type, the
        first method declaring it deciding; they agree, :func:`register` checks); errors name ``<where>.<name>``."""
        if name in _FIELD_NAMES:
            return coerce_value(cls, name, value, where=where)
        h = declared_hyperparameter(name)
        if h is None:
            raise ConfigError(f"{where}.{name}: unknown field; valid fields: {', '.join(cls.field_names())}")
        return _coerce_scalar(h.type, value, f"{where}.{name}")

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON values in declaration order, the method's hyperparameters flat after
        ``architecture`` (the layout of ``config.json`` and of the records' ``config.*`` keys)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name != "hyperparameters":
                out[f.name] = getattr(self, f.name)
            if f.name == "architecture":
                out.update(self.hyperparameters)
        return out

    def get(self, name: str, default: Any = None) -> Any:
        """A field's or hyperparameter's value (``default`` when the method has no such hyperparameter)."""
        return getattr(self, name) if name in _FIELD_NAMES else self.hyperparameters.get(name, default)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` applied, coerced and validated like :meth:`from_dict`."""
        return type(self).from_dict({**self.to_dict(), **changes})

    def differing_fields(self, other: "TrainConfig") -> dict[str, tuple[Any, Any]]:
        """``{field or hyperparameter: (self value, other value)}`` for every one that differs."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a.get(k), b.get(k)) for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)}

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming every field whose value is out of range (the fields' declared bounds and the
        registries' names); return self."""
        from benchmark.datasets import DATASETS  # numpy-only import

        problems = check_bounds(self, "TrainConfig")
        if DATASETS and self.dataset not in DATASETS:
            problems.append(f"TrainConfig.dataset: unknown dataset {self.dataset!r}; valid names: {', '.join(sorted(DATASETS))}")
        if self.model not in METHODS:
            problems.append(f"TrainConfig.model: unknown model {self.model!r}; valid names: {', '.join(sorted(METHODS))} "
                            "(a method of your own is loaded with --plugin FILE, or plugins: in a sweep spec)")
        else:
            problems += self._resolve_hyperparameters(METHODS[self.model])
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

    def _resolve_hyperparameters(self, method: Method) -> list[str]:
        """Coerce, bound-check and complete (declared defaults, declared order) ``self.hyperparameters``."""
        given, resolved, problems = dict(self.hyperparameters), {}, []
        for name in given:
            if name not in method.names:
                problems.append(f"TrainConfig.{name}: not a hyperparameter of {method.name} (its hyperparameters: "
                                f"{', '.join(method.names) or 'none'}); set it only with the --model that takes it")
        for h in method.hyperparameters:
            label = f"TrainConfig.{h.name}"
            try:
                value = _coerce_scalar(h.type, given.get(h.name, h.default), label)
            except ConfigError as exc:
                problems += exc.problems
                continue
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(f"{label} must be a finite number, got {value!r}")
            elif h.bounds and not _in_bounds(value, h.bounds):
                problems.append(f"{label} must be {_bounds_text(h.bounds)}, got {value!r}")
            resolved[h.name] = value
        object.__setattr__(self, "hyperparameters", resolved)
        return problems

    def __getattr__(self, name: str) -> Any:
        # config.beta reads the method's hyperparameter (only reached when no field has the name)
        hyper = self.__dict__.get("hyperparameters") or {}
        if name in hyper:
            return hyper[name]
        raise AttributeError(f"TrainConfig has no field {name!r}" + (
            f" and {self.__dict__.get('model')} no hyperparameter {name!r}" if "model" in self.__dict__ else ""))

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __post_init__(self) -> None:
        # Direct construction (TrainConfig(steps=10)) gets the same checks as from_dict, after coercion.
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, coerce_value(type(self), f.name, getattr(self, f.name)))
        self.validate()


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(TrainConfig))
TrainConfig.EXECUTION_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("execution"))

#: The fields in which the members of a pack (``benchmark.packing``: several models trained as one network) may
#: differ. Everything else (dataset, architecture, latents, batch size, step budget, optimizer, device, cadences,
#: speed switches) they share, as the layers of one network do.
PACK_MEMBER_FIELDS = ("model", "hyperparameters", "seed")


def pack_key(config: TrainConfig) -> str:
    """What configs must share to train as one pack: every field but :data:`PACK_MEMBER_FIELDS`, as sorted JSON."""
    shared = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in PACK_MEMBER_FIELDS}
    return json.dumps(shared, sort_keys=True)

# ---------------------------------------------------------------------------------------------- the methods
# Hyperparameters the reference requires without a default (gin.REQUIRED) default to their study grid's
# smallest value; the β of both β-methods defaults to 1 (the plain VAE, as in the study's shared.gin).
register(Method(
    "beta_vae", "recon + β·KL", (Hyperparameter(**_BETA, default=1.0, doc="weight of the KL term (1 = the plain VAE)",
                                             grid=(1.0, 2.0, 4.0, 6.0, 8.0, 16.0)),),
    study_axis="beta", paper="Higgins et al. 2017, https://openreview.net/forum?id=Sy2fzU9gl"))
register(Method(
    "annealed_vae", "recon + γ·|KL − C(t)|, C(t) = min(C_max, C_max·t/T)", (
        Hyperparameter("gamma", 1000.0, "weight of |KL - C(t)| (the study fixes 1000)", label=r"$\gamma$", text="γ",
                       bounds={"ge": 0}),
        Hyperparameter("c_max", 25.0, "final capacity C_max in nats", grid=(5.0, 10.0, 25.0, 50.0, 75.0, 100.0),
                       label=r"$C_{\max}$", text="C_max", bounds={"ge": 0}),
        Hyperparameter("c_anneal_steps", 100000, "steps T over which C(t) grows to C_max (the study fixes 100,000)",
                       label="$T$", text="T", type=int, bounds={"ge": 1}),
    ), study_axis="c_max", paper="Burgess et al. 2018, https://arxiv.org/abs/1804.03599"))
register(Method(
    "factor_vae", "recon + KL + γ·TC, TC from a discriminator of z against its dimension-wise shuffle", (
        Hyperparameter("gamma", 10.0, "weight of the discriminator's total-correlation estimate",
                       grid=(10.0, 20.0, 30.0, 40.0, 50.0, 100.0), label=r"$\gamma$", text="γ", bounds={"ge": 0}),),
    study_axis="gamma", paper="Kim & Mnih 2018, https://arxiv.org/abs/1802.05983"))
register(Method(
    "beta_tc_vae", "recon + KL + (β − 1)·TC, TC by minibatch-weighted sampling", (
        Hyperparameter(**_BETA, default=1.0, doc="weight of the total correlation (1 = the plain VAE)",
                       grid=(1.0, 2.0, 4.0, 6.0, 8.0, 10.0)),),
    study_axis="beta", paper="Chen et al. 2018, https://arxiv.org/abs/1802.04942"))
for _dip, _factor, _cov in (("dip_vae_i", 10.0, "Cov[μ]"), ("dip_vae_ii", 1.0, "Cov[μ] + E[diag σ²]")):
    register(Method(
        _dip, f"recon + KL + λ_od·Σ_(i≠j) C_ij² + λ_d·Σ_i (C_ii − 1)², C = {_cov} over the batch", (
            Hyperparameter("lambda_od", 1.0, "weight of the off-diagonal covariance penalty",
                           grid=(1.0, 2.0, 5.0, 10.0, 20.0, 50.0), label=r"$\lambda_{od}$", text="λ_od", bounds={"ge": 0}),
            Hyperparameter("lambda_d_factor", _factor, f"λ_d = lambda_d_factor·λ_od (the study fixes {_factor:g})",
                           label=r"$\lambda_d/\lambda_{od}$", text="λ_d/λ_od", bounds={"ge": 0}),
        ), study_axis="lambda_od", paper="Kumar et al. 2018, https://openreview.net/forum?id=H1kG7GZAW"))


__all__ = [
    "ARCHITECTURE_NAMES", "ConfigError", "Hyperparameter", "METHODS", "check_bounds", "Method", "TrainConfig",
    "coerce_value", "dataclass_from_dict", "declared_hyperparameter", "field_docs", "hyperparameter_docs",
    "hyperparameter_names", "PACK_MEMBER_FIELDS", "pack_key", "register",
]
