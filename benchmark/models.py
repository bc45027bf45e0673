"""VAE architectures and the objectives of the β-VAE family.

Architectures (registry :data:`MODELS`, ``TrainConfig.architecture``):

- ``conv`` — the convolutional encoder/decoder of Locatello et al. 2019 (disentanglement_lib
  ``conv_encoder``/``deconv_decoder``; https://arxiv.org/abs/1811.12359). Encoder: conv 32@4×4 s2,
  32@4×4 s2, 64@2×2 s2, 64@2×2 s2 (ReLU, TF "same" padding, 64→32→16→8→4), dense 256 ReLU, two linear
  heads (mean, log-variance). Decoder: dense 256 ReLU, dense 1024 ReLU, reshape to 64×4×4, transposed
  conv 64, 32, 32 @4×4 s2 ReLU and C@4×4 s2 linear → C×64×64 logits. 690,517 parameters for C = 1 and
  10 latents.
- ``mlp`` — the fully connected networks Higgins et al. 2017 used on dSprites ("β-VAE: Learning Basic
  Visual Concepts with a Constrained Variational Framework", ICLR, https://openreview.net/forum?id=Sy2fzU9gl):
  encoder 1200-1200 ReLU, decoder 1200-1200-1200 tanh → C·4096 logits.

Weights are initialised like TensorFlow's layer defaults, which the reference code used: Glorot-uniform
kernels, zero biases — from a ``torch.Generator`` so the initial weights depend only on the run's seed.

Objectives (registry :data:`OBJECTIVES`, ``TrainConfig.model``) are small functions
``objective(recon, kl, mu, logvar, z, step, **hyperparameters) -> (loss, extras)``; the hyperparameters are the
TrainConfig fields ``benchmark.config.METHODS[name].hyperparameters`` names, passed by keyword. The loss convention is the one
that keeps β comparable with the papers: the Bernoulli reconstruction term is the sigmoid cross-entropy
of the logits against the continuous pixel intensities, SUMMED over the pixels and channels of an image,
and KL(q(z|x) ‖ N(0, I)) is SUMMED over latents; both are then averaged over the batch.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark._gaussian import reparameterize
from benchmark.config import ARCHITECTURE_NAMES, METHODS, TrainConfig
from benchmark.registry import Registry

IMAGE_SIZE = 64


# ---------------------------------------------------------------------------------------------- ELBO terms
def bernoulli_reconstruction(logits: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Per-image Bernoulli negative log-likelihood ``(B,)`` in nats.

    Sigmoid cross-entropy of ``logits`` against the continuous intensities ``images`` in [0, 1] (both
    ``(B, C, H, W)``), summed over channels and pixels — the disentanglement_lib convention. Computed in
    float32 whatever the autocast dtype of the logits.
    """
    per_pixel = F.binary_cross_entropy_with_logits(logits.float(), images.float(), reduction="none")
    return per_pixel.flatten(1).sum(1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) ‖ N(0, 1)) per image and latent, ``(B, D)`` in nats: ½(μ² + e^logvar − logvar − 1)."""
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu.square() + logvar.exp() - logvar - 1.0)


def capacity(step: int, c_max: float, anneal_steps: int) -> float:
    """Burgess et al. 2018 capacity C(t) = min(C_max, C_max·t/T) in nats, t = updates done before this one."""
    return min(float(c_max), float(c_max) * float(step) / float(anneal_steps))


# ---------------------------------------------------------------------------------------------- objectives
def beta_vae(
    recon: torch.Tensor, kl: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, step: int, *,
    beta: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """β-VAE of Higgins et al. 2017 ("β-VAE_H"): ``loss = recon + β·KL``; β = 1 is the VAE of Kingma & Welling.

    ``recon`` and ``kl`` are batch means of the per-image sums (module docstring).
    Returns ``(loss, {})``. Paper: https://openreview.net/forum?id=Sy2fzU9gl
    """
    del mu, logvar, z, step
    return recon + float(beta) * kl, {}


def annealed_vae(
    recon: torch.Tensor, kl: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, step: int, *,
    gamma: float, c_max: float, c_anneal_steps: int,
) -> tuple[torch.Tensor, dict[str, float]]:
    """AnnealedVAE of Burgess et al. 2018 ("β-VAE_B"): ``loss = recon + γ·|KL − C(t)|``, C(t) = min(C_max, C_max·t/T).

    "Understanding disentangling in β-VAE", https://arxiv.org/abs/1804.03599. ``step`` is t, the number of
    updates done before this one (C(0) = 0, as with TensorFlow's global step); T is ``c_anneal_steps``.
    Returns ``(loss, {"c": C(t)})``.
    """
    del mu, logvar, z
    c = capacity(step, c_max, c_anneal_steps)
    return recon + float(gamma) * (kl - c).abs(), {"c": c}


Objective = Callable[..., "tuple[torch.Tensor, dict[str, float]]"]
OBJECTIVES: Registry = Registry("model (objective)", {"beta_vae": beta_vae, "annealed_vae": annealed_vae})


def objective_hyperparameters(config: TrainConfig) -> dict[str, Any]:
    """The keyword arguments ``OBJECTIVES[config.model]`` takes: its hyperparameters' values from ``config``."""
    return {name: getattr(config, name) for name in METHODS[config.model].hyperparameters}


# ---------------------------------------------------------------------------------------------- the VAE
class VAE(nn.Module):
    """Gaussian encoder, Bernoulli decoder. Subclasses build ``self.encoder`` (images → 2·D) and ``self.decoder`` (D → logits).

    Images are float ``(N, C, 64, 64)`` in [0, 1]; codes are ``(N, D)``.
    """

    architecture: str = ""

    def __init__(self, channels: int = 1, num_latents: int = 10):
        super().__init__()
        if channels < 1 or num_latents < 1:
            raise ValueError(f"channels and num_latents must be >= 1, got {channels} and {num_latents}")
        self.channels = int(channels)
        self.num_latents = int(num_latents)
        self.observation_shape = (self.channels, IMAGE_SIZE, IMAGE_SIZE)

    # -- construction helpers
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """TensorFlow-default initialisation: Glorot-uniform weights, zero biases, drawn from ``generator``."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(module.weight, generator=generator)
                nn.init.zeros_(module.bias)

    def spec(self) -> dict[str, Any]:
        """What :func:`build_model_from_spec` needs to rebuild this module (stored in checkpoints)."""
        return {"architecture": self.architecture, "channels": self.channels, "num_latents": self.num_latents}

    # -- the model
    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each ``(N, D)``, of q(z|x) for images ``(N, C, 64, 64)``."""
        h = self.encoder(images)
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits ``(N, C, 64, 64)`` of p(x|z) for codes ``(N, D)``."""
        return self.decoder(z).reshape(z.shape[0], *self.observation_shape)

    reparameterize = staticmethod(reparameterize)

    def forward(
        self, images: torch.Tensor, noise: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """One ELBO evaluation on a batch.

        Returns ``mu``, ``logvar``, ``z`` ``(B, D)``, ``logits`` ``(B, C, 64, 64)``, ``recon`` (scalar, batch mean
        of the per-image summed Bernoulli NLL), ``kl_per_latent`` ``(D,)`` (batch mean of each latent's KL)
        and ``kl`` (scalar, their sum). ε is ``noise`` ``(B, D)`` when given (the training loop draws it outside,
        which keeps this function free of RNG for ``torch.compile``), else drawn from ``generator``.
        """
        mu, logvar = self.encode(images)
        if noise is None:
            noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=torch.float32)
        z = self.reparameterize(mu, logvar, noise)
        logits = self.decode(z)
        recon = bernoulli_reconstruction(logits, images).mean()
        kl_per_latent = gaussian_kl(mu, logvar).mean(0)
        return {
            "mu": mu,
            "logvar": logvar,
            "z": z,
            "logits": logits,
            "recon": recon,
            "kl_per_latent": kl_per_latent,
            "kl": kl_per_latent.sum(),
        }

    # -- what the metrics consume
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _as_images(self, images: Any) -> torch.Tensor:
        tensor = torch.as_tensor(images) if not isinstance(images, torch.Tensor) else images
        if tensor.ndim != 4 or tuple(tensor.shape[1:]) != self.observation_shape:
            raise ValueError(
                f"images must have shape (N, {', '.join(map(str, self.observation_shape))}) (channels first), "
                f"got {tuple(tensor.shape)}"
            )
        if not tensor.is_floating_point():
            raise ValueError(f"images must be float intensities in [0, 1], got dtype {tensor.dtype}; divide uint8 pixels by their maximum")
        return tensor

    @torch.no_grad()
    def representation(
        self, images: Any, kind: str = "mean", generator: torch.Generator | np.random.Generator | None = None, batch_size: int = 256
    ) -> np.ndarray:
        """Codes ``(N, D)`` float32 numpy for images ``(N, C, 64, 64)`` (numpy or tensor, float in [0, 1]).

        ``kind="mean"``: the posterior means μ(x), the protocol's default representation.
        ``kind="sampled"``: one z ~ q(z|x) per image; ε comes from ``generator`` — a ``numpy.random.Generator``
        (device-independent numbers) or a ``torch.Generator`` on the model's device; None uses torch's global RNG.
        Runs in eval mode without gradients, ``batch_size`` images at a time; the module's mode is restored.
        """
        if kind not in ("mean", "sampled"):
            raise ValueError(f"kind must be 'mean' or 'sampled', got {kind!r}")
        tensor = self._as_images(images)
        device = self.device
        was_training = self.training
        self.eval()
        try:
            out = np.empty((tensor.shape[0], self.num_latents), dtype=np.float32)
            for start in range(0, tensor.shape[0], batch_size):
                batch = tensor[start : start + batch_size].to(device=device, dtype=torch.float32)
                mu, logvar = self.encode(batch)
                if kind == "sampled":
                    if isinstance(generator, np.random.Generator):
                        noise = torch.from_numpy(generator.standard_normal(mu.shape, dtype=np.float32)).to(device)
                    else:
                        noise = torch.randn(mu.shape, generator=generator, device=device, dtype=mu.dtype)
                    mu = self.reparameterize(mu, logvar, noise)
                out[start : start + batch.shape[0]] = mu.float().cpu().numpy()
            return out
        finally:
            self.train(was_training)


class ConvVAE(VAE):
    """The convolutional VAE of Locatello et al. 2019 (disentanglement_lib conv_encoder / deconv_decoder)."""

    architecture = "conv"

    def __init__(self, channels: int = 1, num_latents: int = 10):
        super().__init__(channels, num_latents)
        # TF "same" padding with stride 2: a 4×4 kernel pads one pixel each side, a 2×2 kernel none.
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, 32, 4, stride=2, padding=1), nn.ReLU(),  # 64 → 32
            nn.Conv2d(32, 32, 4, stride=2, padding=1), nn.ReLU(),  # 32 → 16
            nn.Conv2d(32, 64, 2, stride=2), nn.ReLU(),  # 16 → 8
            nn.Conv2d(64, 64, 2, stride=2), nn.ReLU(),  # 8 → 4
            nn.Flatten(),
            nn.Linear(1024, 256), nn.ReLU(),
            _Heads(256, num_latents),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(num_latents, 256), nn.ReLU(),
            nn.Linear(256, 1024), nn.ReLU(),
            nn.Unflatten(1, (64, 4, 4)),
            nn.ConvTranspose2d(64, 64, 4, stride=2, padding=1), nn.ReLU(),  # 4 → 8
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),  # 8 → 16
            nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1), nn.ReLU(),  # 16 → 32
            nn.ConvTranspose2d(32, channels, 4, stride=2, padding=1),  # 32 → 64, logits
        )  # fmt: skip


class MLPVAE(VAE):
    """The fully connected VAE Higgins et al. 2017 used on dSprites: 1200-1200 ReLU encoder, 1200×3 tanh decoder."""

    architecture = "mlp"

    def __init__(self, channels: int = 1, num_latents: int = 10):
        super().__init__(channels, num_latents)
        pixels = channels * IMAGE_SIZE * IMAGE_SIZE
        self.encoder = nn.Sequential(
            nn.Flatten(),
            nn.Linear(pixels, 1200), nn.ReLU(),
            nn.Linear(1200, 1200), nn.ReLU(),
            _Heads(1200, num_latents),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(num_latents, 1200), nn.Tanh(),
            nn.Linear(1200, 1200), nn.Tanh(),
            nn.Linear(1200, 1200), nn.Tanh(),
            nn.Linear(1200, pixels),
        )  # fmt: skip


class _Heads(nn.Module):
    """Two separate linear heads (mean and log-variance) as in the reference code, concatenated to ``(B, 2D)``."""

    def __init__(self, width: int, num_latents: int):
        super().__init__()
        self.mean = nn.Linear(width, num_latents)
        self.logvar = nn.Linear(width, num_latents)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.mean(h), self.logvar(h)], dim=1)


MODELS: Registry = Registry("architecture", {"conv": ConvVAE, "mlp": MLPVAE})

assert tuple(sorted(MODELS)) == tuple(sorted(ARCHITECTURE_NAMES)), "config.ARCHITECTURE_NAMES out of sync with MODELS"
assert tuple(sorted(OBJECTIVES)) == tuple(sorted(METHODS)), "config.METHODS out of sync with OBJECTIVES"


# ---------------------------------------------------------------------------------------------- building
def build_model_from_spec(spec: Mapping[str, Any], seed: int | np.random.SeedSequence | None = None) -> VAE:
    """A VAE from ``{"architecture", "channels", "num_latents"}``; weights from ``seed`` (None: torch's global RNG)."""
    cls = MODELS[spec["architecture"]]
    # Build under a forked global RNG: the default init the constructors run must not disturb the caller's
    # global stream; the real initial weights come from the seeded generator below.
    with torch.random.fork_rng(devices=[]):
        model = cls(channels=int(spec["channels"]), num_latents=int(spec["num_latents"]))
    generator = None
    if seed is not None:
        generator = torch.Generator().manual_seed(_seed_int(seed))
    model.reset_parameters(generator)
    return model


def observation_shape_of(dataset_name: str, path: Any = None) -> tuple[int, int, int]:
    """``(C, H, W)`` of a registered dataset's images (the dataset object is created for it)."""
    import benchmark.datasets as datasets

    return tuple(int(s) for s in datasets.get(dataset_name, path=path).observation_shape)  # type: ignore[return-value]


def build_model(config: TrainConfig, observation_shape: tuple[int, int, int] | None = None, seed: Any = None) -> VAE:
    """The VAE ``config`` describes: ``config.architecture`` with ``config.num_latents`` latents.

    Channels follow the dataset (1 for dSprites, 3 for 3D Shapes): from ``observation_shape`` when given,
    else from ``config.dataset``. Images must be 64×64. ``seed`` (int or SeedSequence) makes the initial
    weights reproducible; the training loop passes a child of ``config.seed``.
    """
    if observation_shape is None:
        observation_shape = observation_shape_of(config.dataset, config.dataset_path)
    channels, height, width = observation_shape
    if (height, width) != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"dataset {config.dataset!r} has {height}×{width} images; the models take 64×64")
    spec = {"architecture": config.architecture, "channels": channels, "num_latents": config.num_latents}
    return build_model_from_spec(spec, seed)


def _seed_int(seed: int | np.random.SeedSequence) -> int:
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(1, dtype=np.uint64)[0]) & (2**63 - 1)
    return int(seed)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "MODELS", "OBJECTIVES", "ConvVAE", "MLPVAE", "VAE", "annealed_vae", "bernoulli_reconstruction", "beta_vae",
    "build_model", "objective_hyperparameters", "build_model_from_spec", "capacity", "gaussian_kl",
    "observation_shape_of", "parameter_count",
]
