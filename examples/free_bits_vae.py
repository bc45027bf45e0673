"""A method of your own in one file: a β-VAE with free bits (Kingma et al. 2016, https://arxiv.org/abs/1606.04934).

Each latent's KL counts only above `free_bits` nats. Load it with `--plugin examples/free_bits_vae.py` on any
dbench subcommand, or `plugins: [free_bits_vae.py]` in a sweep spec; then `--model free_bits_vae` trains it.
"""

from benchmark.config import Hyperparameter, Method
from benchmark.models import gaussian_kl, register_method

METHOD = Method(
    "free_bits_vae", "recon + β·Σ_d max(λ, KL_d)",
    (
        Hyperparameter("beta", 1.0, "weight of the KL term", label=r"$\beta$", text="β", bounds={"ge": 0}),
        Hyperparameter("free_bits", 0.5, "KL nats per latent left unpenalised", grid=(0.25, 0.5, 1.0),
                       label=r"$\lambda$", text="λ", bounds={"ge": 0}),
    ),
    study_axis="free_bits",  # the hyperparameter reports put on their x axis
)


def free_bits_vae(recon, kl, mu, logvar, z, step, *, beta, free_bits):
    """recon and kl are batch means of per-image sums; mu, logvar, z are (B, D); step counts updates done."""
    per_latent = gaussian_kl(mu, logvar).mean(dim=0)  # (D,): each latent's batch-mean KL
    penalised = per_latent.clamp(min=free_bits).sum()
    return recon + beta * penalised, {"kl_penalised": penalised.detach()}  # extras are logged with the loss


register_method(METHOD, free_bits_vae)
