"""Packs: K models of one architecture trained as one network, each keeping its own run.

The study's model is tiny (0.69 M parameters, about 5 GFLOP per batch-64 step), so one model leaves a GPU
almost idle: kernel launches, not arithmetic, bound its step. A pack fuses K such models horizontally (HFTA,
Wang et al. 2021, "Horizontally Fused Training Array", MLSys, https://arxiv.org/abs/2102.02344): every layer of
the K models becomes one layer — convolutions grouped K ways (``groups=K``), dense layers batched matrix
products — and one Adam updates the stacked parameters. Adam is element-wise, so its update of model k's slice
is exactly the update a solo Adam makes from the same gradient; every other step is per model too (the loss
of a pack is the sum of its members' losses, whose gradient with respect to model k's weights is model k's own).
Only the order of floating-point additions inside a grouped convolution or a reduction can differ from the solo
kernels, so a member's weights equal its solo run's to float rounding, not bit for bit (tests/training/test_pack.py
measures how close).

What each member keeps, exactly as its solo run (``benchmark.training.train``) would have it:
- its seed streams (``SeedSequence(seed).spawn(5)``): initial weights, batch indices, reparameterisation noise,
  and FactorVAE's discriminator and shuffles — model k of a pack starts where its solo run starts;
- its method and hyperparameters (``TrainConfig.model``, ``hyperparameters``): the built-in objectives take a
  pack at once with one value per model (``benchmark.models.PACKED_OBJECTIVES``), so one pack may mix settings
  and methods; any other objective is called once per model;
- its run directory: ``config.json``, its own ``checkpoint.pt`` (the solo format: ``load_model``, ``dbench
  evaluate``, ``report`` and ``train --resume`` cannot tell them apart), ``log.jsonl``, ``done.json``.

What the members share (:data:`benchmark.config.PACK_MEMBER_FIELDS` names what they may not): dataset,
architecture, latents, batch size, step budget, optimizer settings, device and cadences.

Faults: a member whose loss becomes non-finite is frozen (its weights zeroed and its loss masked out) and its
run directory gets ``error.json`` and keeps its last good checkpoint, as a solo run that stops there; the rest of
the pack goes on. A pack resumes from its members' checkpoints; members found at different steps (a kill while
a checkpoint step was being written) first bring the lagging ones up to the others' step. Members with an
``error.json`` stay out of the pack until it is removed.

The data path: batch indices are drawn from each member's numpy stream (the solo stream's numbers); on a GPU
the dataset's uint8 grid is resident on the device (:class:`DeviceGrid`) and a batch is one gather, so the
host never bounds the step; on the CPU the K batches are fetched in one call in a background thread.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark import training as _t
from benchmark._gaussian import reparameterize
from benchmark._io import UserError, exclusive_lock
from benchmark.config import METHODS, PACK_MEMBER_FIELDS, TrainConfig, pack_key
from benchmark.datasets.base import GroundTruthDataset
from benchmark.models import (AUXILIARIES, OBJECTIVES, PACKED_OBJECTIVES, VAE, Discriminator, _Heads, _seed_int,
                              build_auxiliary, build_model, elbo_terms, objective_hyperparameters)
from benchmark.records import CHECKPOINT_FILE, LOG_FILE


class PackError(ValueError, UserError):
    """Configs or modules that cannot train as one pack; the message says which fields or module differ."""


# ---------------------------------------------------------------------------------------------- packed layers
# Two layouts of a pack's activations: "grouped" (B, K·C, H, W), what grouped convolutions take, and "stacked"
# (K, B, ...), what batched matrix products take. A packed sequential converts between them where needed.
def to_stacked(x: torch.Tensor, k: int) -> torch.Tensor:
    """Grouped ``(B, K·C, H, W)`` → stacked ``(K, B, C, H, W)`` (a view)."""
    return x.unflatten(1, (k, -1)).transpose(0, 1)


def to_grouped(x: torch.Tensor, k: int) -> torch.Tensor:
    """Stacked ``(K, B, C, H, W)`` → grouped ``(B, K·C, H, W)``."""
    assert x.shape[0] == k, (tuple(x.shape), k)
    return x.transpose(0, 1).flatten(1, 2)


def _stack(tensors: Iterable[torch.Tensor]) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach() for t in tensors]))


class PackedLinear(nn.Module):
    """K dense layers: weight ``(K, out, in)``, bias ``(K, out)``; ``(K, B, in)`` → ``(K, B, out)`` by one baddbmm
    (``fused``), or by the solo kernel once per model (bit-identical to K solo layers on the CPU)."""

    layout = "stacked"
    fused = True

    def __init__(self, layers: Sequence[nn.Linear]):
        super().__init__()
        self.k = len(layers)
        self.weight, self.bias = _stack(m.weight for m in layers), _stack(m.bias for m in layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fused:  # unbind, not x[k]: its backward is one stack, where K selects would each fill a K-sized zero
            return torch.stack([F.linear(*a) for a in zip(x.unbind(0), self.weight.unbind(0), self.bias.unbind(0))])
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class _PackedConv(nn.Module):
    layout = "grouped"
    fused = True  # one convolution grouped K ways; False: the solo kernel once per model

    def __init__(self, layers: Sequence[nn.Module]):
        super().__init__()
        first = layers[0]
        if first.groups != 1 or first.padding_mode != "zeros" or first.bias is None:
            raise PackError(f"cannot pack {first}: only ungrouped, zero-padded convolutions with a bias pack")
        self.k = len(layers)
        self.weight, self.bias = _stack(m.weight for m in layers), _stack(m.bias for m in layers)
        self.options = {name: getattr(first, name) for name in ("stride", "padding", "dilation")}


class PackedConv2d(_PackedConv):
    """K convolutions as one, grouped K ways: weight ``(K, out, in, kh, kw)``; ``(B, K·in, H, W)`` → ``(B, K·out, H', W')``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fused:
            parts = zip(to_stacked(x, self.k).unbind(0), self.weight.unbind(0), self.bias.unbind(0))
            return torch.stack([F.conv2d(*a, **self.options) for a in parts], 1).flatten(1, 2)
        return F.conv2d(x, self.weight.flatten(0, 1), self.bias.flatten(), groups=self.k, **self.options)


