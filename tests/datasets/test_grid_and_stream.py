"""The grid index maths over every index of both grids, and the seeded, resumable training batch stream."""

import numpy as np
import pytest
import torch

from benchmark.datasets import get
from benchmark.datasets.base import grid_strides


@pytest.mark.parametrize(
    "name,sizes",
    [("dsprites_procedural", (3, 6, 40, 32, 32)), ("shapes3d_procedural", (10, 10, 10, 8, 4, 15))],
)
def test_index_round_trip_over_every_index(name, sizes):
    ds = get(name)
    every = np.arange(len(ds), dtype=np.int64)
    factors = ds.index_to_factors(every)
    assert factors.shape == (int(np.prod(sizes)), len(sizes)) and factors.dtype == np.int64
    np.testing.assert_array_equal(ds.factors_to_index(factors), every)
    np.testing.assert_array_equal(factors, np.stack(np.unravel_index(every, sizes), axis=1))
    assert (factors[1:] != factors[:-1]).any(axis=1).all()  # all distinct: a bijection onto the grid


@pytest.mark.parametrize("sizes", [(1, 3, 6, 40, 32, 32), (10, 10, 10, 8, 4, 15)])
def test_strides_agree_with_ravel_multi_index(sizes, rng):
    classes = np.stack([rng.integers(0, s, 5000) for s in sizes], axis=1)
    np.testing.assert_array_equal(classes @ grid_strides(sizes), np.ravel_multi_index(classes.T, sizes))
    corners = np.array([[0] * len(sizes), [s - 1 for s in sizes]])
    np.testing.assert_array_equal(corners @ grid_strides(sizes), [0, int(np.prod(sizes)) - 1])


def test_dsprites_official_bases():
    np.testing.assert_array_equal(grid_strides((1, 3, 6, 40, 32, 32)), [737280, 245760, 40960, 1024, 32, 1])
    np.testing.assert_array_equal(get("dsprites_procedural").strides, [245760, 40960, 1024, 32, 1])


def test_bad_factors_and_indices_are_rejected():
    ds = get("dsprites_procedural")
    with pytest.raises(ValueError, match="factor 'orientation' has class 40"):
        ds.factors_to_index(np.array([[0, 0, 40, 0, 0]]))
    with pytest.raises(ValueError, match=r"shape \(N, 5\)"):
        ds.factors_to_index(np.zeros((2, 6), dtype=int))
    with pytest.raises(ValueError, match="indices must lie in"):
        ds.images(np.array([len(ds)]))
    from benchmark.datasets.dsprites import render

    with pytest.raises(ValueError, match="must lie in 0..size-1"):
        render(np.array([[3, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="drawn offline and takes no path; real-file datasets: color_dsprites, dsprites, noisy_dsprites, shapes3d"):
        get("dsprites_procedural", path="x.npz")


def test_sample_factors_is_uniform(rng):
    ds = get("shapes3d_procedural")
    f = ds.sample_factors(60000, rng)
    counts = np.bincount(f[:, 4], minlength=4)  # shape: 4 classes, expect 15000 each
    assert np.all(np.abs(counts - 15000) < 5 * np.sqrt(15000))


def _draw(stream, n):
    return [next(stream) for _ in range(n)]


@pytest.mark.parametrize("name", ["dsprites_procedural", "shapes3d_procedural"])
def test_batch_stream_seeded_and_resumable(name):
    ds = get(name)
    a = ds.batch_stream(16, seed=123)
    first = _draw(a, 3)
    assert first[0].shape == (16, *ds.observation_shape) and first[0].dtype == torch.float32
    assert 0.0 <= float(first[0].min()) and float(first[0].max()) <= 1.0
    np.testing.assert_array_equal(first[-1].numpy(), ds.images(a.last_indices))
    state = a.state_dict()
    rest = _draw(a, 2)
    # same seed -> same batches; another seed -> different ones
    b = ds.batch_stream(16, seed=123)
    for x, y in zip(first + rest, _draw(b, 5)):
        assert torch.equal(x, y)
    assert not torch.equal(first[0], next(ds.batch_stream(16, seed=124)))
    # a resumed stream (new object, restored state) draws exactly what the uninterrupted one drew
    c = ds.batch_stream(16, seed=999)
    c.load_state_dict(state)
    assert c.batches_drawn == 3
    for x, y in zip(rest, _draw(c, 2)):
        assert torch.equal(x, y)
    with pytest.raises(ValueError, match="batch size"):
        ds.batch_stream(8, seed=1).load_state_dict(state)


def test_batch_stream_state_is_plain_data(tmp_path):
    import json

    s = get("dsprites_procedural").batch_stream(4, seed=np.random.SeedSequence(7))
    next(s)
    state = s.state_dict()
    torch.save(state, tmp_path / "s.pt")
    loaded = torch.load(tmp_path / "s.pt", weights_only=True)
    assert json.loads(json.dumps(loaded)) == loaded
    t = get("dsprites_procedural").batch_stream(4, seed=0)
    t.load_state_dict(loaded)
    assert torch.equal(next(s), next(t))
