"""3D Shapes: the real-file loader on small official-format HDF5 files, and the procedural stand-in."""

import numpy as np
import pytest
from _files_helpers import shapes3d_arrays, write_shapes3d_h5
from matplotlib.colors import rgb_to_hsv

from benchmark.datasets import get
from benchmark.datasets._files import DatasetFileError
from benchmark.datasets.shapes3d import N_GEOMETRIES, SURFACES

assert N_GEOMETRIES == 480


# ------------------------------------------------------------------------------------------ real file
@pytest.fixture(scope="module")
def arrays():
    return shapes3d_arrays()


@pytest.fixture
def h5(tmp_path, arrays):
    return write_shapes3d_h5(tmp_path / "3dshapes.h5", arrays[0], arrays[1])


@pytest.mark.parametrize("cache", [False, True])
def test_loader_returns_right_images_for_factors(h5, arrays, tmp_path, cache):
    images, labels, classes = arrays
    ds = get("shapes3d", path=h5, cache=cache, cache_dir=tmp_path / "cache", progress=False)
    assert ds.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert ds.factor_sizes == (2, 3, 2, 2, 2, 3) and len(ds) == 144
    np.testing.assert_allclose(ds.factor_values[0], [0.0, 0.2])
    np.testing.assert_allclose(ds.factor_values[3], np.linspace(0.75, 1.25, 8)[[0, 2]])
    np.testing.assert_allclose(ds.factor_values[5], np.linspace(-30, 30, 15)[[0, 2, 4]])
    np.testing.assert_array_equal(ds.index_to_factors(np.arange(len(ds))), classes)
    rng = np.random.default_rng(1)
    factors = ds.sample_factors(30, rng)
    rows = [int(np.flatnonzero((classes == f).all(1))[0]) for f in factors]
    got = ds.sample_observations_from_factors(factors, rng)
    assert got.shape == (30, 3, 64, 64) and got.dtype == np.float32
    np.testing.assert_allclose(got, images[rows].transpose(0, 3, 1, 2) / np.float32(255), rtol=1e-6)
    assert ds.source == f"file:{h5}" and not ds.stand_in
    if cache:
        assert ds.cache_path.exists()
        again = get("shapes3d", path=h5, cache=True, cache_dir=tmp_path / "cache")
        assert again.cache_path == ds.cache_path
        np.testing.assert_array_equal(again.images_uint8(np.arange(144)), ds.images_uint8(np.arange(144)))


def _expect(path, *fragments):
    with pytest.raises(DatasetFileError) as err:
        get("shapes3d", path=path, progress=False)
    msg = str(err.value)
    assert str(path) in msg and "https://github.com/deepmind/3d-shapes" in msg and "'shapes3d_procedural'" in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg


def test_malformed_files(tmp_path, arrays, h5):
    import h5py

    images, labels, _ = arrays
    _expect(tmp_path / "missing.h5", "no such file")
    data = h5.read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 3])
    _expect(tmp_path / "cut.h5", "truncated or corrupt")
    np.savez(tmp_path / "x.npz", images=images)
    _expect(tmp_path / "x.npz", "npz (zip) file; 3D Shapes comes as an HDF5 file")
    (tmp_path / "t.h5").write_text("not hdf5 at all")
    _expect(tmp_path / "t.h5", "neither an npz (zip) nor an HDF5 file")
    with h5py.File(tmp_path / "k.h5", "w") as f:
        f["images"] = images
    _expect(tmp_path / "k.h5", "no array 'labels'")
    write_shapes3d_h5(tmp_path / "d.h5", images.astype(np.float32), labels)
    _expect(tmp_path / "d.h5", "'images' has dtype float32, expected uint8")
    write_shapes3d_h5(tmp_path / "s.h5", images[..., 0], labels)
    _expect(tmp_path / "s.h5", "'images' has shape (144, 64, 64), expected (N, 64, 64, 3)")
    write_shapes3d_h5(tmp_path / "i.h5", images[:-3], labels[:-3])
    _expect(tmp_path / "i.h5", "incomplete factor grid: 141 rows")
    perm = np.random.default_rng(0).permutation(len(images))
    write_shapes3d_h5(tmp_path / "p.h5", images[perm], labels[perm])
    _expect(tmp_path / "p.h5", "rows are shuffled")
    write_shapes3d_h5(tmp_path / "n.h5", images[:-1], labels)
    _expect(tmp_path / "n.h5", "'images' has 143 rows but 'labels' has 144")


def test_truncated_chunk_data_fails_at_load(tmp_path, arrays):
    """Cut inside the compressed image chunks: the header opens, the whole-array read must fail clearly."""
    images, labels, _ = arrays
    path = write_shapes3d_h5(tmp_path / "3dshapes.h5", images, labels)
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: int(len(data) * 0.9)]))
    _expect(path, "truncated or corrupt")


# ------------------------------------------------------------------------------------------ stand-in
@pytest.fixture(scope="module")
def standin():
    return get("shapes3d_procedural")


def test_standin_grid_and_labels(standin):
    assert standin.stand_in and "stand-in" in standin.source
    d = standin.describe()
    assert d["stand_in"] is True and "not comparable" in d["note"] and "STAND-IN" in d["note"]
    assert d["name"] == "shapes3d_procedural" and "STAND-IN" in d["title"] and "not comparable" in d["title"]
    assert "stand-in" in d["source"] and "stand-in" in repr(standin)
    assert standin.factor_sizes == (10, 10, 10, 8, 4, 15) and len(standin) == 480000
    np.testing.assert_allclose(standin.factor_values[3], np.linspace(0.75, 1.25, 8))
    np.testing.assert_allclose(standin.factor_values[5], np.linspace(-30, 30, 15))
    np.testing.assert_array_equal(standin.strides, [48000, 4800, 480, 60, 15, 1])