class PackedConvTranspose2d(_PackedConv):
    """K transposed convolutions grouped K ways: weight ``(K, in, out, kh, kw)`` (the solo layout, stacked)."""

    def __init__(self, layers: Sequence[nn.ConvTranspose2d]):
        super().__init__(layers)
        self.options["output_padding"] = layers[0].output_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.options
        if not self.fused:
            parts = zip(to_stacked(x, self.k).unbind(0), self.weight.unbind(0), self.bias.unbind(0))
            out = [F.conv_transpose2d(*a, o["stride"], o["padding"], o["output_padding"], 1, o["dilation"]) for a in parts]
            return torch.stack(out, 1).flatten(1, 2)
        return F.conv_transpose2d(x, self.weight.flatten(0, 1), self.bias.flatten(), o["stride"], o["padding"],
                                  o["output_padding"], self.k, o["dilation"])


#: How a pack computes its layers: ``fused`` (one grouped convolution or batched product per layer: the point
#: of a pack on a GPU) or ``loop`` (each model's slice by the solo kernel: bit-identical to solo runs on the
#: CPU, K launches per layer). ``auto``: fused on CUDA, loop elsewhere.
KERNELS = ("auto", "fused", "loop")


def set_kernels(module: nn.Module, kernels: str) -> nn.Module:
    """Switch every packed layer of ``module`` to ``fused`` or ``loop`` kernels (:data:`KERNELS`); returns it."""
    if kernels not in ("fused", "loop"):
        raise ValueError(f"kernels must be fused or loop, got {kernels!r}")
    for m in module.modules():
        if isinstance(m, (PackedLinear, _PackedConv)):
            m.fused = kernels == "fused"
    return module


class PackedFlatten(nn.Module):
    """``nn.Flatten()`` of each model: ``(K, B, ...)`` → ``(K, B, F)``."""

    layout = "stacked"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2)


class PackedUnflatten(nn.Module):
    """``nn.Unflatten(1, shape)`` of each model: ``(K, B, F)`` → ``(K, B, *shape)``."""

    layout = "stacked"

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(2, self.shape)


class _PackedHeads(nn.Module):
    """The two linear heads of :class:`benchmark.models._Heads`, packed: ``(K, B, W)`` → ``(K, B, 2D)``."""

    layout = "stacked"

    def __init__(self, heads: Sequence[_Heads]):
        super().__init__()
        self.mean = PackedLinear([h.mean for h in heads])
        self.logvar = PackedLinear([h.logvar for h in heads])

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.mean(h), self.logvar(h)], dim=-1)


class PackedSequential(nn.Sequential):
    """An ``nn.Sequential`` of packed layers, converting the activations' layout where a layer needs the other.

    ``forward(x, layout)``: ``x`` in ``layout`` ("stacked" unless given); the result is in :attr:`out_layout`.
    """

    def __init__(self, k: int, *layers: nn.Module):
        super().__init__(*layers)
        self.k = k
        layouts = [m.layout for m in layers if getattr(m, "layout", None)]
        self.out_layout = layouts[-1] if layouts else "stacked"

    def forward(self, x: torch.Tensor, layout: str = "stacked") -> torch.Tensor:  # type: ignore[override]
        for m in self:
            want = getattr(m, "layout", None)
            if want is not None and want != layout:
                x, layout = (to_grouped(x, self.k) if want == "grouped" else to_stacked(x, self.k)), want
            x = m(x)
        if layout != self.out_layout:  # only element-wise layers after the last packed one: never here
            x = to_grouped(x, self.k) if self.out_layout == "grouped" else to_stacked(x, self.k)
        return x


#: Layers that act element by element: one module serves the whole pack.
_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.GELU, nn.SiLU, nn.Softplus, nn.Identity)


def pack_modules(modules: Sequence[nn.Module]) -> nn.Module:
    """One module computing all of ``modules`` (K modules of one structure) at once, its parameters stacked
    ``(K, ...)`` under the solo modules' names. Packs ``nn.Sequential`` of ``Linear``, ``Conv2d``,
    ``ConvTranspose2d``, ``Flatten``, ``Unflatten`` and element-wise activations, the VAE heads and FactorVAE's
    :class:`~benchmark.models.Discriminator`; anything else raises :class:`PackError` naming it."""
    first, k = modules[0], len(modules)
    if any(type(m) is not type(first) for m in modules):
        raise PackError(f"cannot pack modules of different types: {sorted({type(m).__name__ for m in modules})}")
    if any(dict(m.named_buffers(recurse=False)) for m in modules):
        raise PackError(f"cannot pack {type(first).__name__}: it has buffers (e.g. batch-norm statistics)")
    kind = type(first)
    if kind is nn.Sequential:
        if len({len(m) for m in modules}) != 1:
            raise PackError("cannot pack sequentials of different lengths")
        return PackedSequential(k, *(pack_modules([m[i] for m in modules]) for i in range(len(first))))
    if kind is nn.Linear:
        return PackedLinear(modules)
    if kind is nn.Conv2d:
        return PackedConv2d(modules)
    if kind is nn.ConvTranspose2d:
        return PackedConvTranspose2d(modules)
    if kind is nn.Flatten and (first.start_dim, first.end_dim) == (1, -1):
        return PackedFlatten()
    if kind is nn.Unflatten and first.dim == 1:
        return PackedUnflatten(first.unflattened_size)
    if kind is _Heads:
        return _PackedHeads(modules)
    if kind is Discriminator:  # forward(z) = self.net(z): the same module with its net packed
        packed = copy.deepcopy(first)
        packed.net = pack_modules([m.net for m in modules])
        return packed
    if isinstance(first, _ELEMENTWISE):
        return copy.deepcopy(first)
    raise PackError(f"cannot pack a {kind.__name__} ({first}); only the layers the suite's architectures and FactorVAE's "
                    "discriminator use are packed: train this method unpacked")


