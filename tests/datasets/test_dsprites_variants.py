"""color_dsprites and noisy_dsprites against disentanglement_lib's definitions (ColorDSprites, NoisyDSprites):
the dSprites sprites in 3 channels with one colour per image in [0.5, 1) on black, or uniform noise added and
clipped at 1 so sprite pixels stay 1; the nuisance drawn per observation from the sample's stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _files_helpers import dsprites_arrays, write_dsprites_npz

from benchmark.datasets import get

N = 256


def _draw(name, seed=0, **kw):
    ds = get(name, **kw)
    factors = ds.sample_factors(N, np.random.default_rng(seed))
    return ds, factors, ds.sample_observations_from_factors(factors, np.random.default_rng(seed + 1))


def test_color_dsprites_one_colour_per_image_on_black():
    ds, factors, x = _draw("color_dsprites_procedural")
    sprites = ds.base.images(ds.factors_to_index(factors))[:, 0]  # (N, 64, 64) 0/1
    assert x.shape == (N, 3, 64, 64) and x.dtype == np.float32 and ds.observation_shape == (3, 64, 64)
    on = sprites == 1
    assert np.all(x.transpose(1, 0, 2, 3)[:, ~on] == 0), "the background stays black"
    colours = np.empty((N, 3))
    for i in range(N):
        for c in range(3):
            values = np.unique(x[i, c][on[i]])
            assert len(values) == 1, "one colour per channel over the whole sprite"
            colours[i, c] = values[0]
    assert colours.min() >= 0.5 and colours.max() < 1.0
    assert 0.70 < colours.mean() < 0.80 and abs(colours.var() - 0.25**2 / 3) < 0.004  # U(0.5, 1): mean 0.75, var 1/48
    assert len(np.unique(colours[:, 0])) == N and not np.allclose(colours[:, 0], colours[:, 1])


def test_noisy_dsprites_sprite_pixels_stay_one_and_the_background_is_uniform_noise():
    ds, factors, x = _draw("noisy_dsprites_procedural")
    on = np.repeat(ds.base.images(ds.factors_to_index(factors)) == 1, 3, axis=1)
    assert np.all(x[on] == 1.0), "noise added to a sprite pixel is clipped at 1"
    background = x[~on]
    assert background.min() >= 0 and background.max() < 1
    assert abs(background.mean() - 0.5) < 0.01 and abs(background.var() - 1 / 12) < 0.005
    assert not np.array_equal(x[:, 0], x[:, 1]), "each channel has its own noise"


@pytest.mark.parametrize("name", ["color_dsprites_procedural", "noisy_dsprites_procedural"])
def test_the_nuisance_comes_from_the_samples_stream(name):
    _, _, a = _draw(name, seed=3)
    _, _, b = _draw(name, seed=3)
    _, _, c = _draw(name, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    ds = get(name)
    stream = ds.batch_stream(8, 5)
    next(stream)
    state = stream.state_dict()
    after = next(stream)
    resumed = ds.batch_stream(8, 99)
    resumed.load_state_dict(state)
    assert torch.equal(next(resumed), after), "a resumed stream draws the same sprites and the same nuisance"
    with pytest.raises(ValueError, match="no single image"):
        ds.images(np.arange(2))


def test_variants_on_the_real_file(tmp_path):
    imgs, classes, values = dsprites_arrays()
    path = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    write_dsprites_npz(path, imgs, classes, values)
    for name in ("color_dsprites", "noisy_dsprites"):
        ds, factors, x = _draw(name, path=path)
        assert ds.source == f"file:{path}" and x.shape == (N, 3, 64, 64)
        on = ds.base.images(ds.factors_to_index(factors))[:, 0] == 1
        if name == "color_dsprites":
            assert np.array_equal(x.min(axis=1) >= 0.5, on) and np.all(x.max(axis=1)[~on] == 0)
        else:
            assert np.all(x.min(axis=1)[on] == 1) and x.max(axis=1)[~on].mean() > 0.5
