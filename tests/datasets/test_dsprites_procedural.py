"""dsprites_procedural: the renderer against genuine dSprites frames and the dataset's known statistics."""

import os

import numpy as np
import pytest

from benchmark.datasets import get
from benchmark.datasets.dsprites import FACTOR_SIZES, SHAPE_NAMES, build_packed_cache, load_packed_cache, render, unpack_rows

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures", "dsprites_gif_frames.npz")


@pytest.fixture(scope="module")
def ds():
    return get("dsprites_procedural")


def test_grid_matches_official(ds):
    assert ds.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert ds.factor_sizes == (3, 6, 40, 32, 32)
    assert len(ds) == 737280
    assert ds.observation_shape == (1, 64, 64) and ds.pixel_max == 1
    np.testing.assert_allclose(ds.factor_values[1], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert ds.factor_values[2][0] == 0.0 and ds.factor_values[2][-1] == 2 * np.pi
    np.testing.assert_allclose(ds.factor_values[3], np.arange(32) / 31)
    assert not ds.stand_in and ds.describe()["source"] == "procedural"


def test_golden_gif_frames_per_shape():
    """The 320 genuine frames of the official dsprites.gif: mismatch <= 0.01 % of pixels for every shape."""
    with np.load(GOLDEN) as z:
        imgs, classes = z["imgs"], z["latents_classes"]
    assert imgs.shape == (320, 64, 64) and classes[:, 0].max() == 0
    drawn = render(classes[:, 1:])
    report = {}
    for s, name in enumerate(SHAPE_NAMES):
        m = classes[:, 1] == s
        assert m.sum() > 0
        report[name] = 100.0 * np.count_nonzero(drawn[m] != imgs[m]) / imgs[m].size
    print("pixel mismatch % per shape:", report)
    for name, pct in report.items():
        assert pct <= 0.01, f"{name}: {pct:.4f} % of pixels differ from the genuine frames"


@pytest.mark.parametrize("shape,count", [(0, 400), (1, 288), (2, 222)])
def test_on_pixel_counts_at_scale_1_theta_0(ds, shape, count):
    img = ds.images_uint8(ds.factors_to_index(np.array([[shape, 5, 0, 0, 0]])))
    assert img.shape == (1, 1, 64, 64) and img.dtype == np.uint8
    assert int(img.sum()) == count


def test_image_0_is_10x10_square(ds):
    img = ds.images(np.array([0]))[0, 0]
    assert img.dtype == np.float32
    on = np.argwhere(img == 1.0)
    assert on.shape[0] == 100
    assert tuple(on.min(0)) == (11, 11) and tuple(on.max(0)) == (20, 20)
    assert set(np.unique(img)) == {0.0, 1.0}


def test_orientation_0_equals_39(ds, rng):
    f = ds.sample_factors(500, rng)
    f0, f39 = f.copy(), f.copy()
    f0[:, 2], f39[:, 2] = 0, 39
    np.testing.assert_array_equal(render(f0), render(f39))


def test_rotation_is_counter_clockwise_and_posy_zero_is_top(ds):
    # Ellipse (major axis horizontal at theta = 0) at a quarter turn: tall, not wide.
    flat = render(np.array([[1, 5, 0, 16, 16]]))[0]
    tall = render(np.array([[1, 5, 10, 16, 16]]))[0]  # orientation class 10 ~ 92 degrees
    width = lambda im: np.ptp(np.nonzero(im.any(0))[0])  # noqa: E731
    height = lambda im: np.ptp(np.nonzero(im.any(1))[0])  # noqa: E731
    assert width(flat) > height(flat) and height(tall) > width(tall)
    # Heart lobes up at theta = 0 (mass above the centre at row/col 32); a ~92 degree counter-clockwise
    # turn as displayed moves the lobes to the left of the centre.
    up = np.argwhere(render(np.array([[2, 5, 0, 16, 16]]))[0]).mean(0)
    left = np.argwhere(render(np.array([[2, 5, 10, 16, 16]]))[0]).mean(0)
    assert up[0] < 31 and abs(up[1] - 32) < 0.6
    assert left[1] < 31 and abs(left[0] - 32) < 1.0
    # posY = 0 is the top of the image, posX = 0 the left.
    corner = render(np.array([[0, 0, 0, 0, 0]]))[0]
    assert corner[:32, :32].sum() == corner.sum() > 0


def test_mean_pixel_of_100k_uniform_sample(ds):
    f = ds.sample_factors(100_000, np.random.default_rng(1))
    mean = render(f, chunk=4096).mean(dtype=np.float64)
    assert abs(mean - 0.0425) <= 0.0005, mean


def test_sample_is_seeded(ds):
    f1, x1 = ds.sample(32, np.random.default_rng(5))
    f2, x2 = ds.sample(32, np.random.default_rng(5))
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(x1, x2)
    assert x1.shape == (32, 1, 64, 64) and x1.dtype == np.float32
    np.testing.assert_array_equal(x1, ds.sample_observations_from_factors(f1, np.random.default_rng(9)))


def test_packed_cache_round_trip_and_atomic(tmp_path, ds):
    """A cache of some grid rows equals the renderer bit for bit; no temporary file is left behind."""
    idx = np.random.default_rng(3).choice(len(ds), 3000, replace=False)
    path = build_packed_cache(tmp_path / "part.npy", indices=idx, chunk=1024, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part.npy"]
    packed = load_packed_cache(path, idx.size)
    assert packed.shape == (3000, 512)
    rows = np.arange(0, 3000, 7)
    np.testing.assert_array_equal(unpack_rows(packed, rows)[:, 0], render(ds.index_to_factors(idx[rows])))
    with pytest.raises(ValueError, match="expected uint8"):
        load_packed_cache(path, 2999)


@pytest.mark.slow
def test_full_grid_cache_is_built_once_and_reused(tmp_path):
    ds = get("dsprites_procedural", cache=True, cache_dir=tmp_path, progress=False)
    mtime = ds.cache_path.stat().st_mtime_ns
    again = get("dsprites_procedural", cache=True, cache_dir=tmp_path)
    assert again.cache_path == ds.cache_path and ds.cache_path.stat().st_mtime_ns == mtime
    idx = np.random.default_rng(0).integers(0, len(ds), 2000)
    np.testing.assert_array_equal(again.images_uint8(idx)[:, 0], render(ds.index_to_factors(idx)))
    assert abs(float(np.unpackbits(again._packed, axis=1).mean()) - 0.042495) < 2e-5