class PackedVAE(nn.Module):
    """K VAEs of one architecture as one module; :meth:`forward` is :meth:`VAE.forward` with a pack dimension.

    Built from K solo VAEs (their weights are copied, stacked); ``member_state(self, k)`` gives model k's
    state dict with the solo keys and shapes.
    """

    def __init__(self, models: Sequence[VAE]):
        super().__init__()
        specs = [m.spec() for m in models]
        if any(s != specs[0] for s in specs):
            raise PackError(f"the models of a pack must have one architecture; got {specs}")
        self.k, self.model_spec = len(models), specs[0]
        self.observation_shape = tuple(models[0].observation_shape)
        self.encoder = pack_modules([m.encoder for m in models])
        self.decoder = pack_modules([m.decoder for m in models])

    def forward(self, images: torch.Tensor, noise: torch.Tensor) -> dict[str, torch.Tensor]:
        """Images ``(B, K, C, H, W)`` (model k's batch at ``[:, k]``), noise ``(K, B, D)``: the dict of
        :func:`benchmark.models.elbo_terms` with the pack first (``mu`` ``(K, B, D)``, ``recon`` ``(K,)``, …)."""
        h = self.encoder(images.flatten(1, 2), "grouped")
        mu, logvar = h.chunk(2, dim=-1)
        z = reparameterize(mu, logvar, noise)
        logits = self.decoder(z, "stacked")
        if self.decoder.out_layout == "grouped":
            logits = to_stacked(logits, self.k)
        logits = logits.reshape(self.k, images.shape[0], *self.observation_shape)
        return elbo_terms(mu, logvar, z, logits, images.transpose(0, 1))


# ---------------------------------------------------------------------------------------------- member views
def member_state(module: nn.Module, k: int) -> dict[str, torch.Tensor]:
    """Model k's state dict of a packed module: the solo keys, each tensor its slice (a copy)."""
    return {name: p.detach()[k].clone() for name, p in module.named_parameters()}


def load_member_state(module: nn.Module, k: int, state: Mapping[str, torch.Tensor]) -> None:
    """Put a solo state dict into slice k of a packed module (ValueError naming a missing or misshapen key)."""
    params = dict(module.named_parameters())
    if set(params) != set(state):
        raise ValueError(f"state dict keys differ from the model's: {sorted(set(params) ^ set(state))}")
    with torch.no_grad():
        for name, p in params.items():
            if tuple(state[name].shape) != tuple(p.shape[1:]):
                raise ValueError(f"{name}: shape {tuple(state[name].shape)} in the checkpoint, {tuple(p.shape[1:])} "
                                 "in the model")
            p[k].copy_(state[name])


def member_optimizer_state(optimizer: torch.optim.Optimizer, k: int) -> dict[str, Any]:
    """Model k's slice of a packed optimizer's state dict: what the solo optimizer's ``state_dict()`` would be
    (per-parameter tensors sliced, scalars such as Adam's ``step`` copied)."""
    sd = optimizer.state_dict()
    state = {i: {key: v[k].clone() if torch.is_tensor(v) and v.dim() > 0 else (v.clone() if torch.is_tensor(v) else v)
                 for key, v in s.items()} for i, s in sd["state"].items()}
    return {"state": state, "param_groups": copy.deepcopy(sd["param_groups"])}


def load_member_optimizer_states(optimizer: torch.optim.Optimizer, states: Sequence[Mapping[str, Any]]) -> None:
    """The solo optimizer states of the K members, stacked into a packed optimizer. Their scalar entries (Adam's
    ``step``) must agree: the members of a pack are at one step."""
    ids = [sorted(s["state"]) for s in states]
    if any(i != ids[0] for i in ids):
        raise ValueError("the members' optimizer states cover different parameters (not all at one step)")
    stacked: dict[Any, dict[str, Any]] = {}
    for i in ids[0]:
        entry = {}
        for key, v in states[0]["state"][i].items():
            values = [s["state"][i][key] for s in states]
            if torch.is_tensor(v) and v.dim() > 0:
                entry[key] = torch.stack(values)
            else:
                if any(not torch.equal(torch.as_tensor(x), torch.as_tensor(v)) for x in values):
                    raise ValueError(f"optimizer state {key!r} differs between members: the pack's members must be at one step")
                entry[key] = v
        stacked[i] = entry
    optimizer.load_state_dict({"state": stacked, "param_groups": copy.deepcopy(states[0]["param_groups"])})


def zero_member(module: nn.Module, optimizer: torch.optim.Optimizer, k: int) -> None:
    """Zero model k's weights and optimizer moments: a frozen member's slice stays finite (and, with its loss
    masked out, at zero) while the others train on."""
    with torch.no_grad():
        for p in module.parameters():
            p[k].zero_()
            for v in optimizer.state.get(p, {}).values():
                if torch.is_tensor(v) and v.dim() > 0:
                    v[k].zero_()


# ---------------------------------------------------------------------------------------------- batch streams
class DeviceGrid:
    """A dataset's whole uint8 grid resident on a device; ``rows(indices)`` gathers images ``(M, C, H, W)`` uint8.

    Datasets that keep their images bit-packed (dSprites: 512 bytes per image, ``np.packbits`` rows) stay packed
    there (360 MiB for dSprites) and are unpacked per batch on the device; others are stored as uint8 pixels.
    The pixels are exactly ``dataset.images_uint8``'s.
    """

    def __init__(self, dataset: GroundTruthDataset, device: torch.device, chunk: int = 8192):
        self.dataset, self.device = dataset, torch.device(device)
        self.shape = tuple(int(s) for s in dataset.observation_shape)
        n, pixels = len(dataset), int(np.prod(self.shape))
        packed = getattr(dataset, "_packed", None)  # dSprites' bit-packed rows (benchmark.datasets.dsprites)
        self.bits = isinstance(packed, np.ndarray) and packed.shape == (n, pixels // 8) and dataset.pixel_max == 1
        if self.bits:
            self.data = torch.from_numpy(np.ascontiguousarray(packed)).to(self.device)
            self._shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=self.device)
        else:
            self.data = torch.empty((n, *self.shape), dtype=torch.uint8, device=self.device)
            for start in range(0, n, chunk):
                idx = np.arange(start, min(n, start + chunk), dtype=np.int64)
                self.data[start : start + idx.size] = torch.from_numpy(np.ascontiguousarray(dataset.images_uint8(idx)))

    @property
    def nbytes(self) -> int:
        return self.data.numel()

    def rows(self, indices: torch.Tensor) -> torch.Tensor:
        rows = self.data.index_select(0, indices)
        if self.bits:
            rows = (rows.unsqueeze(-1) >> self._shifts).bitwise_and_(1).reshape(-1, *self.shape)
        return rows


