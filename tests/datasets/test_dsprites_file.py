"""The real-file dSprites loader on small files in the exact official formats, and every malformed variant."""

import os

import numpy as np
import pytest
from _files_helpers import dsprites_arrays, write_dsprites_hdf5, write_dsprites_npz

from benchmark.datasets import get
from benchmark.datasets._files import DatasetFileError, DatasetFileNotFoundError

NPZ_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"


@pytest.fixture(scope="module")
def arrays():
    return dsprites_arrays()


@pytest.fixture
def npz(tmp_path, arrays):
    return write_dsprites_npz(tmp_path / NPZ_NAME, *arrays)


def _check_right_images(ds, arrays):
    imgs, classes, values = arrays
    # colour (column 0) is constant and dropped: 5 factors remain.
    assert ds.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert ds.factor_sizes == (3, 2, 4, 3, 2) and len(ds) == imgs.shape[0]
    np.testing.assert_allclose(ds.factor_values[3], np.linspace(0, 1, 32)[:3])
    np.testing.assert_allclose(ds.factor_values[2], np.linspace(0, 2 * np.pi, 40)[:4])
    rng = np.random.default_rng(0)
    factors = ds.sample_factors(40, rng)
    rows = [int(np.flatnonzero((classes[:, 1:] == f).all(1))[0]) for f in factors]
    got = ds.sample_observations_from_factors(factors, rng)
    assert got.shape == (40, 1, 64, 64) and got.dtype == np.float32
    np.testing.assert_array_equal(got[:, 0], imgs[rows].astype(np.float32))
    np.testing.assert_array_equal(ds.index_to_factors(np.arange(len(ds))), classes[:, 1:])


def test_npz_with_pickled_metadata_loads_without_pickle(tmp_path, arrays):
    npz = write_dsprites_npz(tmp_path / NPZ_NAME, *arrays, trap=True)
    with pytest.raises(AssertionError, match="was unpickled"):  # the trap works...
        np.load(npz, allow_pickle=True)["metadata"]
    ds = get("dsprites", path=npz)  # ...and the loader never springs it
    assert ds.source == f"file:{npz}" and not ds.stand_in
    _check_right_images(ds, arrays)
    assert ds.describe()["official_grid"] is False


def test_hdf5_twin(tmp_path, arrays):
    path = write_dsprites_hdf5(tmp_path / "d.hdf5", *arrays)
    _check_right_images(get("dsprites", path=path), arrays)


def test_found_in_data_dir_and_by_folder(tmp_path, npz, arrays, monkeypatch):
    monkeypatch.setenv("DBENCH_DATA_DIR", str(tmp_path))
    assert get("dsprites").path == npz
    monkeypatch.setenv("DBENCH_DATA_DIR", str(tmp_path / "empty"))
    assert get("dsprites", path=tmp_path).path == npz
    with pytest.raises(DatasetFileNotFoundError) as err:
        get("dsprites")
    msg = str(err.value)
    assert str(tmp_path / "empty") in msg and NPZ_NAME in msg and "dsprites_procedural" in msg


def _expect(path, *fragments):
    with pytest.raises(DatasetFileError) as err:
        get("dsprites", path=path)
    msg = str(err.value)
    assert str(path) in msg, msg
    assert "https://github.com/deepmind/dsprites-dataset" in msg and "'dsprites_procedural'" in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg
    return err.value


def test_missing_file(tmp_path):
    e = _expect(tmp_path / "nope.npz", "no such file")
    assert isinstance(e, FileNotFoundError)


def test_truncated_npz(tmp_path, npz):
    data = npz.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    _expect(cut, "truncated or corrupt")


def test_truncated_hdf5(tmp_path, arrays):
    path = write_dsprites_hdf5(tmp_path / "d.hdf5", *arrays)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect(path, "truncated or corrupt")


def test_not_npz_or_hdf5(tmp_path):
    path = tmp_path / "d.npz"
    path.write_text("<html>404 not found</html>")
    _expect(path, "neither an npz (zip) nor an HDF5 file")
    empty = tmp_path / "e.npz"
    empty.write_bytes(b"")
    _expect(empty, "empty")
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros(3))
    _expect(npy, "neither an npz")


def test_missing_key(tmp_path, arrays):
    imgs, classes, values = arrays
    path = tmp_path / "k.npz"
    np.savez_compressed(path, imgs=imgs, latents_values=values)
    _expect(path, "no array 'latents_classes'")
    import h5py

    h5 = tmp_path / "k.hdf5"
    with h5py.File(h5, "w") as f:
        f["latents/classes"] = classes
        f["latents/values"] = values
    _expect(h5, "no array 'imgs'")


def test_wrong_dtype(tmp_path, arrays):
    imgs, classes, values = arrays
    path = write_dsprites_npz(tmp_path / "f.npz", imgs.astype(np.float32), classes, values)
    _expect(path, "'imgs' has dtype float32, expected uint8")
    path = write_dsprites_npz(tmp_path / "c.npz", imgs, classes.astype(np.float64), values)
    _expect(path, "'latents_classes' has dtype float64, expected int")
    path = write_dsprites_npz(tmp_path / "v.npz", imgs * 255, classes, values)
    _expect(path, "values up to 255, expected 0/1")


def test_wrong_shape(tmp_path, arrays):
    imgs, classes, values = arrays
    path = write_dsprites_npz(tmp_path / "s.npz", imgs[:, :32, :32], classes, values)
    _expect(path, "'imgs' has shape (144, 32, 32), expected (N, 64, 64)")
    path = write_dsprites_npz(tmp_path / "c.npz", imgs, classes[:, 1:], values)
    _expect(path, "'latents_classes' has shape (144, 5), expected (N, 6)")
    path = write_dsprites_npz(tmp_path / "n.npz", imgs[:-1], classes, values)
    _expect(path, "'imgs' has 143 rows but the latents have 144")


def test_incomplete_grid(tmp_path, arrays):
    imgs, classes, values = arrays
    keep = np.ones(len(imgs), bool)
    keep[17] = False
    path = write_dsprites_npz(tmp_path / "i.npz", imgs[keep], classes[keep], values[keep])
    _expect(path, "incomplete factor grid: 143 rows", "make 144 combinations")
    dup = classes.copy()
    dup[17] = dup[16]
    path = write_dsprites_npz(tmp_path / "d.npz", imgs, dup, values)
    _expect(path, "incomplete factor grid: some class combinations repeat")


def test_shuffled_rows(tmp_path, arrays):
    imgs, classes, values = arrays
    perm = np.random.default_rng(0).permutation(len(imgs))
    path = write_dsprites_npz(tmp_path / "p.npz", imgs[perm], classes[perm], values[perm])
    _expect(path, "rows are shuffled", "official order")


def test_values_disagree_with_classes(tmp_path, arrays):
    imgs, classes, values = arrays
    bad = values.copy()
    bad[5, 4] += 0.5
    path = write_dsprites_npz(tmp_path / "v.npz", imgs, classes, bad)
    _expect(path, "factor 'posX': values disagree with classes")


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="valid names: .*dsprites, dsprites_procedural"):
        get("dsprite")


def test_find_file(tmp_path, npz, monkeypatch):
    from benchmark.datasets import DATASETS

    monkeypatch.setenv("DBENCH_DATA_DIR", str(tmp_path))
    assert DATASETS["dsprites"].find_file() == npz
    assert DATASETS["dsprites_procedural"].find_file() is None
    os.remove(npz)
    assert DATASETS["dsprites"].find_file() is None
