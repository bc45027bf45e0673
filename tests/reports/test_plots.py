import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from benchmark import views
from benchmark.reports import load_results, runs_table
from benchmark.reports import plots as P


@pytest.fixture
def runs(grid_results):
    return runs_table(load_results(grid_results))


def _visible(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_metric_by_setting_panels_boxes_and_every_seed(runs):
    fig = P.plot_metric_by_setting(runs, "mig")
    assert isinstance(fig, Figure)
    axes = _visible(fig)
    assert [ax.get_title() for ax in axes] == ["beta_vae", "annealed_vae"]  # the registry's order
    assert [ax.get_xlabel() for ax in axes] == ["β", "C_max"]
    assert [ax.get_ylabel() for ax in axes] == ["MIG ↑", ""]  # one shared y axis
    assert fig.get_suptitle() == "MIG ↑ · dsprites_procedural"
    beta = axes[0]
    assert [t.get_text() for t in beta.get_xticklabels()] == ["1", "4"]
    points = beta.collections[-1]
    assert sorted(points.get_offsets()[:, 1]) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])  # every seed drawn
    assert {tuple(np.round(c[:3], 3)) for c in points.get_facecolors()} == {tuple(np.round(to_rgb(P.method_colour("beta_vae")), 3))}
    fig2 = P.plot_metric_by_setting(runs, "reconstruction.bernoulli_nll", width=P.TWO_COLUMNS)
    assert _visible(fig2)[0].get_ylabel() == "Recon. NLL ↓"
    assert tuple(fig2.get_size_inches()) [0] == pytest.approx(7.0)
    with pytest.raises(ValueError, match="not in the results"):
        P.plot_metric_by_setting(runs, "dci.disentanglement")


def test_tradeoff_axes_method_colours_and_shades(runs):
    fig = P.plot_tradeoff(runs, ["mig"])
    (ax,) = _visible(fig)
    assert ax.get_xlabel() == "Recon. NLL ↓" and ax.get_ylabel() == "MIG ↑"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["beta_vae", "annealed_vae"]
    handle_colours = [to_rgb(h.get_color()) for h in fig.legends[0].legend_handles]
    assert handle_colours == [to_rgb(P.method_colour("beta_vae")), to_rgb(P.method_colour("annealed_vae"))]
    colours = {tuple(np.round(fc[:3], 3)) for c in ax.collections for fc in c.get_facecolors()}
    # two settings per method: a light tint and the method's own colour
    assert colours == {tuple(np.round(P.setting_shade(m, i, 2), 3)) for m in ("beta_vae", "annealed_vae") for i in (0, 1)}
    assert P.setting_shade("beta_vae", 1, 2) == pytest.approx(to_rgb(P.method_colour("beta_vae")))
    n_points = sum(len(c.get_offsets()) for c in ax.collections)
    assert n_points == 9  # runs with both mig and reconstruction: 3 + 2 + 1 + 3


def test_method_colours_are_distinct_and_stable():
    from benchmark.config import METHODS

    colours = [P.method_colour(m) for m in METHODS]
    assert len(set(colours)) == len(colours) == 6
    assert P.method_colour("beta_vae") == P.PALETTE[0] and P.method_colour("my_plugin") not in colours[:1]


def test_rank_correlation_matrix_and_figure(runs):
    corr = P.rank_correlation(runs, ["mig", "reconstruction.bernoulli_nll", "reconstruction.mse"])
    # nll and mse are the same ranking here (mse = nll / 1000)
    assert corr.loc["reconstruction.bernoulli_nll", "reconstruction.mse"] == pytest.approx(1.0)
    assert np.allclose(np.diag(corr.to_numpy()), 1.0)
    fig = P.plot_rank_correlation(runs, ["mig", "reconstruction.bernoulli_nll", "reconstruction.mse"])
    ax = fig.axes[0]
    assert ax.get_title() == "dsprites_procedural (11 models)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["MIG", "Recon. NLL", "Recon. MSE"]
    assert "100" in [t.get_text() for t in ax.texts]  # the values ×100 in the cells


class TinyVAE(torch.nn.Module):
    """Encoder: mean = first 3 pixels scaled, log-variance fixed so dim 1 has the largest KL."""

    def __init__(self):
        super().__init__()
        self.dec = torch.nn.Linear(3, 1 * 64 * 64)
        torch.nn.init.zeros_(self.dec.weight)
        torch.nn.init.zeros_(self.dec.bias)
        with torch.no_grad():
            self.dec.weight[:, 0] = 1.0

    def encode(self, x):
        mu = x.flatten(1)[:, :3] * torch.tensor([0.1, 3.0, 1.0])
        return mu, torch.zeros_like(mu)

    def decode(self, z):
        return self.dec(z).reshape(-1, 1, 64, 64)