_GRIDS: dict[tuple, DeviceGrid] = {}  # the last grid built, reused by the next pack of the process (Tune reuses actors)


def device_grid(dataset: GroundTruthDataset, device: torch.device) -> DeviceGrid:
    """The :class:`DeviceGrid` of ``dataset`` on ``device``, kept for the next pack on the same data."""
    key = (dataset.name, str(getattr(dataset, "path", "")), str(torch.device(device)))
    if key not in _GRIDS:
        _GRIDS.clear()
        _GRIDS[key] = DeviceGrid(dataset, device)
    return _GRIDS[key]


class PackBatchStream:
    """The K batch streams of a pack drawn as one: ``next()`` is a float32 tensor ``(B, K, C, H, W)`` whose
    ``[:, k]`` is exactly the batch model k's solo :class:`~benchmark.datasets.base.BatchStream` would draw.

    Indices come from each member's own numpy PCG64 generator (seeded like the solo stream); the pixels of all
    K·B of them are gathered at once: from a :class:`DeviceGrid` when given, else with one
    ``dataset.images_uint8`` call. ``state_dict()`` is the list of the members' solo stream states.
    """

    def __init__(self, dataset: GroundTruthDataset, batch_size: int, seeds: Sequence[Any], device: Any = "cpu",
                 grid: DeviceGrid | None = None):
        self.dataset, self.batch_size, self.grid = dataset, int(batch_size), grid
        self.device = torch.device(device)
        self._rngs = [np.random.Generator(np.random.PCG64(s)) for s in seeds]
        self._scale = 1.0 / dataset.pixel_max
        self.batches_drawn = 0
        self.last_indices: np.ndarray | None = None  # (K, B)

    def __iter__(self) -> "PackBatchStream":
        return self

    def __next__(self) -> torch.Tensor:
        n, k, b = len(self.dataset), len(self._rngs), self.batch_size
        indices = np.empty((b, k), dtype=np.int64)
        for j, rng in enumerate(self._rngs):
            indices[:, j] = rng.integers(0, n, size=b, dtype=np.int64)
        flat = torch.from_numpy(indices.reshape(-1))
        if self.grid is not None:
            if self.device.type == "cuda":  # pinned and asynchronous: the host never waits for the GPU here
                flat = flat.pin_memory()
            batch = self.grid.rows(flat.to(self.device, non_blocking=True))
        else:
            batch = torch.from_numpy(np.ascontiguousarray(self.dataset.images_uint8(indices.reshape(-1))))
            if self.device.type == "cuda":
                batch = batch.pin_memory()
            batch = batch.to(self.device, non_blocking=True)
        batch = batch.to(dtype=torch.float32).unflatten(0, (b, k))
        if self._scale != 1.0:
            batch.mul_(self._scale)
        self.batches_drawn += 1
        self.last_indices = indices.T
        return batch

    def state_dict(self) -> list[dict[str, Any]]:
        return [{"bit_generator": rng.bit_generator.state, "batches_drawn": self.batches_drawn,
                 "batch_size": self.batch_size, "dataset": self.dataset.name} for rng in self._rngs]

    def load_state_dict(self, states: Sequence[Mapping[str, Any]]) -> None:
        drawn = {int(s["batches_drawn"]) for s in states}
        for s in states:
            if s.get("batch_size") != self.batch_size or s.get("dataset") != self.dataset.name:
                raise ValueError(f"batch stream state is for dataset {s.get('dataset')!r} with batch size "
                                 f"{s.get('batch_size')}, not {self.dataset.name!r} with batch size {self.batch_size}")
        if len(states) != len(self._rngs) or len(drawn) != 1:
            raise ValueError(f"{len(states)} stream states at {sorted(drawn)} batches for a pack of {len(self._rngs)}")
        for rng, s in zip(self._rngs, states):
            rng.bit_generator.state = s["bit_generator"]
        self.batches_drawn = drawn.pop()


class StackedStreams:
    """The members' own ``dataset.batch_stream`` streams, stacked ``(B, K, C, H, W)``: for datasets that draw a
    nuisance per observation or bring a stream of their own (what :class:`PackBatchStream` cannot reproduce)."""

    def __init__(self, dataset: GroundTruthDataset, batch_size: int, seeds: Sequence[Any], device: Any = "cpu"):
        self.streams = [dataset.batch_stream(batch_size, s, device) for s in seeds]

    def __next__(self) -> torch.Tensor:
        return torch.stack([next(s) for s in self.streams], dim=1)

    def state_dict(self) -> list[dict[str, Any]]:
        return [s.state_dict() for s in self.streams]

    def load_state_dict(self, states: Sequence[Mapping[str, Any]]) -> None:
        for s, state in zip(self.streams, states, strict=True):
            s.load_state_dict(state)


DATA_PATHS = ("auto", "host", "device")


def pack_stream(dataset: GroundTruthDataset, batch_size: int, seeds: Sequence[Any], device: torch.device,
                data: str = "auto") -> PackBatchStream | StackedStreams:
    """The batch stream of a pack. ``data``: ``device`` serves batches from a :class:`DeviceGrid`, ``host`` fetches
    them on the host, ``auto`` is ``device`` on CUDA and ``host`` elsewhere. Datasets whose batches a grid cannot
    reproduce (a nuisance per observation, a stream of their own) always use their own streams."""
    if data not in DATA_PATHS:
        raise ValueError(f"data must be one of {', '.join(DATA_PATHS)}, got {data!r}")
    plain = not dataset.per_observation and type(dataset).batch_stream is GroundTruthDataset.batch_stream
    if not plain:
        if data == "device":
            raise PackError(f"dataset {dataset.name!r} draws its batches itself; its pack cannot use the device grid")
        return StackedStreams(dataset, batch_size, seeds, device)
    on_device = data == "device" or (data == "auto" and torch.device(device).type == "cuda")
    return PackBatchStream(dataset, batch_size, seeds, device, device_grid(dataset, device) if on_device else None)


