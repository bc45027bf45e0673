"""VAE architectures and the objectives of the six methods of Locatello et al. 2019.

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
ones ``benchmark.config.METHODS[name]`` declares, passed by keyword. ``extras`` are scalars (floats or 0-d
tensors) logged beside the loss terms. The built-in objectives also take a pack of K models at once
(``benchmark.packing``): ``recon``, ``kl`` ``(K,)``, ``mu``, ``logvar``, ``z`` ``(K, B, D)``, each hyperparameter
a float64 tensor ``(K,)`` (one value per model), and return ``(K,)`` losses and extras; written once, they
compute the same numbers for a model alone and for model k of a pack (:data:`PACKED_OBJECTIVES`). A method with an auxiliary network (FactorVAE's discriminator,
:class:`Auxiliary`) also receives ``auxiliary=`` (the network) and ``generator=`` (its random stream) and
returns the loss that network minimises as ``extras["auxiliary_loss"]``. :func:`register_method` adds a
method (a user's plugin, docs/PLUGINS.md) exactly as the built-ins are added. The loss convention is the one
that keeps β comparable with the papers: the Bernoulli reconstruction term is the sigmoid cross-entropy
of the logits against the continuous pixel intensities, SUMMED over the pixels and channels of an image,
and KL(q(z|x) ‖ N(0, I)) is SUMMED over latents; both are then averaged over the batch.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark._gaussian import reparameterize
from benchmark.config import ARCHITECTURE_NAMES, METHODS, Method, TrainConfig, register
from benchmark.registry import Registry

IMAGE_SIZE = 64


# ---------------------------------------------------------------------------------------------- ELBO terms
def bernoulli_reconstruction(logits: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Per-image Bernoulli negative log-likelihood ``(B,)`` in nats (``(K, B)`` for a pack's ``(K, B, C, H, W)``).

    Sigmoid cross-entropy of ``logits`` against the continuous intensities ``images`` in [0, 1] (both
    ``(B, C, H, W)``), summed over channels and pixels — the disentanglement_lib convention. Computed in
    float32 whatever the autocast dtype of the logits.
    """
    per_pixel = F.binary_cross_entropy_with_logits(logits.float(), images.float(), reduction="none")
    return per_pixel.flatten(-3).sum(-1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) ‖ N(0, 1)) per image and latent, ``(B, D)`` in nats: ½(μ² + e^logvar − logvar − 1)."""
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu.square() + logvar.exp() - logvar - 1.0)


def capacity(step: int, c_max: Any, anneal_steps: Any) -> Any:
    """Burgess et al. 2018 capacity C(t) = min(C_max, C_max·t/T) in nats, t = updates done before this one.

    A float for numbers; for float64 tensors ``(K,)`` (a pack), the same double-precision arithmetic per model."""
    if isinstance(c_max, torch.Tensor):
        return torch.minimum(c_max, c_max * float(step) / anneal_steps)
    return min(float(c_max), float(c_max) * float(step) / float(anneal_steps))


def _weight(value: Any, like: torch.Tensor) -> Any:
    """A hyperparameter (or a value computed from them) as the factor of a loss term ``like``: a Python float
    as it is (torch rounds it to the term's dtype), a pack's float64 ``(K,)`` tensor rounded to the term's dtype
    in the same way, so model k of a pack multiplies by exactly the number its solo run does."""
    return value.to(like.dtype) if isinstance(value, torch.Tensor) else float(value)


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
    return recon + _weight(beta, kl) * kl, {}


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
    return recon + _weight(gamma, kl) * (kl - _weight(c, kl)).abs(), {"c": c}


def factor_vae(
    recon: torch.Tensor, kl: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, step: int, *,
    gamma: float, auxiliary: nn.Module, generator: torch.Generator,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """FactorVAE of Kim & Mnih 2018: ``loss = recon + KL + γ·TC``, TC ≈ mean(D(z)₀ − D(z)₁).

    "Disentangling by Factorizing", https://arxiv.org/abs/1802.05983, as disentanglement_lib computes it: the
    discriminator D (``auxiliary``) sees the sampled codes z and z̃, each latent dimension of z permuted
    independently within the same batch (:func:`shuffle_codes`, from ``generator``); its loss
    −(½·mean log p(real | z) + ½·mean log p(shuffled | z̃)) uses softmax probabilities clipped to
    [1e-6, 1 − 1e-6]; TC uses the unclipped logits. Returns ``(loss, {"tc", "auxiliary_loss"})``. In a pack,
    ``auxiliary`` is the packed discriminators and ``generator`` the K models' streams.
    """
    del mu, logvar, step
    z = z.float()
    logits = auxiliary(z)
    logits_shuffled = auxiliary(shuffle_codes(z.detach(), generator))
    tc = (logits[..., 0] - logits[..., 1]).mean(-1)
    p_real = F.softmax(logits, dim=-1).clamp(1e-6, 1 - 1e-6)[..., 0]
    p_shuffled = F.softmax(logits_shuffled, dim=-1).clamp(1e-6, 1 - 1e-6)[..., 1]
    discriminator_loss = -(0.5 * p_real.log().mean(-1) + 0.5 * p_shuffled.log().mean(-1))
    return recon + kl + _weight(gamma, tc) * tc, {"tc": tc.detach(), "auxiliary_loss": discriminator_loss}


def shuffle_codes(z: torch.Tensor, generator: torch.Generator | Sequence[torch.Generator]) -> torch.Tensor:
    """``z`` ``(B, D)`` with each column permuted independently (a uniform permutation each, from ``generator``).

    A pack's codes ``(K, B, D)`` with a sequence of K generators: model k's codes from its own generator."""
    if not isinstance(generator, torch.Generator):
        return torch.stack([shuffle_codes(zk, g) for zk, g in zip(z, generator, strict=True)])
    order = torch.rand(z.shape, generator=generator, device=z.device).argsort(dim=0)
    return z.gather(0, order)


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(logvar)) elementwise, the normalising log(2π) included."""
    return -0.5 * ((x - mean).square() * torch.exp(-logvar) + logvar + math.log(2 * math.pi))


def total_correlation(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Minibatch-weighted-sampling estimate of TC(q(z)) on a batch, as disentanglement_lib computes it.

    With log q(z_j | x_i) per dimension l, ``[j, i, l]``: mean over j of
    logsumexp_i Σ_l log q(z_jl | x_i) − Σ_l logsumexp_i log q(z_jl | x_i). The constants
    −log(B·N) of both terms are dropped there (they add (D − 1)·log(B·N), which does not change the gradient).
    """
    log_q = gaussian_log_density(z[..., :, None, :], mu[..., None, :, :], logvar[..., None, :, :])
    log_qz = log_q.sum(dim=-1).logsumexp(dim=-1)
    log_qz_product = log_q.logsumexp(dim=-2).sum(dim=-1)
    return (log_qz - log_qz_product).mean(-1)


def beta_tc_vae(
    recon: torch.Tensor, kl: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, step: int, *,
    beta: float,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """β-TCVAE of Chen et al. 2018 (α = γ = 1): ``loss = recon + KL + (β − 1)·TC`` (:func:`total_correlation`).

    "Isolating Sources of Disentanglement in VAEs", https://arxiv.org/abs/1802.04942. Returns ``(loss, {"tc"})``.
    """
    del step
    tc = total_correlation(z.float(), mu.float(), logvar.float())
    return recon + kl + _weight(beta - 1.0, tc) * tc, {"tc": tc.detach()}


def batch_covariance(x: torch.Tensor) -> torch.Tensor:
    """Biased covariance ``(D, D)`` of the rows of ``x`` ``(B, D)``: E[x xᵀ] − E[x] E[x]ᵀ (``(K, D, D)`` for a pack)."""
    mean = x.mean(dim=-2)
    return (x[..., :, :, None] * x[..., :, None, :]).mean(dim=-3) - mean[..., :, None] * mean[..., None, :]


def dip_penalty(cov: torch.Tensor, lambda_od: Any, lambda_d: Any) -> torch.Tensor:
    """λ_od·Σ_(i≠j) C_ij² + λ_d·Σ_i (C_ii − 1)²: how far ``cov`` is from the identity (per model of a pack)."""
    diagonal = cov.diagonal(dim1=-2, dim2=-1)
    off_diagonal = cov - torch.diag_embed(diagonal)
    return (_weight(lambda_od, cov) * off_diagonal.square().sum((-2, -1))
            + _weight(lambda_d, cov) * (diagonal - 1).square().sum(-1))


def _dip_vae(covariance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], name: str) -> Objective:
    def objective(
        recon: torch.Tensor, kl: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, step: int, *,
        lambda_od: float, lambda_d_factor: float,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        del z, step
        penalty = dip_penalty(covariance(mu.float(), logvar.float()), lambda_od, lambda_d_factor * lambda_od)
        return recon + kl + penalty, {"dip": penalty.detach()}

    objective.__name__ = objective.__qualname__ = name
    return objective


Objective = Callable[..., "tuple[torch.Tensor, dict[str, Any]]"]
#: DIP-VAE-I of Kumar et al. 2018 ("Variational Inference of Disentangled Latent Concepts from Unlabeled
#: Observations", https://openreview.net/forum?id=H1kG7GZAW, Eq. 6): the penalty on C = Cov[μ(x)] over the batch.
dip_vae_i = _dip_vae(lambda mu, logvar: batch_covariance(mu), "dip_vae_i")
#: DIP-VAE-II (Eq. 7): C = Cov[μ(x)] + E[diag exp(logvar(x))], the covariance of the sampled codes.
dip_vae_ii = _dip_vae(lambda mu, logvar: batch_covariance(mu) + torch.diag_embed(logvar.exp().mean(dim=-2)), "dip_vae_ii")


@dataclasses.dataclass(frozen=True)
class Auxiliary:
    """A network trained beside the VAE by its own loss and its own Adam (FactorVAE's discriminator).

    ``build(num_latents)`` makes it; its weights are then initialised from the run's seed like the VAE's. In
    each step the VAE is updated by the gradient of the objective's loss w.r.t. the VAE's weights only, the
    auxiliary network by the gradient of ``extras["auxiliary_loss"]`` w.r.t. its own weights only, both from
    the same forward pass (as the reference's grouped train ops do).
    """

    build: Callable[[int], nn.Module]
    lr: float
    betas: tuple[float, float]
    eps: float = 1e-8


class Discriminator(nn.Module):
    """FactorVAE's discriminator (Kim & Mnih 2018, Appendix A; disentanglement_lib ``fc_discriminator``):
    6 dense layers of 1000 units with leaky ReLU (slope 0.2, TensorFlow's default) → 2 logits."""

    def __init__(self, num_latents: int, width: int = 1000, depth: int = 6):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(num_latents if i == 0 else width, width), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(width, 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


OBJECTIVES: Registry = Registry("model (objective)")
#: The auxiliary network of each method that has one.
AUXILIARIES: dict[str, Auxiliary] = {}
#: The methods whose objective takes a whole pack at once (module docstring); a pack calls any other objective
#: once per model (``benchmark.packing``): the same numbers, more kernel launches.
PACKED_OBJECTIVES: set[str] = set()


def register_method(method: Method, objective: Objective, auxiliary: Auxiliary | None = None, *,
                    packs: bool = False) -> None:
    """Register a method: its declaration (``benchmark.config.METHODS``, read by the CLI, specs, run ids and
    reports), its objective and, where it has one, its auxiliary network with its optimizer.

    The objective must take every declared hyperparameter as a keyword argument (and ``auxiliary`` and
    ``generator`` when it has an auxiliary network); a mismatch is refused here, not at the first step.
    ``packs=True`` declares that the objective also computes a pack of models at once (the module docstring's
    shapes, :data:`PACKED_OBJECTIVES`).
    """
    params = inspect.signature(objective).parameters
    needed = list(method.names) + (["auxiliary", "generator"] if auxiliary is not None else [])
    missing = [n for n in needed if n not in params]
    if missing:
        raise ValueError(f"method {method.name!r}: its objective {objective.__name__} lacks keyword argument(s) "
                         f"{', '.join(missing)}; it must take (recon, kl, mu, logvar, z, step, *, {', '.join(needed)})")
    if method.name not in METHODS:
        register(method)
    elif METHODS[method.name] is not method:
        raise ValueError(f"model (method) {method.name!r} is registered twice")
    OBJECTIVES.register(method.name)(objective)
    if auxiliary is not None:
        AUXILIARIES[method.name] = auxiliary
    if packs:
        PACKED_OBJECTIVES.add(method.name)


# The built-in methods' declarations live in benchmark.config (the torch-free layers read them).
for _objective in (beta_vae, annealed_vae, factor_vae, beta_tc_vae, dip_vae_i, dip_vae_ii):
    register_method(METHODS[_objective.__name__], _objective,
                    Auxiliary(Discriminator, lr=1e-4, betas=(0.5, 0.9)) if _objective is factor_vae else None, packs=True)


def objective_hyperparameters(config: TrainConfig) -> dict[str, Any]:
    """The keyword arguments ``OBJECTIVES[config.model]`` takes: its hyperparameters' values from ``config``."""
    return dict(config.hyperparameters)


# ---------------------------------------------------------------------------------------------- the VAE
def elbo_terms(mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, logits: torch.Tensor,
               images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The dict :meth:`VAE.forward` returns, from codes ``(B, D)`` and logits and images ``(B, C, H, W)``; with a
    leading pack dimension K (``benchmark.packing``) every entry gains it: ``recon`` ``(K,)``, ``kl_per_latent``
    ``(K, D)``, ``kl`` ``(K,)``."""
    kl_per_latent = gaussian_kl(mu, logvar).mean(-2)
    return {
        "mu": mu,
        "logvar": logvar,
        "z": z,
        "logits": logits,
        "recon": bernoulli_reconstruction(logits, images).mean(-1),
        "kl_per_latent": kl_per_latent,
        "kl": kl_per_latent.sum(-1),
    }


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
        tf_default_init(self, generator)

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
        return elbo_terms(mu, logvar, z, self.decode(z), images)

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


# ---------------------------------------------------------------------------------------------- building
def tf_default_init(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """TensorFlow-default initialisation: Glorot-uniform weights, zero biases, drawn from ``generator``."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight, generator=generator)
            nn.init.zeros_(m.bias)


def build_auxiliary(config: TrainConfig, seed: int | np.random.SeedSequence) -> nn.Module | None:
    """The auxiliary network of ``config.model`` (None for a method without one), initialised from ``seed``."""
    auxiliary = AUXILIARIES.get(config.model)
    if auxiliary is None:
        return None
    with torch.random.fork_rng(devices=[]):
        module = auxiliary.build(config.num_latents)
    tf_default_init(module, torch.Generator().manual_seed(_seed_int(seed)))
    return module


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
    "AUXILIARIES", "Auxiliary", "Discriminator", "MODELS", "OBJECTIVES", "PACKED_OBJECTIVES", "ConvVAE", "MLPVAE", "VAE", "annealed_vae",
    "bernoulli_reconstruction", "beta_tc_vae", "elbo_terms", "beta_vae", "build_auxiliary", "build_model", "dip_vae_i",
    "dip_vae_ii", "factor_vae", "register_method", "shuffle_codes", "total_correlation",
    "objective_hyperparameters", "build_model_from_spec", "capacity", "gaussian_kl", "observation_shape_of",
    "parameter_count",
]
