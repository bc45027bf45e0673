"""The shared machinery: discretisation, discrete MI and entropy, input checks, the grid encoding."""

import math

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from benchmark.metrics import GridEncoding, discrete_entropy, discrete_mutual_info, discretize
from benchmark.metrics import _codes
from metrics_synthetic import FactorGrid, code_grid


def test_entropy_of_uniform_three_class_sample_is_log3():
    labels = np.repeat([0, 1, 2], 50)[:, None]
    assert discrete_entropy(labels)[0] == pytest.approx(math.log(3), abs=1e-12)


def test_entropy_of_constant_column_is_zero_and_matches_sklearn(rng):
    labels = np.stack([np.zeros(100, int), rng.integers(0, 7, 100)], axis=1)
    h = discrete_entropy(labels)
    assert h[0] == 0.0
    assert h[1] == pytest.approx(mutual_info_score(labels[:, 1], labels[:, 1]), abs=1e-12)


def test_discrete_mutual_info_equals_per_pair_sklearn(rng):
    a = rng.integers(0, 20, size=(3000, 4))
    b = np.stack([a[:, 0] // 3, rng.integers(0, 40, 3000), (a[:, 1] + a[:, 2]) % 5], axis=1)
    mi = discrete_mutual_info(a, b)
    assert mi.shape == (4, 3)
    for i in range(4):
        for j in range(3):
            assert mi[i, j] == pytest.approx(mutual_info_score(b[:, j], a[:, i]), abs=1e-10)


def test_pairwise_mutual_info_is_the_symmetric_off_diagonal_of_the_full_matrix(rng):
    from benchmark.metrics._codes import pairwise_mutual_info

    a = rng.integers(0, 20, size=(2000, 5))
    a[:, 3] = (a[:, 0] + a[:, 1]) // 2
    full = discrete_mutual_info(a, a)
    np.fill_diagonal(full, 0.0)
    assert np.allclose(pairwise_mutual_info(a), full, atol=1e-12)


def test_discrete_mutual_info_with_many_distinct_labels_counts_sparsely(rng):
    # 5,000 distinct values per column: dense tables would need 2.5e8 cells per pair
    a = rng.permutation(10**6)[:5000].reshape(-1, 1) * np.ones((1, 2), dtype=np.int64)
    b = np.stack([rng.integers(0, 3, 5000), rng.permutation(5000) * 7], axis=1)
    mi = discrete_mutual_info(a, b)
    for j in range(2):
        assert mi[0, j] == pytest.approx(mutual_info_score(b[:, j], a[:, 0]), abs=1e-10)


def test_discrete_mutual_info_handles_sparse_labels():
    # labels need not be 0..n-1: they are relabelled per column
    a = np.array([[5], [5], [900], [900]])
    b = np.array([[-0], [0], [3], [3]])
    assert discrete_mutual_info(a, b)[0, 0] == pytest.approx(math.log(2))


def test_discretize_is_twenty_equal_width_bins_over_the_sampled_range(rng):
    codes = np.stack([rng.normal(size=5000), rng.uniform(-3, 7, 5000), np.full(5000, 2.5)], axis=1)
    binned = discretize(codes)
    for d in range(codes.shape[1]):
        edges = np.histogram(codes[:, d], 20)[1]
        assert np.array_equal(binned[:, d], np.digitize(codes[:, d], edges[:-1]) - 1)
    assert binned[:, :2].min() == 0 and binned[:, :2].max() == 19  # min in the first bin, max in the last
    assert np.unique(binned[:, 2]).size == 1  # a constant code falls in one bin


@pytest.mark.parametrize(
    "codes, fragment",
    [
        (np.zeros(10), "got shape (10,)"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), "shape (2, 2)"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), "non-finite"),
    ],
)
def test_check_codes_rejects_bad_input_naming_the_shape(codes, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        _codes.check_codes(codes)


def test_check_pair_rejects_mismatched_sample_counts():
    with pytest.raises(ValueError, match=r"codes_train shape \(5, 2\) and factors_train shape \(4, 3\)"):
        _codes.check_pair(np.zeros((5, 2)), np.zeros((4, 3), int))


def test_grid_encoding_encodes_each_image_once_and_counts_passes():
    ds = FactorGrid(sizes=(3, 4, 5), names=("a", "b", "c"))
    calls = []

    def encode(idx):
        calls.append(np.array(idx))
        f = ds.index_to_factors(idx).astype(float)
        return f, np.full(f.shape, -2.0)

    grid = GridEncoding(ds, encode, batch_size=7)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(ds), 500)
    mean = grid.codes(idx, "mean", rng)
    assert np.array_equal(mean, ds.index_to_factors(idx).astype(float))
    assert grid.encoder_passes == np.unique(idx).size
    assert all(len(c) <= 7 for c in calls)
    before = grid.encoder_passes
    grid.codes(np.arange(len(ds)), "sampled", rng)  # only the images not seen yet are encoded
    assert grid.encoder_passes == len(ds) and len(ds) - before == np.concatenate(calls).size - before
    assert np.unique(np.concatenate(calls)).size == np.concatenate(calls).size  # no image twice
    grid.codes(idx, "mean", rng)
    assert grid.encoder_passes == len(ds)


def test_sampled_codes_draw_fresh_noise_per_use_with_the_posterior_scale():
    ds = FactorGrid(sizes=(2, 3), names=("a", "b"))
    grid = code_grid(ds, "identity", logvar=math.log(0.25))
    idx = np.zeros(20000, dtype=np.int64)
    rng = np.random.default_rng(1)
    z1 = grid.codes(idx, "sampled", rng)
    z2 = grid.codes(idx, "sampled", rng)
    assert not np.allclose(z1, z2)  # one draw per use
    assert z1.std(axis=0) == pytest.approx([0.5, 0.5], rel=0.03)  # exp(logvar / 2)
    assert np.array_equal(grid.codes(idx, "sampled", np.random.default_rng(1)), z1)  # same rng, same draws
    assert grid.encoder_passes == 1


def test_grid_encoding_rejects_non_finite_encoder_output():
    ds = FactorGrid(sizes=(2, 3), names=("a", "b"))
    grid = GridEncoding(ds, lambda idx: (np.full((len(idx), 2), np.nan), np.zeros((len(idx), 2))))
    with pytest.raises(ValueError, match=r"non-finite.*\(6, 2\)"):
        grid.codes(np.arange(6), "mean", np.random.default_rng(0))