# ---------------------------------------------------------------------------------------------- the pack session
@dataclasses.dataclass
class _Member:
    """One run of a pack: where it lives, its callbacks, and its state in the current phase."""

    index: int  # its position in train_pack's arguments
    config: TrainConfig
    run_dir: Path
    callbacks: tuple
    ckpt: dict | None = None
    log: Any = None  # its benchmark.training._TermLog in the current phase
    elapsed_before: float = 0.0
    frozen: bool = False
    error: dict | None = None


@dataclasses.dataclass
class _Group:
    """The members of one method in a pack: positions, hyperparameters and the method's auxiliary networks."""

    method: str
    positions: list[int]
    index: torch.Tensor | None  # None: every member of the pack (nothing to gather)
    hyper: Any  # packed objective: {name: float64 (K_g,)}; otherwise one kwargs dict per member
    live: torch.Tensor  # (K_g,) bool: False once a member is frozen
    auxiliary: nn.Module | None = None
    aux_optimizer: torch.optim.Optimizer | None = None
    aux_gens: list = dataclasses.field(default_factory=list)
    tensor_keys: tuple = ()


@dataclasses.dataclass
class _Pack:
    members: list[_Member]
    model: PackedVAE
    optimizer: torch.optim.Optimizer
    noise_gens: list
    stream: Any
    device: torch.device
    versions: dict
    groups: list[_Group]


def check_packable(configs: Sequence[TrainConfig]) -> None:
    """Raise :class:`PackError` unless ``configs`` can train as one pack: they share every field but
    :data:`~benchmark.config.PACK_MEMBER_FIELDS`, and each method's auxiliary network (if any) packs."""
    if not configs:
        raise PackError("a pack needs at least one config")
    keys = [pack_key(c) for c in configs]
    for i, key in enumerate(keys):
        if key != keys[0]:
            hyper = {*configs[0].hyperparameters, *configs[i].hyperparameters}
            diff = {k: v for k, v in configs[0].differing_fields(configs[i]).items() if k not in PACK_MEMBER_FIELDS and k not in hyper}
            fields = ", ".join(f"{k} ({a!r} vs {b!r})" for k, (a, b) in diff.items())
            raise PackError(f"pack member {i} differs from member 0 in {fields}; the members of a pack may differ only "
                            f"in {', '.join(PACK_MEMBER_FIELDS)}")
    for c in configs:
        if c.model in AUXILIARIES and c.model not in PACKED_OBJECTIVES:
            raise PackError(f"method {c.model!r} has an auxiliary network but its objective does not take a pack "
                            "(register_method(..., packs=True)); train it unpacked")


def _new_groups(members: Sequence[_Member], streams: Sequence[dict], device: torch.device, kernels: str) -> list[_Group]:
    groups = []
    for method in dict.fromkeys(m.config.model for m in members):
        pos = [i for i, m in enumerate(members) if m.config.model == method]
        packs = method in PACKED_OBJECTIVES
        hyper: Any = [objective_hyperparameters(members[i].config) for i in pos]
        if packs:
            hyper = {h: torch.tensor([float(d[h]) for d in hyper], dtype=torch.float64, device=device)
                     for h in METHODS[method].names}
        index = None if len(pos) == len(members) else torch.tensor(pos, device=device)
        g = _Group(method, pos, index, hyper, torch.ones(len(pos), dtype=torch.bool, device=device))
        spec = AUXILIARIES.get(method)
        if spec is not None:
            modules = [build_auxiliary(members[i].config, streams[i]["aux_init"]) for i in pos]
            g.auxiliary = set_kernels(pack_modules(modules), kernels).to(device)
            g.aux_optimizer = torch.optim.Adam(g.auxiliary.parameters(), lr=spec.lr, betas=spec.betas, eps=spec.eps)
            g.aux_gens = [torch.Generator(device=device).manual_seed(_seed_int(streams[i]["aux_noise"])) for i in pos]
        groups.append(g)
    return groups


def _resolve_kernels(kernels: str, device: torch.device) -> str:
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {', '.join(KERNELS)}, got {kernels!r}")
    return ("fused" if device.type == "cuda" else "loop") if kernels == "auto" else kernels


def _new_pack(members: Sequence[_Member], data: str, kernels: str) -> _Pack:
    config = members[0].config
    device = _t.resolve_device(config.device)
    kernels = _resolve_kernels(kernels, device)
    dataset = _t.open_dataset(config)
    streams = [_t._seed_streams(m.config.seed) for m in members]
    shape = tuple(dataset.observation_shape)
    model = PackedVAE([build_model(m.config, shape, seed=s["init"]) for m, s in zip(members, streams)])
    model = set_kernels(model, kernels).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(config.adam_beta1, config.adam_beta2),
                                 eps=config.adam_eps)
    noise_gens = [torch.Generator(device=device).manual_seed(_seed_int(s["noise"])) for s in streams]
    stream = pack_stream(dataset, config.batch_size, [s["data"] for s in streams], device, data)
    return _Pack(list(members), model, optimizer, noise_gens, stream, device, _t._versions(),
                 _new_groups(members, streams, device, kernels))


def _restore(p: _Pack) -> None:
    """Each member's checkpoint into its slice of the pack (the members of a phase are all at one step)."""
    if p.members[0].ckpt is None:
        return
    where = p.members[0].run_dir / CHECKPOINT_FILE
    try:
        for k, m in enumerate(p.members):
            where, ckpt = m.run_dir / CHECKPOINT_FILE, m.ckpt
            if ckpt["rng"].get("device_type") != p.device.type:
                written = ckpt["rng"].get("device_type")
                raise _t.CheckpointError(f"{where} was written on {written}; its random streams cannot continue on "
                                         f"{p.device.type}. Resume with --device {written}.")
            load_member_state(p.model, k, ckpt["model"])
            p.noise_gens[k].set_state(ckpt["rng"]["noise"].cpu())
            for g in p.groups:
                if g.auxiliary is not None and k in g.positions:
                    if "auxiliary" not in ckpt:
                        raise KeyError(f"no state of {g.method}'s auxiliary network")
                    load_member_state(g.auxiliary, g.positions.index(k), ckpt["auxiliary"]["model"])
                    g.aux_gens[g.positions.index(k)].set_state(ckpt["auxiliary"]["rng"].cpu())
        where = ", ".join(str(m.run_dir / CHECKPOINT_FILE) for m in p.members)
        load_member_optimizer_states(p.optimizer, [m.ckpt["optimizer"] for m in p.members])
        p.stream.load_state_dict([m.ckpt["data"] for m in p.members])
        for g in p.groups:
            if g.aux_optimizer is not None:
                states = [p.members[i].ckpt["auxiliary"]["optimizer"] for i in g.positions]
                load_member_optimizer_states(g.aux_optimizer, states)
    except (ValueError, RuntimeError, KeyError, TypeError) as e:
        raise _t.CheckpointError(f"{where}: cannot restore the training state into the pack: {e}") from e


