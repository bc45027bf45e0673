"""Properties every registered metric must have: ranges, permutation invariance, seeding, plain floats, checks."""

import math

import numpy as np
import pytest

from benchmark.metrics import CODE_METRICS, METRICS, GridEncoding, _codes, score_codes
from metrics_synthetic import FactorGrid, code_grid

SMALL_GRID = FactorGrid(sizes=(3, 4, 5), names=("a", "b", "c"))
D_EXTRA = 2  # latent dims beyond the K factors

# reduced protocols: the properties do not depend on sample sizes
FAST = {
    "beta_vae": {"num_train": 200, "num_eval": 200, "batch_size": 16},
    "factor_vae": {"num_variance_estimate": 500, "num_train": 200, "num_eval": 200, "batch_size": 16},
    "mig": {"num_train": 500},
    "mig_sampled": {"num_samples": 40},
    "dci": {"num_train": 150, "num_test": 100},
    "sap": {"num_train": 300, "num_test": 200},
    "modularity": {"num_train": 300, "num_test": 200},
    "unsupervised": {"num_train": 500},
    "reconstruction": {"num_images": 200, "batch_size": 64},
    "irs": {"num_train": 500},
    "mig_sup": {"num_train": 500},
    "dcimig": {"num_train": 500},
    "jemmig": {"num_train": 500},
    "z_diff": {"num_train": 300, "num_test": 200, "num_train_points": 200, "num_eval_points": 200, "batch_size": 16},
    "z_min": {"num_train": 300, "num_test": 200, "num_train_votes": 200, "num_eval_votes": 200, "batch_size": 16},
    "z_max": {"num_variance_estimate": 500, "num_train": 200, "num_eval": 200, "batch_size": 16},
    "infomec": {"num_train": 300},
    "dci_es": {"num_train": 200, "num_test": 100, "num_trees": 10, "max_depth": 8},
}
assert set(FAST) == set(METRICS), "every registered metric needs a fast protocol here"

UNIT = (0.0, 1.0)
RANGES = {
    "factor_vae.num_active_dims": (0.0, 3 + D_EXTRA),
    "unsupervised.gaussian_total_correlation": (0.0, math.inf),
    "unsupervised.gaussian_wasserstein_correlation": (0.0, math.inf),
    "unsupervised.gaussian_wasserstein_correlation_norm": (0.0, 2.0),
    "unsupervised.mutual_info": (0.0, math.log(20)),
    "reconstruction.bernoulli_nll": (0.0, math.inf),
    "irs": (-1.0, 1.0),
    "irs.num_active_dims": (0.0, 3 + D_EXTRA),
    "z_min.num_active_dims": (0.0, 3 + D_EXTRA),
    "z_max.num_active_dims": (0.0, 3 + D_EXTRA),
    "infomec.num_active_dims": (0.0, 3 + D_EXTRA),
}


def mixed_grid(perm=None):
    """Codes partly informative: factor a clean, b and c mixed and noisy, plus pure-noise dims; D = 5."""
    base_rng = np.random.default_rng(11)
    mix = base_rng.standard_normal((3, 3 + D_EXTRA))
    mix[0] = [1.0, 0, 0, 0, 0]
    noise = base_rng.standard_normal((len(SMALL_GRID), 3 + D_EXTRA))

    def encode(idx):
        f = SMALL_GRID.index_to_factors(idx).astype(float)
        mu = f @ mix + 0.3 * noise[idx]
        lv = np.full(mu.shape, -3.0)
        return (mu, lv) if perm is None else (mu[:, perm], lv[:, perm])

    return GridEncoding(SMALL_GRID, encode)


def reconstructor(grid, kind, rng, perm=None):
    w = np.random.default_rng(5).standard_normal((3 + D_EXTRA, 4))
    if perm is not None:  # a model with permuted latents has its decoder's inputs permuted alike
        w = w[perm]

    def reconstruct(images, indices):  # a fixed linear "decoder" of the codes
        return (grid.codes(indices, kind, rng) @ w).reshape(images.shape)

    return reconstruct


def compute(name, grid, kind="mean", seed=0, perm=None):
    rng = np.random.default_rng(seed)
    metric = METRICS[name]
    target = reconstructor(grid, kind, np.random.default_rng(seed + 1), perm) if metric.needs == "decoder" else grid.representation(kind)
    return metric.compute(SMALL_GRID, target, rng, **FAST[name])


@pytest.mark.parametrize("kind", ["mean", "sampled"])
@pytest.mark.parametrize("name", list(METRICS))
def test_values_are_plain_floats_in_their_documented_ranges_and_seeded(name, kind):
    out = compute(name, mixed_grid(), kind)
    assert set(METRICS[name].key_names) <= set(out)
    for key, value in out.items():
        assert type(value) is float, (key, type(value))
        lo, hi = RANGES.get(key, UNIT)
        assert lo - 1e-12 <= value <= hi + 1e-12, (key, value)
    assert compute(name, mixed_grid(), kind) == out  # same seed, same numbers


@pytest.mark.parametrize("name", [n for n in METRICS if n != "mig_sampled"])
def test_invariant_to_permuting_latent_dims(name):
    perm = np.array([3, 0, 4, 2, 1])
    a, b = compute(name, mixed_grid()), compute(name, mixed_grid(perm), perm=perm)
    assert a.keys() == b.keys()
    # tree and SVM fits (dci, sap, dci_es) draw their random_state per fit and break ties by feature order: equal up to that
    tol = 0.03 if name in ("dci", "sap", "dci_es") else 1e-9
    for key in a:
        assert b[key] == pytest.approx(a[key], abs=tol), key


