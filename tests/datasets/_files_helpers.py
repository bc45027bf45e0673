"""Writers of small dataset files in the exact official formats, for the loader tests."""

import numpy as np

DSPRITES_SMALL_SIZES = (1, 3, 2, 4, 3, 2)  # colour constant, like the official file


def dsprites_arrays(sizes=DSPRITES_SMALL_SIZES, seed=0):
    """imgs (N,64,64) uint8 0/1 (random, so every row is recognisable), classes (N,6) int64, values (N,6) f64."""
    n = int(np.prod(sizes))
    classes = np.stack(np.unravel_index(np.arange(n), sizes), axis=1).astype(np.int64)
    grids = [np.array([1.0]), np.array([1.0, 2.0, 3.0]), np.linspace(0.5, 1, 6), np.linspace(0, 2 * np.pi, 40),
             np.linspace(0, 1, 32), np.linspace(0, 1, 32)]
    values = np.stack([grids[k][classes[:, k]] for k in range(6)], axis=1)
    imgs = np.random.default_rng(seed).integers(0, 2, size=(n, 64, 64), dtype=np.uint8)
    return imgs, classes, values


def write_dsprites_npz(path, imgs, classes, values, with_metadata=True):
    """Like the official npz: compressed, with a pickled Python dict ``metadata`` member."""
    members = dict(imgs=imgs, latents_classes=classes, latents_values=values)
    if with_metadata:
        meta = np.empty((), dtype=object)
        meta[()] = {"date": "April 2017", "latents_names": ("color", "shape", "scale", "orientation", "posX", "posY")}
        members["metadata"] = meta
    np.savez_compressed(path, **members)
    with np.load(path, allow_pickle=True) as z:  # the member really is a pickle
        assert z["metadata"].dtype == object
    return path


def write_dsprites_hdf5(path, imgs, classes, values):
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset("imgs", data=imgs, chunks=(min(len(imgs), 8), 2, 4), compression="gzip")
        g = f.create_group("latents")
        g.create_dataset("classes", data=classes)
        g.create_dataset("values", data=values)
    return path