def _member_checkpoint(p: _Pack, k: int, step: int, elapsed: float, data: Any) -> dict[str, Any]:
    m = p.members[k]
    auxiliary = None
    for g in p.groups:
        if g.auxiliary is not None and k in g.positions:
            j = g.positions.index(k)
            auxiliary = (member_state(g.auxiliary, j), member_optimizer_state(g.aux_optimizer, j), g.aux_gens[j].get_state())
    return _t.checkpoint_dict(m.config, step, p.model.model_spec, member_state(p.model, k),
                              member_optimizer_state(p.optimizer, k), p.noise_gens[k].get_state(), p.device.type,
                              data, m.elapsed_before + elapsed, m.log.last_terms, p.versions, auxiliary)


# ---------------------------------------------------------------------------------------------- one step
def _draw_noise(p: _Pack, batch_shape: tuple[int, int]) -> torch.Tensor:
    # Model k's ε from its own generator: noise[k] is exactly the torch.randn(batch_shape) its solo run draws.
    noise = torch.empty((len(p.members), *batch_shape), device=p.device)
    for k, g in enumerate(p.noise_gens):
        noise[k].normal_(generator=g)
    return noise


def _group_objective(g: _Group, out: Mapping[str, torch.Tensor], t: int) -> tuple[torch.Tensor, list, list[dict]]:
    """``(losses (K_g,), row parts, float extras per member)`` of one method's members at update ``t``."""
    terms = [out[key] if g.index is None else out[key].index_select(0, g.index) for key in ("recon", "kl", "mu", "logvar", "z")]
    objective, n = OBJECTIVES[g.method], len(g.positions)
    if isinstance(g.hyper, dict):  # the objective takes the pack at once
        extra_args = {} if g.auxiliary is None else {"auxiliary": g.auxiliary, "generator": g.aux_gens}
        loss, extras = objective(*terms, t, **g.hyper, **extra_args)
        floats = [{k: float(v) for k, v in extras.items() if not torch.is_tensor(v)}] * n
    else:  # once per model, on its slice
        results = [objective(*(x[j] for x in terms), t, **g.hyper[j]) for j in range(n)]
        loss = torch.stack([r[0] for r in results])
        keys = [k for k, v in results[0][1].items() if torch.is_tensor(v)]
        extras = {k: torch.stack([torch.as_tensor(r[1][k]) for r in results]) for k in keys}
        floats = [{k: float(v) for k, v in r[1].items() if k not in keys} for r in results]
    g.tensor_keys = tuple(k for k, v in extras.items() if torch.is_tensor(v))
    kl_per_latent = out["kl_per_latent"] if g.index is None else out["kl_per_latent"].index_select(0, g.index)
    parts = [loss, terms[0], terms[1], kl_per_latent, *(extras[k] for k in g.tensor_keys)]
    return loss, [parts, extras.get("auxiliary_loss")], floats


def _pack_step(p: _Pack, t: int, images: torch.Tensor, step_model: Any, autocast: Any) -> list[tuple[torch.Tensor, list]]:
    """One update of every member; returns each group's ``(row block (K_g, n) float64, float extras per member)``."""
    config = p.members[0].config
    noise = _draw_noise(p, (config.batch_size, config.num_latents))
    with autocast:
        out = step_model(images, noise=noise)
    vae_loss, aux_loss, rows = 0.0, None, []
    for g in p.groups:
        loss, (parts, auxiliary_loss), floats = _group_objective(g, out, t)
        vae_loss = vae_loss + torch.where(g.live, loss, 0.0).sum()
        if g.auxiliary is not None:
            masked = torch.where(g.live, auxiliary_loss, 0.0).sum()
            aux_loss = masked if aux_loss is None else aux_loss + masked
        n = len(g.positions)
        rows.append((torch.cat([x.detach().double().reshape(n, -1) for x in parts], dim=1), floats))
    if aux_loss is None:
        p.optimizer.zero_grad(set_to_none=True)
        vae_loss.backward()
        p.optimizer.step()
        return rows
    # As a solo FactorVAE step: the VAEs by their loss only, the discriminators by theirs only, one forward pass.
    vae_params = list(p.model.parameters())
    aux_params = [q for g in p.groups if g.auxiliary is not None for q in g.auxiliary.parameters()]
    grads = torch.autograd.grad(vae_loss, vae_params, retain_graph=True) + torch.autograd.grad(aux_loss, aux_params)
    for q, grad in zip(vae_params + aux_params, grads):
        q.grad = grad
    p.optimizer.step()
    for g in p.groups:
        if g.aux_optimizer is not None:
            g.aux_optimizer.step()
    return rows


class _PendingRows:
    """Each group's row blocks since the last drain, kept on the device (as a solo run's :class:`_TermLog` does)."""

    def __init__(self, groups: Sequence[_Group]):
        self.blocks: list[list[torch.Tensor]] = [[] for _ in groups]
        self.floats: list[list[list[dict]]] = [[] for _ in groups]

    def add(self, rows: Sequence[tuple[torch.Tensor, list]]) -> None:
        for gi, (block, floats) in enumerate(rows):
            self.blocks[gi].append(block)
            self.floats[gi].append(floats)

    def drain(self, p: _Pack) -> None:
        """Move the rows to the host and hand each member its own (the solo checks, logs and callbacks); a member
        whose loss became non-finite is frozen."""
        for gi, g in enumerate(p.groups):
            if not self.blocks[gi]:
                continue
            block = torch.stack(self.blocks[gi]).cpu().numpy()  # (steps, K_g, columns)
            for j, pos in enumerate(g.positions):
                m = p.members[pos]
                if m.frozen:
                    continue
                try:
                    m.log.consume(block[:, j], [f[j] for f in self.floats[gi]], g.tensor_keys)
                except _t.NonFiniteLossError as e:
                    _freeze(p, g, j, e)
            self.blocks[gi], self.floats[gi] = [], []