def test_sampled_mig_is_invariant_to_permuting_latent_dims_given_the_same_samples():
    # the wrapper draws one z per (image, dim), so permuting dims there changes which noise a dim gets
    # (invariance in distribution only); with the same z the estimator itself is exactly invariant
    from benchmark.metrics.mig_sampled import compute_mig_sampled_moments

    idx = np.arange(len(SMALL_GRID))
    mu, lv = mixed_grid().moments(idx)
    z = mu + np.exp(lv / 2) * np.random.default_rng(3).standard_normal(mu.shape)
    f = SMALL_GRID.index_to_factors(idx)
    perm = np.array([3, 0, 4, 2, 1])
    kw = dict(factor_sizes=SMALL_GRID.factor_sizes, num_samples=30)
    a = compute_mig_sampled_moments(mu, lv, f, rng=np.random.default_rng(0), z=z, **kw)
    b = compute_mig_sampled_moments(mu[:, perm], lv[:, perm], f, rng=np.random.default_rng(0), z=z[:, perm], **kw)
    assert a.keys() == b.keys() and all(b[k] == pytest.approx(a[k], abs=1e-6) for k in a)


@pytest.mark.parametrize("name", CODE_METRICS)
def test_score_codes_equals_the_sampling_wrapper_on_the_same_points(name):
    grid = mixed_grid()
    wrapper = compute(name, grid, seed=4)
    # draw the same points the wrapper drew, then score them with the rng in the wrapper's state
    rng = np.random.default_rng(4)
    sampler = _codes.code_sampler(SMALL_GRID, grid.representation("mean"))
    p = FAST[name]
    ctr, ftr = _codes.sample_codes(SMALL_GRID, sampler, p["num_train"], rng)
    test = _codes.sample_codes(SMALL_GRID, sampler, p["num_test"], rng) if "num_test" in p else (None, None)
    params = {"factor_names": SMALL_GRID.factor_names} if name == "mig" else {}
    params.update({k: v for k, v in p.items() if k not in ("num_train", "num_test")})  # the core's own options
    assert score_codes(name, ctr, ftr, *test, rng=rng, **params) == wrapper


@pytest.mark.parametrize("name", CODE_METRICS)
def test_score_codes_permutation_invariance_and_seed(name):
    rng = np.random.default_rng(2)
    f = rng.integers(0, 4, size=(300, 3))
    codes = np.concatenate([f + 0.5 * rng.standard_normal((300, 3)), rng.standard_normal((300, 2))], axis=1)
    args = (codes[:200], f[:200], codes[200:], f[200:]) if METRICS[name].needs_test else (codes, f)
    perm = np.array([4, 2, 0, 1, 3])
    pargs = tuple(a[:, perm] if i % 2 == 0 else a for i, a in enumerate(args))
    a = score_codes(name, *args, rng=7)
    assert score_codes(name, *args, rng=7) == a
    b = score_codes(name, *pargs, rng=7)
    tol = 0.03 if name in ("dci", "sap", "dci_es") else 1e-9
    assert all(b[k] == pytest.approx(a[k], abs=tol) for k in a)
    assert all(type(v) is float for v in a.values())


@pytest.mark.parametrize("name", CODE_METRICS)
def test_score_codes_rejects_nan_and_mismatched_shapes_naming_them(name):
    rng = np.random.default_rng(0)
    codes, f = rng.standard_normal((50, 3)), rng.integers(0, 3, (50, 2))
    needs_test = METRICS[name].needs_test
    bad = codes.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"\(50, 3\).*non-finite"):
        score_codes(name, bad, f, *((codes, f) if needs_test else ()))
    with pytest.raises(ValueError, match=r"\(50, 3\).*\(49, 2\)"):
        score_codes(name, codes, f[:49], *((codes, f) if needs_test else ()))
    if needs_test:
        with pytest.raises(ValueError, match=r"codes_train \(50, 3\), codes_test \(50, 4\)"):
            score_codes(name, codes, f, rng.standard_normal((50, 4)), f)
        with pytest.raises(ValueError, match="test split"):
            score_codes(name, codes, f)


@pytest.mark.parametrize("name", ["beta_vae", "factor_vae", "mig", "dci", "sap", "modularity", "unsupervised", "irs",
                                  "mig_sup", "dcimig", "jemmig", "z_diff", "z_min", "z_max", "infomec", "dci_es"])
def test_wrappers_reject_nan_codes_from_a_representation_function(name):
    def representation_fn(images):
        out = np.zeros((images.shape[0], 3))
        out[0, 0] = np.nan
        return out

    with pytest.raises(ValueError, match=r"shape \(\d+, 3\).*non-finite"):
        METRICS[name].compute(SMALL_GRID, representation_fn, np.random.default_rng(0), **FAST[name])


def test_unknown_metric_and_parameter_errors_list_the_valid_names():
    with pytest.raises(ValueError, match="valid names: beta_vae, dci, dci_es, dcimig, factor_vae, infomec, irs"):
        score_codes("nope", np.zeros((3, 1)), np.zeros((3, 1), int))
    with pytest.raises(ValueError, match=r"num_tran.*valid: \['num_bins', 'num_train'\]"):
        METRICS["mig"].compute(SMALL_GRID, mixed_grid().representation("mean"), np.random.default_rng(0), num_tran=5)
    with pytest.raises(ValueError, match="does not work on fixed codes"):
        score_codes("beta_vae", np.zeros((3, 1)), np.zeros((3, 1), int))