def test_latent_traversal_rows_sorted_by_kl_columns_minus2_to_2():
    images = torch.full((4, 1, 64, 64), 0.5)
    traversals, values, kl, dims = views.latent_traversals(TinyVAE(), images)
    assert traversals.shape == (3, 9, 1, 64, 64) and list(dims) == [1, 2, 0]
    assert kl == pytest.approx([1.125, 0.125, 0.00125], rel=1e-4)  # KL = mu²/2 (float32), in row order
    fig = P.plot_latent_traversal(traversals, values, kl=kl, dims=dims)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * 9
    row_labels = [fig.axes[r * 9].get_ylabel().split("\n")[0] for r in range(3)]
    assert row_labels == ["z1", "z2", "z0"]  # KL = mu²/2: 1.125, 0.125, 0.00125
    assert fig.axes[0].get_ylabel() == "z1\nKL 1.12"
    assert [fig.axes[c].get_title() for c in (0, 4, 8)] == ["-2.0", "+0.0", "+2.0"]
    # dim 0 drives the decoder: its row goes from dark (z0 = -2) to bright (z0 = +2)
    row_z0 = [fig.axes[2 * 9 + c].get_images()[0].get_array() for c in (0, 8)]
    assert row_z0[0].mean() == pytest.approx(1 / (1 + np.exp(2.0)), abs=1e-5)
    assert row_z0[1].mean() == pytest.approx(1 / (1 + np.exp(-2.0)), abs=1e-5)


def test_latent_traversal_of_given_arrays():
    traversals = np.random.default_rng(0).uniform(size=(3, 3, 1, 64, 64))
    fig = P.plot_latent_traversal(traversals, [-2, 0, 2], dims=[2, 0, 1])
    assert len(fig.axes) == 9
    assert [fig.axes[r * 3].get_ylabel() for r in range(3)] == ["z2", "z0", "z1"]  # no KL given: names only
    np.testing.assert_allclose(fig.axes[5].get_images()[0].get_array(), traversals[1, 2, 0], atol=1e-6)
    assert [ax.get_ylabel() for ax in P.plot_latent_traversal(traversals, [-2, 0, 2]).axes[::3]] == ["z0", "z1", "z2"]
    with pytest.raises(ValueError, match="shape"):
        P.plot_latent_traversal(traversals[0], [-2, 0, 2])
    with pytest.raises(ValueError, match="one entry per row"):
        P.plot_latent_traversal(traversals, [-2, 0, 2], kl=[0.1, 0.2])


def test_reconstructions_pairs():
    images = np.random.default_rng(0).uniform(size=(5, 1, 64, 64)).astype(np.float32)
    recon = views.reconstructions(TinyVAE(), images[:4])
    with torch.no_grad():
        expected = torch.sigmoid(TinyVAE().decode(TinyVAE().encode(torch.from_numpy(images[:4]))[0])).numpy()
    np.testing.assert_allclose(recon, expected, atol=1e-6)
    fig = P.plot_reconstructions(images[:4], recon)
    assert len(fig.axes) == 8
    assert fig.axes[0].get_ylabel() == "input" and fig.axes[4].get_ylabel() == "recon."
    np.testing.assert_allclose(fig.axes[1].get_images()[0].get_array(), images[1, 0], atol=1e-6)
    np.testing.assert_allclose(fig.axes[5].get_images()[0].get_array(), recon[1, 0], atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        P.plot_reconstructions(images[0], recon[0])
    with pytest.raises(ValueError, match="shape"):
        views.reconstructions(TinyVAE(), images[0])


def test_select_runs_best_and_worst_seed_in_direction(runs):
    chosen = P.select_runs(runs, "mig")
    got = {(r["hparam"], r["which"]): r["seed"] for _, r in chosen.iterrows()}
    assert got[(1.0, "best")] == 2 and got[(1.0, "worst")] == 0  # mig 0.6 vs 0.1
    assert got[(25.0, "best")] == 0 and (25.0, "worst") not in got  # a single seed with a value
    chosen = P.select_runs(runs, "reconstruction.bernoulli_nll")  # lower is better
    got = {(r["hparam"], r["which"]): r["seed"] for _, r in chosen.iterrows()}
    assert got[(1.0, "best")] == 1 and got[(1.0, "worst")] == 2  # nll 20 vs 40


def test_save_figure_writes_pdf_and_png(runs, tmp_path):
    paths = P.save_figure(P.plot_metric_by_setting(runs, "mig"), tmp_path / "f")
    assert [p[-3:] for p in paths] == ["pdf", "png"]
    assert open(paths[0], "rb").read(5) == b"%PDF-" and open(paths[1], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