def _freeze(p: _Pack, g: _Group, j: int, error: _t.NonFiniteLossError) -> None:
    # The member's log rows before the step are flushed and its error.json written (by _TermLog, as solo);
    # here its slice stops training: weights and moments zeroed, its losses masked out from now on.
    k = g.positions[j]
    m = p.members[k]
    m.frozen, m.error = True, {"run_dir": str(m.run_dir), "error": str(error), "step": error.step}
    g.live[j] = False
    zero_member(p.model, p.optimizer, k)
    if g.auxiliary is not None:
        zero_member(g.auxiliary, g.aux_optimizer, j)


# ---------------------------------------------------------------------------------------------- the loop
def _run_pack_steps(p: _Pack, start: int, stop: int, bar: Any) -> None:
    """Updates ``start`` … ``stop − 1`` of every live member, with logs and checkpoints at their cadence (and at
    ``stop``)."""
    config = p.members[0].config
    step_model = torch.compile(p.model) if config.compile else p.model
    autocast = torch.autocast(p.device.type, dtype=torch.bfloat16, enabled=config.bf16)
    for g in p.groups:
        if g.auxiliary is not None:
            g.auxiliary.train()
    p.model.train()
    pending, t0 = _PendingRows(p.groups), time.perf_counter()
    for t in range(start, stop):
        pending.add(_pack_step(p, t, next(p.stream), step_model, autocast))
        step = t + 1
        at_checkpoint = step % config.checkpoint_every == 0 or step == stop
        if at_checkpoint or step % config.log_every == 0:
            pending.drain(p)
            if bar is not None:
                bar.update(step - bar.n)
        if at_checkpoint:
            _save_members(p, step, time.perf_counter() - t0)
        if all(m.frozen for m in p.members):
            return


def _save_members(p: _Pack, step: int, elapsed: float) -> None:
    """Every live member's log rows and checkpoint on disk, then their ``on_checkpoint`` callbacks."""
    live, data = [k for k, m in enumerate(p.members) if not m.frozen], p.stream.state_dict()
    for k in live:
        p.members[k].log.flush()
        _t._save_checkpoint(p.members[k].run_dir / CHECKPOINT_FILE, _member_checkpoint(p, k, step, elapsed, data[k]))
    for k in live:
        _t._call(p.members[k].callbacks, "on_checkpoint", step, str(p.members[k].run_dir))
    # A callback object that several members share hears once more, with every run directory saved at this step.
    shared = {id(cb): cb for k in live for cb in p.members[k].callbacks}
    _t._call(shared.values(), "on_pack_checkpoint", step, [str(p.members[k].run_dir) for k in live])


def _run_phase(members: list[_Member], stop: int, progress: bool | None, data: str, kernels: str) -> dict[int, dict]:
    """Train ``members`` (all at one step) as one pack up to ``stop``; the summaries of those that finished
    (``stop`` is the budget) or froze, by member index."""
    p = _new_pack(members, data, kernels)
    _restore(p)
    for m in members:
        if m.ckpt is not None:
            _t._warn_if_threads_differ(m.ckpt, p)
        start, m.elapsed_before, last_terms = _t._begin_run(m.config, m.run_dir, m.ckpt, p.versions)
        m.log = _t._TermLog(m.config, m.run_dir, start, last_terms, m.callbacks, None)
    config = members[0].config
    bar = _t._progress_bar(progress, stop, start, f"pack of {len(members)}")
    dataset_stream, t0 = p.stream, time.perf_counter()
    if stop > start and getattr(p.stream, "grid", None) is None and _t.prefetch_pays(p.device):
        p.stream = _t._Prefetcher(dataset_stream)  # host batches: fetched while the pack trains
    try:
        _run_pack_steps(p, start, stop, bar)
        if start == stop and any(not (m.run_dir / CHECKPOINT_FILE).exists() for m in members):
            _save_members(p, start, 0.0)  # a zero-step run still leaves its models
    finally:
        if p.stream is not dataset_stream:
            p.stream.close()
        if bar is not None:
            bar.close()
    session, out = time.perf_counter() - t0, {}
    for m in members:
        if m.frozen:
            out[m.index] = m.error
        elif stop == config.steps:
            out[m.index] = _t._finish_run(m.config, m.run_dir, start, m.ckpt is not None, m.log, m.elapsed_before,
                                          session, m.callbacks)
    return out


def _failed_summary(m: _Member) -> dict:
    try:
        error = json.loads((m.run_dir / _t.ERROR_FILE).read_text())
    except (OSError, ValueError):
        error = {}
    return {"run_dir": str(m.run_dir), "error": error.get("message", f"{_t.ERROR_FILE} present"), "step": error.get("step")}


def _train_pack_locked(members: list[_Member], progress: bool | None, extend: bool, data: str, kernels: str) -> list[dict]:
    summaries: dict[int, dict] = {}
    while True:
        live = []
        for m in members:
            if m.index in summaries:
                continue
            if (m.run_dir / _t.ERROR_FILE).exists():  # frozen before: out of the pack until error.json is removed
                summaries[m.index] = _failed_summary(m)
                continue
            m.ckpt, finished = _t._open_run(m.config, m.run_dir, extend)
            if finished is not None:
                _t._call(m.callbacks, "on_end", finished)
                summaries[m.index] = finished
            else:
                live.append(m)
        if not live:
            return [summaries[m.index] for m in members]
        at = sorted({int(m.ckpt["step"]) if m.ckpt is not None else 0 for m in live})
        behind = [m for m in live if (int(m.ckpt["step"]) if m.ckpt is not None else 0) == at[0]]
        # Members at different steps (a kill while a checkpoint step was being written): the ones behind catch up.
        summaries.update(_run_phase(behind, at[1] if len(at) > 1 else members[0].config.steps, progress, data, kernels))


