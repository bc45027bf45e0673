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


def _refuse_unpickling():
    raise AssertionError("the pickled dSprites `metadata` member was unpickled")


class TrapMetadata:
    """Pickles fine; unpickling it raises: proof that a loader never unpickles ``metadata``."""

    def __reduce__(self):
        return (_refuse_unpickling, ())


def write_dsprites_npz(path, imgs, classes, values, with_metadata=True, trap=False):
    """Like the official npz: compressed, with a pickled Python object ``metadata`` member
    (a dict like the official one, or with ``trap=True`` an object whose unpickling raises)."""
    import zipfile

    members = dict(imgs=imgs, latents_classes=classes, latents_values=values)
    if with_metadata:
        meta = np.empty((), dtype=object)
        meta[()] = TrapMetadata() if trap else {
            "date": "April 2017", "latents_names": ("color", "shape", "scale", "orientation", "posX", "posY")}
        members["metadata"] = meta
    np.savez_compressed(path, **members)
    if with_metadata:  # the member really is a pickled object array
        with zipfile.ZipFile(path) as z, z.open("metadata.npy") as f:
            version = np.lib.format.read_magic(f)
            assert version == (1, 0) and np.lib.format.read_array_header_1_0(f)[2] == object
    return path


def write_dsprites_hdf5(path, imgs, classes, values):
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset("imgs", data=imgs, chunks=(min(len(imgs), 8), 2, 4), compression="gzip")
        g = f.create_group("latents")
        g.create_dataset("classes", data=classes)
        g.create_dataset("values", data=values)
    return path


SHAPES_SMALL_SIZES = (2, 3, 2, 2, 2, 3)
_SHAPES_GRIDS = [np.arange(10) / 10, np.arange(10) / 10, np.arange(10) / 10, np.linspace(0.75, 1.25, 8),
                 np.arange(4.0), np.linspace(-30, 30, 15)]


def shapes3d_arrays(sizes=SHAPES_SMALL_SIZES, seed=0):
    """images (N,64,64,3) uint8 random, labels (N,6) float64 VALUES (with float noise), classes (N,6)."""
    n = int(np.prod(sizes))
    classes = np.stack(np.unravel_index(np.arange(n), sizes), axis=1).astype(np.int64)
    rng = np.random.default_rng(seed)
    # every other class of the official grid, so classes != values and nearest-value mapping is exercised
    labels = np.stack([_SHAPES_GRIDS[k][2 * classes[:, k]] for k in range(6)], axis=1)
    labels = labels + rng.normal(0, 1e-9, labels.shape)  # like float32 -> float64 round-off in the real file
    images = rng.integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8)
    return images, labels, classes


def write_shapes3d_h5(path, images, labels):
    """Like the official file: gzip-compressed chunked ``images`` and float64 ``labels``."""
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images, chunks=(min(len(images), 10),) + images.shape[1:], compression="gzip")
        f.create_dataset("labels", data=labels)
    return path