def _hue(rgb_uint8):
    """HSV hue (0..1) of (3, H, W) uint8 pixels -> (H, W)."""
    return rgb_to_hsv(np.moveaxis(rgb_uint8, 0, -1) / 255.0)[..., 0]


def _hue_dist(a, b):
    d = np.abs(a - b) % 1.0
    return np.minimum(d, 1.0 - d)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_hue_factor_changes_only_its_surface(standin, k):
    """Changing floor/wall/object hue changes exactly the pixels that surface covers, to the new hue."""
    rng = np.random.default_rng(10 + k)
    surface = k  # floor_hue -> floor, wall_hue -> wall, object_hue -> object
    for _ in range(6):
        a = standin.sample_factors(1, rng)[0]
        b = a.copy()
        b[k] = (a[k] + rng.integers(1, 10)) % 10
        ia, ib = standin.images_uint8(standin.factors_to_index(np.stack([a, b])))
        shade, cover = standin.surface_maps(standin.factors_to_index(a[None]))
        changed = (ia != ib).any(axis=0)
        touched = cover[0, surface] > 0
        assert changed.sum() > 0
        assert not (changed & ~touched).any(), f"{SURFACES[surface]} hue changed pixels off that surface"
        pure = (cover[0, surface] == 16) & (shade[0, surface] > 0.3)
        assert pure.sum() > 20
        for img, cls in ((ia, a[k]), (ib, b[k])):
            assert _hue_dist(_hue(img)[pure], cls / 10).max() < 0.02


@pytest.mark.parametrize("k", [3, 4, 5])
def test_geometry_factor_keeps_hues(standin, k):
    """Scale, shape and camera azimuth move pixels between surfaces, never change a surface's hue."""
    rng = np.random.default_rng(20 + k)
    for _ in range(5):
        a = standin.sample_factors(1, rng)[0]
        b = a.copy()
        b[k] = (a[k] + rng.integers(1, standin.factor_sizes[k])) % standin.factor_sizes[k]
        idx = standin.factors_to_index(np.stack([a, b]))
        imgs = standin.images_uint8(idx)
        shade, cover = standin.surface_maps(idx)
        assert (imgs[0] != imgs[1]).any()
        assert not np.array_equal(cover[0], cover[1]), "a geometry factor must move surface boundaries"
        for i in range(2):
            for s in range(3):  # floor, wall, object carry the hue factors 0, 1, 2
                pure = (cover[i, s] == 16) & (shade[i, s] > 0.3)
                if pure.any():
                    assert _hue_dist(_hue(imgs[i])[pure], a[s] / 10).max() < 0.02
            backdrop = cover[i, 3] == 16
            assert np.array_equal(np.unique(imgs[i][:, backdrop].T, axis=0), [[153, 226, 249]])


def test_scale_grows_object_and_orientation_moves_walls(standin):
    f = np.tile(np.array([1, 6, 3, 0, 0, 7]), (8, 1))
    f[:, 3] = np.arange(8)
    _, cover = standin.surface_maps(standin.factors_to_index(f))
    area = cover[:, 2].sum(axis=(1, 2))
    assert np.all(np.diff(area) > 0)
    g = np.tile(np.array([1, 6, 3, 4, 2, 0]), (2, 1))
    g[1, 5] = 14  # -30 vs +30 degrees: the visible side wall switches from one side to the other
    _, cover = standin.surface_maps(standin.factors_to_index(g))
    sphere = cover[:, 2].sum(axis=(1, 2))
    assert abs(int(sphere[0]) - int(sphere[1])) <= 0.02 * sphere[0]  # a sphere looks the same from any azimuth
    wall = cover[:, 1] > 0
    np.testing.assert_array_equal(wall[0], wall[1][:, ::-1])  # mirror-symmetric room


def test_standin_composition_equals_per_surface_sum(standin, rng):
    idx = rng.integers(0, len(standin), 16)
    imgs = standin.images(idx)
    shade, _ = standin.surface_maps(idx)
    f = standin.index_to_factors(idx)
    from benchmark.datasets.shapes3d import BACKDROP_RGB, hsv_hue_rgb

    colours = np.stack([hsv_hue_rgb(f[:, 0] / 10), hsv_hue_rgb(f[:, 1] / 10), hsv_hue_rgb(f[:, 2] / 10),
                        np.tile(BACKDROP_RGB, (16, 1))], axis=1)  # (N, 4, 3)
    expect = np.einsum("nsc,nshw->nchw", colours, shade)
    assert np.abs(imgs - expect).max() <= 0.5 / 255 + 1e-5
    assert imgs.min() >= 0 and imgs.max() <= 1


def test_standin_table_cache_is_built_once_and_reused(tmp_path, monkeypatch):
    """Builds all 480 geometries (~20 s here), then a second dataset loads the file and renders nothing."""
    import benchmark.datasets.shapes3d as s3

    calls = []
    real = s3.render_geometry
    ds = get("shapes3d_procedural", cache=True, cache_dir=tmp_path, progress=False)
    assert ds.cache_path.exists() and ds._ready.all()
    monkeypatch.setattr(s3, "render_geometry", lambda *a: calls.append(a) or real(*a))
    again = get("shapes3d_procedural", cache=True, cache_dir=tmp_path)
    assert calls == []
    idx = np.arange(0, 480000, 997)
    np.testing.assert_array_equal(again.images_uint8(idx), ds.images_uint8(idx))