def train_pack(
    configs: Sequence[TrainConfig | Mapping[str, Any]],
    run_dirs: Sequence[str | Path],
    callbacks: Sequence[Iterable[Any]] | None = None,
    progress: bool | None = None,
    extend: bool = False,
    data: str = "auto",
    kernels: str = "auto",
) -> list[dict[str, Any]]:
    """Train (or resume) the runs ``configs`` describe as one pack, run ``k`` in ``run_dirs[k]``.

    Each run directory ends as ``benchmark.training.train(configs[k], run_dirs[k])`` would leave it (module
    docstring; weights equal to float rounding). ``callbacks[k]``: the callbacks of member k, as ``train`` takes
    them; at each checkpoint step every member's checkpoint is on disk before any member's ``on_checkpoint``
    runs, and then each callback object gets ``on_pack_checkpoint(step, run_dirs)`` once, if it has one
    (``run_dirs``: the members saved at that step). An exception a callback raises stops the whole pack (the
    members' last checkpoints stay valid).
    ``data``: where batches are made (:func:`pack_stream`). ``kernels``: how the layers are computed
    (:data:`KERNELS`; ``auto``: fused on CUDA, loop, bit-identical to solo runs, elsewhere). ``extend``: as ``train``'s.

    Returns one summary per member, in order: ``train``'s summary, or for a member whose loss became non-finite
    (now or in an earlier run: its ``error.json``) ``{"run_dir", "error", "step"}``. Raises :class:`PackError` for
    configs that cannot pack, and what ``train`` raises for a run directory (mismatched config, bad checkpoint,
    another process holding it).
    """
    configs = [c if isinstance(c, TrainConfig) else TrainConfig.from_dict(c) for c in configs]
    check_packable(configs)
    run_dirs = [Path(d) for d in run_dirs]
    if len(run_dirs) != len(configs) or len({d.resolve() for d in run_dirs}) != len(run_dirs):
        raise PackError(f"a pack of {len(configs)} configs needs as many distinct run directories, got "
                        f"{[str(d) for d in run_dirs]}")
    callbacks = [tuple(cb) for cb in callbacks] if callbacks is not None else [()] * len(configs)
    members = [_Member(k, c, d, cb) for k, (c, d, cb) in enumerate(zip(configs, run_dirs, callbacks, strict=True))]
    with contextlib.ExitStack() as locks:
        for d in run_dirs:
            d.mkdir(parents=True, exist_ok=True)
            locks.enter_context(exclusive_lock(d, f"dbench train (a pack of {len(configs)})"))
        return _train_pack_locked(members, progress, extend, data, kernels)


# ---------------------------------------------------------------------------------------------- sizing a pack
def throughput_curve(config: TrainConfig, ks: Iterable[int], steps: int = 20, warmup: int = 3, data: str = "auto",
                     kernels: str = "auto", max_memory: float | None = None) -> list[dict[str, Any]]:
    """Training throughput of packs of ``config``'s model (members at seeds 0 … K−1) for each K in ``ks``, on
    ``config``'s device: ``steps`` timed updates after ``warmup`` (the device synchronised), nothing written.

    Each entry: ``k``, ``images_per_s`` (all K models counted), ``step_s``, ``peak_bytes`` (CUDA: the peak of
    allocated memory; None elsewhere). It stops at the first K that runs out of memory (entry ``oom``: True)
    or whose peak passes ``max_memory`` bytes.
    """
    device = _t.resolve_device(config.device)
    curve: list[dict[str, Any]] = []
    for k in ks:
        members = [_Member(i, config.replace(seed=i), Path("."), ()) for i in range(k)]
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        try:
            p = _new_pack(members, data, kernels)
            autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16)
            step_model = torch.compile(p.model) if config.compile else p.model
            for t in range(warmup + steps):
                if t == warmup:
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    t0 = time.perf_counter()
                _pack_step(p, t, next(p.stream), step_model, autocast)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        except torch.cuda.OutOfMemoryError:
            curve.append({"k": k, "oom": True})
            break
        seconds = (time.perf_counter() - t0) / steps
        peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
        curve.append({"k": k, "images_per_s": k * config.batch_size / seconds, "step_s": seconds, "peak_bytes": peak})
        del p
        if max_memory is not None and peak is not None and peak > max_memory:
            break
    return curve


def choose_models_per_trial(config: TrainConfig, max_k: int = 64, gpu_share: float = 1.0, memory_fraction: float = 0.8,
                            steps: int = 10) -> tuple[int, list[dict[str, Any]]]:
    """``(K, curve)`` for ``packing: {models_per_trial: auto}``: the smallest pack within 5 % of the best measured
    aggregate throughput (:func:`throughput_curve` over K = 1, 2, 4, … ``max_k``) whose peak memory fits
    ``memory_fraction`` of this trial's share (``gpu_share``) of the GPU. Without CUDA: ``(1, [])``."""
    device = _t.resolve_device(config.device)
    if device.type != "cuda":
        return 1, []
    budget = memory_fraction * gpu_share * torch.cuda.get_device_properties(device).total_memory
    ks = [2**i for i in range(int(np.log2(max_k)) + 1)]
    try:
        curve = throughput_curve(config, ks, steps=steps, max_memory=budget)
    finally:  # the caller (a sweep's driver) hands the GPU to its trials next
        _GRIDS.clear()
        torch.cuda.empty_cache()
    fits = [c for c in curve if not c.get("oom") and c["peak_bytes"] <= budget]
    if not fits:
        return 1, curve
    best = max(c["images_per_s"] for c in fits)
    return min(c["k"] for c in fits if c["images_per_s"] >= 0.95 * best), curve


__all__ = [
    "DATA_PATHS", "DeviceGrid", "KERNELS", "PackBatchStream", "PackError", "PackedConv2d", "PackedConvTranspose2d",
    "PackedLinear", "PackedSequential", "PackedVAE", "StackedStreams", "check_packable", "choose_models_per_trial",
    "device_grid", "load_member_optimizer_states", "load_member_state", "member_optimizer_state", "member_state",
    "pack_modules", "pack_stream", "set_kernels", "throughput_curve", "train_pack",
    "zero_member",
]
