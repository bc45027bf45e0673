"""3D Shapes: the real-file loader ``shapes3d`` and the structured stand-in ``shapes3d_procedural``.

3D Shapes (Burgess & Kim 2018, https://github.com/deepmind/3d-shapes) is the complete grid
floor_hue (10) x wall_hue (10) x object_hue (10) x scale (8) x shape (4) x orientation (15) of 64x64 RGB
MuJoCo renders, 480,000 in all, row-major with orientation fastest. The official ``3dshapes.h5`` stores
``images`` (N, 64, 64, 3) uint8 and ``labels`` (N, 6) float64 factor VALUES (not classes).

The scene parameters of the official renders were never published, so no pixel-exact regeneration is
possible. ``shapes3d_procedural`` is a structural stand-in on the exact grid, ordering and values (see
``docs/DATASETS.md``): results on it are NOT comparable with published 3D Shapes numbers, and its name,
``stand_in`` flag and ``describe()`` say so.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import _io
from benchmark.datasets import register
from benchmark.datasets._files import (DatasetFileError, FileSpec, check_array, derive_grid, hdf5_dataset, open_hdf5,
                                       read_hdf5, sniff_format)
from benchmark.datasets.base import GroundTruthDataset

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
SHAPE_NAMES = ("cube", "cylinder", "sphere", "capsule")
IMAGE_SIZE = 64
N_GEOMETRIES = 8 * 4 * 15  # index % 480 is the geometry (scale, shape, orientation); index // 480 the colours


def factor_values() -> tuple[np.ndarray, ...]:
    """The official value grid of each factor (``labels`` holds these values)."""
    hue = np.arange(10) / 10.0  # 1.0 (= 0.0 as a hue) is not used
    return (
        hue, hue.copy(), hue.copy(),  # floor, wall and object hues: three separate arrays
        np.linspace(0.75, 1.25, 8),  # the official README's "[0, 1]" is wrong
        np.arange(4, dtype=np.float64),  # 0 cube, 1 cylinder, 2 sphere, 3 capsule
        np.linspace(-30.0, 30.0, 15),  # camera azimuth in degrees
    )


OFFICIAL_VALUES = factor_values()


class _ShapesGrid(GroundTruthDataset):
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (3, IMAGE_SIZE, IMAGE_SIZE)
    class_names = {"shape": SHAPE_NAMES}
    preview_factors = (1, 6, 3, 4, 0, 7)  # distinct hues so every surface is recognisable in `datasets show`

    def __init__(self) -> None:
        self.factor_values = factor_values()


# ============================================================================================ stand-in scene
# World frame: x right, y away from the camera at azimuth 0, z up; the floor is z = 0. A square room of
# half-width ROOM with walls of height WALL_H; above the walls the camera sees the light-blue backdrop.
ROOM = 3.0
WALL_H = 1.9
CAM_TARGET = np.array([0.0, 0.0, 0.55])
CAM_DIST = 3.8
CAM_ELEV = np.deg2rad(16.0)
FOV = np.deg2rad(45.0)
SUPERSAMPLE = 4  # 4x4 rays per pixel: anti-aliased edges, like the official renders
LIGHT = np.array([-0.45, -0.6, 1.0]) / np.linalg.norm([-0.45, -0.6, 1.0])  # towards the light, fixed in the world
AMBIENT = 0.3
BACKDROP_RGB = np.array([153.0, 226.0, 249.0]) / 255.0
SURFACES = ("floor", "wall", "object", "backdrop")
_EPS = 1e-6


def _near_root(a, b, c):
    """The smaller root t of ``a t^2 + 2 b t + c = 0`` per ray, inf where there is none (or a ~ 0)."""
    disc = b * b - a * c
    ok = (disc >= 0) & (a > 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, (-b - np.sqrt(np.where(ok, disc, 0.0))) / np.where(a > 1e-12, a, 1.0), np.inf)


def _hit_sphere(o, d, centre, r):
    oc = o - centre
    b = np.einsum("ij,ij->i", d, oc)
    c = np.einsum("ij,ij->i", oc, oc) - r * r
    t = _near_root(1.0, b, c)  # d is unit length
    t = np.where(t > _EPS, t, np.inf)
    p = o + d * np.where(np.isfinite(t), t, 0.0)[:, None]
    return t, (p - centre) / r


def _hit_box(o, d, half):
    centre = np.array([0.0, 0.0, half])
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1 = (centre - half - o) * inv
        t2 = (centre + half - o) * inv
    tlo, thi = np.minimum(t1, t2), np.maximum(t1, t2)
    tmin, tmax = tlo.max(axis=1), thi.min(axis=1)
    ok = (tmax >= tmin) & (tmin > _EPS)
    t = np.where(ok, tmin, np.inf)
    axis = tlo.argmax(axis=1)
    n = np.zeros_like(d)
    n[np.arange(d.shape[0]), axis] = -np.sign(d[np.arange(d.shape[0]), axis])
    return t, n


def _hit_cylinder_z(o, d, r, h):
    """Vertical cylinder of radius r on the floor, 0 <= z <= h, with its top cap."""
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = o[:, 0] * d[:, 0] + o[:, 1] * d[:, 1]
    c = o[:, 0] ** 2 + o[:, 1] ** 2 - r * r
    ts = _near_root(a, b, c)
    zs = o[:, 2] + ts * d[:, 2]
    ts = np.where((ts > _EPS) & (zs >= 0) & (zs <= h), ts, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        tc = (h - o[:, 2]) / d[:, 2]
    xc, yc = o[:, 0] + tc * d[:, 0], o[:, 1] + tc * d[:, 1]
    tc = np.where((tc > _EPS) & (xc * xc + yc * yc <= r * r), tc, np.inf)
    t = np.minimum(ts, tc)
    p = o + d * np.where(np.isfinite(t), t, 0.0)[:, None]
    side = ts <= tc
    n = np.where(side[:, None], np.stack([p[:, 0] / r, p[:, 1] / r, np.zeros_like(t)], 1), np.array([0.0, 0.0, 1.0]))
    return t, n


def _hit_capsule_x(o, d, r, half_len):
    """Capsule lying on the floor along x: segment (+-half_len, 0, r), radius r."""
    oy, oz = o[:, 1], o[:, 2] - r
    a = d[:, 1] ** 2 + d[:, 2] ** 2
    b = oy * d[:, 1] + oz * d[:, 2]
    c = oy * oy + oz * oz - r * r
    t = _near_root(a, b, c)  # the body first, then the two end caps where they are closer
    xb = o[:, 0] + t * d[:, 0]
    t = np.where((t > _EPS) & (np.abs(xb) <= half_len), t, np.inf)
    pb = o + d * np.where(np.isfinite(t), t, 0.0)[:, None]
    n = np.stack([np.zeros_like(t), pb[:, 1] / r, (pb[:, 2] - r) / r], 1)
    for sx in (-half_len, half_len):
        te, ne = _hit_sphere(o, d, np.array([sx, 0.0, r]), r)
        closer = te < t
        t = np.where(closer, te, t)
        n = np.where(closer[:, None], ne, n)
    return t, n


def _hit_object(o, d, shape: int, scale: float):
    if shape == 0:
        return _hit_box(o, d, 0.5 * scale)
    if shape == 1:
        return _hit_cylinder_z(o, d, 0.5 * scale, 1.0 * scale)
    if shape == 2:
        return _hit_sphere(o, d, np.array([0.0, 0.0, 0.55 * scale]), 0.55 * scale)
    if shape == 3:
        return _hit_capsule_x(o, d, 0.36 * scale, 0.42 * scale)
    raise ValueError(f"shape class must be 0..3, got {shape}")


def _camera_rays(azimuth_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Camera origin (3,) and unit ray directions (64*64*S*S, 3), pixel-major, S*S sub-rays per pixel."""
    az = np.deg2rad(azimuth_deg)
    eye = CAM_TARGET + CAM_DIST * np.array([np.sin(az) * np.cos(CAM_ELEV), -np.cos(az) * np.cos(CAM_ELEV), np.sin(CAM_ELEV)])
    fwd = CAM_TARGET - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    s = SUPERSAMPLE
    sub = (np.arange(s) + 0.5) / s
    coord = ((np.arange(IMAGE_SIZE)[:, None] + sub[None, :]).reshape(-1) / IMAGE_SIZE - 0.5) * 2 * np.tan(FOV / 2)
    coord = coord.reshape(IMAGE_SIZE, s)  # (pixel, sub-ray)
    # rows (down) x cols x sub-rows x sub-cols: the sub-rays grouped per pixel
    xx, yy = np.broadcast_arrays(coord[None, :, None, :], -coord[:, None, :, None])
    d = fwd[None, :] + xx.reshape(-1, 1) * right[None, :] + yy.reshape(-1, 1) * up[None, :]
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return eye, d


def render_geometry(scale: float, shape: int, azimuth_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-surface maps of one geometry: ``(shade (4, 4096) float32, coverage (4, 4096) uint8)``.

    Surfaces are (floor, wall, object, backdrop). ``shade[s, p]`` is the mean over the pixel's sub-rays of
    (ray hits surface s) x (lighting there); ``coverage[s, p]`` counts the sub-rays hitting s (0..16). Because
    lighting is linear in the material colour, a pixel's RGB is ``sum_s shade[s, p] * colour_s``.
    """
    eye, d = _camera_rays(azimuth_deg)
    m = d.shape[0]
    o = np.broadcast_to(eye, (m, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(d[:, 2] < 0, -eye[2] / d[:, 2], np.inf)
    pf = o + d * np.where(np.isfinite(t_floor), t_floor, 0.0)[:, None]
    floor = np.isfinite(t_floor) & (np.abs(pf[:, 0]) <= ROOM) & (np.abs(pf[:, 1]) <= ROOM)
    # Walls at x = -ROOM, x = +ROOM (side walls) and y = +ROOM (back wall); the camera is inside the room.
    t_wall = np.full(m, np.inf)
    wall_shade = np.zeros(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis, pos, shade in ((1, ROOM, 0.95), (0, ROOM, 0.72), (0, -ROOM, 0.72)):
            t = (pos - eye[axis]) / d[:, axis]
            p = o + d * np.where(np.isfinite(t), t, 0.0)[:, None]
            other = 1 - axis
            ok = (t > 0) & (p[:, 2] >= 0) & (p[:, 2] <= WALL_H) & (np.abs(p[:, other]) <= ROOM + 1e-9) & (t < t_wall)
            t_wall = np.where(ok, t, t_wall)
            wall_shade = np.where(ok, shade, wall_shade)
    wall = ~floor & np.isfinite(t_wall)
    t_env = np.where(floor, t_floor, np.where(wall, t_wall, np.inf))

    t_obj, n_obj = _hit_object(o, d, shape, scale)
    obj = t_obj < t_env
    floor &= ~obj
    wall &= ~obj
    backdrop = ~(floor | wall | obj)

    # Floor: darkens with distance from the camera, hard shadow where the object blocks the light.
    dist = np.linalg.norm(pf[:, :2] - eye[None, :2], axis=1)
    floor_shade = 1.0 - 0.4 * np.clip((dist - 2.0) / 5.0, 0.0, 1.0)
    t_shadow, _ = _hit_object(pf[floor], np.broadcast_to(LIGHT, (int(floor.sum()), 3)), shape, scale)
    shadowed = np.zeros(m, dtype=bool)
    shadowed[floor] = np.isfinite(t_shadow)
    floor_shade = np.where(shadowed, floor_shade * 0.45, floor_shade)
    obj_shade = AMBIENT + (1.0 - AMBIENT) * np.clip(n_obj @ LIGHT, 0.0, 1.0)

    hits = np.stack([floor, wall, obj, backdrop])  # (4, m)
    light = np.stack([floor_shade, wall_shade, obj_shade, np.ones(m)])
    shade = (hits * light).reshape(4, IMAGE_SIZE * IMAGE_SIZE, -1).mean(axis=2).astype(np.float32)
    coverage = hits.reshape(4, IMAGE_SIZE * IMAGE_SIZE, -1).sum(axis=2).astype(np.uint8)
    return shade, coverage


def hsv_hue_rgb(hue: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] of HSV(hue, 1, 1), vectorised: ``(...,)`` -> ``(..., 3)``."""
    h = (np.asarray(hue, dtype=np.float64) % 1.0) * 6.0
    k = (np.array([5.0, 3.0, 1.0]) + h[..., None]) % 6.0
    return 1.0 - np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _table_fingerprint() -> str:
    key = (ROOM, WALL_H, CAM_TARGET.tolist(), CAM_DIST, CAM_ELEV, FOV, SUPERSAMPLE, LIGHT.tolist(), AMBIENT, "v1")
    return hashlib.sha256(repr(key).encode()).hexdigest()[:12]


@register("shapes3d_procedural")
class Shapes3DProcedural(_ShapesGrid):
    """STAND-IN for 3D Shapes: the exact grid, ordering and values, drawn by a small ray caster.

    A square room (floor in HSV(floor_hue, 1, 1) darkening with distance, walls in HSV(wall_hue, 1, 1) with
    the side walls darker, a light-blue backdrop above the walls), one object centred on the floor in
    HSV(object_hue, 1, 1) with diffuse shading and a hard shadow, seen by a camera orbiting +-30 degrees in
    azimuth at a fixed elevation. Shapes: cube, vertical cylinder, sphere, capsule lying along x.

    Rendering is split once into the 480 geometries (scale x shape x orientation): each is stored as
    per-surface shading maps, and any image is composed as one small matrix product with the three hue
    colours. Geometries are rendered on first use (or all at once with ``cache=True``, stored in
    ``cache_dir`` as a 30 MiB file and reused).

    The official scenes were rendered by MuJoCo with unpublished parameters: results on this stand-in are
    NOT comparable with published 3D Shapes results.
    """

    name = "shapes3d_procedural"
    title = "3D Shapes STAND-IN (procedural imitation; results not comparable with published 3D Shapes numbers)"
    source = "procedural stand-in"
    stand_in = True

    def __init__(self, cache: bool = False, cache_dir: str | os.PathLike | None = None, progress: bool | None = None):
        super().__init__()
        self._shade = np.zeros((N_GEOMETRIES, 4, IMAGE_SIZE * IMAGE_SIZE), dtype=np.float32)
        self._coverage = np.zeros((N_GEOMETRIES, 4, IMAGE_SIZE * IMAGE_SIZE), dtype=np.uint8)
        self._ready = np.zeros(N_GEOMETRIES, dtype=bool)
        self.cache_path: Path | None = None
        # Colour rows per class: (10, 3) for each hue factor; the backdrop colour is fixed.
        self._hue_rgb = hsv_hue_rgb(self.factor_values[0]).astype(np.float32)
        if cache:
            self._load_or_build_table(cache_dir, progress)

    def _render(self, geometries: np.ndarray, progress: bool | None = False) -> None:
        from tqdm import tqdm

        todo = np.unique(geometries[~self._ready[geometries]])
        for g in tqdm(todo, desc="rendering 3D Shapes stand-in geometries", unit="geom", disable=None if progress is None else not progress):
            scale_c, shape_c, orient_c = np.unravel_index(int(g), FACTOR_SIZES[3:])
            scale, azimuth = self.factor_values[3][scale_c], self.factor_values[5][orient_c]
            self._shade[g], self._coverage[g] = render_geometry(scale, int(shape_c), azimuth)
            self._ready[g] = True

    def _load_or_build_table(self, cache_dir, progress) -> None:
        folder = Path(cache_dir) if cache_dir is not None else _io.cache_dir()
        self.cache_path = folder / f"shapes3d_procedural_{_table_fingerprint()}.npz"
        if self.cache_path.exists():
            try:
                with np.load(self.cache_path, allow_pickle=False) as z:
                    shade, coverage = z["shade"], z["coverage"]
                if shade.shape == self._shade.shape and coverage.shape == self._coverage.shape:
                    self._shade[:], self._coverage[:] = shade, coverage
                    self._ready[:] = True
                    return
            except (OSError, ValueError, KeyError):
                pass  # unreadable cache: rebuild it below
        self._render(np.arange(N_GEOMETRIES), progress=progress)
        with _io.atomic_path(self.cache_path) as tmp, open(tmp, "wb") as f:
            np.savez(f, shade=self._shade, coverage=self._coverage)

    def surface_maps(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-surface ``(shade, coverage)`` of the images ``indices``, each ``(N, 4, 64, 64)``: surfaces in order
        ``SURFACES`` = (floor, wall, object, backdrop); coverage counts the 16 sub-rays."""
        g = self.check_indices(indices) % N_GEOMETRIES
        self._render(g)
        shape = (-1, 4, IMAGE_SIZE, IMAGE_SIZE)
        return self._shade[g].reshape(shape), self._coverage[g].reshape(shape)

    def images_uint8(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        g = indices % N_GEOMETRIES
        if not self._ready[g].all():
            self._render(g)
        out = np.empty((indices.size, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        chunk = 1024  # bound the gathered tables (64 KiB per image)
        for start in range(0, indices.size, chunk):
            out[start : start + chunk] = self._compose(indices[start : start + chunk])
        return out

    def _compose(self, indices: np.ndarray) -> np.ndarray:
        """Images of ready geometries: one (N, 3, 4) @ (N, 4, P) matrix product with the surface colours."""
        g = indices % N_GEOMETRIES
        colour_idx = indices // N_GEOMETRIES  # floor_hue * 100 + wall_hue * 10 + object_hue
        colours = np.empty((indices.size, 3, 4), dtype=np.float32)  # (N, RGB, surface)
        colours[:, :, 0] = self._hue_rgb[colour_idx // 100]
        colours[:, :, 1] = self._hue_rgb[(colour_idx // 10) % 10]
        colours[:, :, 2] = self._hue_rgb[colour_idx % 10]
        colours[:, :, 3] = BACKDROP_RGB
        colours *= 255.0
        rgb = np.matmul(colours, self._shade[g])  # (N, 3, 4) @ (N, 4, P) -> (N, 3, P)
        rgb += 0.5
        np.clip(rgb, 0.0, 255.0, out=rgb)
        return rgb.astype(np.uint8).reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE)

    def describe(self) -> dict[str, Any]:
        note = ("STAND-IN: procedural imitation of 3D Shapes on the exact factor grid; not comparable with "
                "published 3D Shapes results")
        return {**super().describe(), "note": note}


# ============================================================================================ the real file
FILE_SPEC = FileSpec(
    dataset="shapes3d",
    filenames=("3dshapes.h5",),
    url="https://github.com/deepmind/3d-shapes (gs://3d-shapes/3dshapes.h5, 268 MB)",
    twin="shapes3d_procedural",
    twin_note=" (a stand-in on the same grid: results are not comparable with published 3D Shapes numbers)",
)


def labels_to_classes(labels: np.ndarray, path: Path, names=FACTOR_NAMES, decimals: int = 6):
    """Factor VALUES ``(N, K)`` -> ``(classes (N, K) int64, grids)`` by nearest grid value per factor.

    Each factor's grid is its distinct values (after rounding to ``decimals``, so float noise such as
    0.30000000000000004 does not split a class); never float equality. A value further than 1e-4 from
    its grid point means the column is not a discrete factor.
    """
    classes = np.empty(labels.shape, dtype=np.int64)
    grids = []
    for k in range(labels.shape[1]):
        col = labels[:, k]
        if not np.all(np.isfinite(col)):
            raise DatasetFileError(path, f"'labels' column {k} ({names[k]}) has NaN or infinite values", FILE_SPEC)
        grid = np.unique(np.round(col, decimals))
        if grid.size == 1:
            cls = np.zeros(col.size, dtype=np.int64)
        else:
            pos = np.clip(np.searchsorted(grid, col), 1, grid.size - 1)
            cls = np.where(np.abs(col - grid[pos - 1]) <= np.abs(col - grid[pos]), pos - 1, pos)
        err = np.abs(col - grid[cls]).max()
        if err > 1e-4:
            raise DatasetFileError(path, f"'labels' column {k} ({names[k]}) is not on a discrete grid (off by {err:.2g})", FILE_SPEC)
        classes[:, k] = cls
        # The grid value of a class is the mean of its labels (rounding only decides the classes), snapped
        # to the official value when it is one, so the real file reports exactly the published grid.
        value = np.bincount(cls, weights=col, minlength=grid.size) / np.bincount(cls, minlength=grid.size)
        if k < len(OFFICIAL_VALUES):
            near = np.abs(value[:, None] - OFFICIAL_VALUES[k][None, :])
            if np.all(near.min(axis=1) <= 1e-6):
                value = OFFICIAL_VALUES[k][near.argmin(axis=1)]
        grids.append(value)
    return classes, grids


@register("shapes3d")
class Shapes3D(_ShapesGrid):
    """The official ``3dshapes.h5``: ``images`` (N, 64, 64, 3) uint8 and ``labels`` (N, 6) factor values.

    Args:
        path: the file, or a folder holding it; default ``3dshapes.h5`` in ``benchmark._io.data_dir()``.
        cache: ``False`` reads the whole uint8 array into memory once (5.5 GiB for the real file), in large
            sorted slices with a progress bar. ``True`` converts it once to an uncompressed ``.npy`` in
            ``cache_dir`` (keyed by the file's path, size and mtime) and memory-maps it: for machines with less
            memory, and instant on later loads.
        progress: tqdm bar while reading (``None``: only on a terminal).

    Labels become classes by nearest grid value; the grid must be complete and row-major (orientation
    fastest). Images are stored channel-first (N, 3, 64, 64) so a batch needs no transpose.

    Raises:
        DatasetFileError: (a ValueError) naming the path, the problem and where to get the file.
    """

    name = "shapes3d"
    title = "3D Shapes (official file)"
    FILE_SPEC = FILE_SPEC

    def __init__(self, path: str | os.PathLike | None = None, cache: bool = False,
                 cache_dir: str | os.PathLike | None = None, progress: bool | None = None):
        super().__init__()
        self.path = FILE_SPEC.resolve(path)
        self.source = f"file:{self.path}"
        if sniff_format(self.path, FILE_SPEC) != "hdf5":
            raise DatasetFileError(self.path, "is an npz (zip) file; 3D Shapes comes as an HDF5 file", FILE_SPEC)
        with open_hdf5(self.path, FILE_SPEC) as h5:
            images = hdf5_dataset(h5, self.path, FILE_SPEC, "images")
            labels_ds = hdf5_dataset(h5, self.path, FILE_SPEC, "labels")
            check_array(images.shape, images.dtype, self.path, FILE_SPEC, "images", (None, IMAGE_SIZE, IMAGE_SIZE, 3), "uint8")
            check_array(labels_ds.shape, labels_ds.dtype, self.path, FILE_SPEC, "labels", (None, 6), "float")
            if images.shape[0] != labels_ds.shape[0]:
                raise DatasetFileError(self.path, f"'images' has {images.shape[0]} rows but 'labels' has "
                                       f"{labels_ds.shape[0]}", FILE_SPEC)
            classes, grids = labels_to_classes(read_hdf5(labels_ds, self.path, FILE_SPEC), self.path)
            columns, self.factor_sizes, _ = derive_grid(classes, None, self.path, FILE_SPEC, FACTOR_NAMES)
            self.factor_names = tuple(FACTOR_NAMES[c] for c in columns)
            self.factor_values = tuple(grids[c] for c in columns)
            self.cache_path: Path | None = None
            if cache:
                self._images = self._cached(images, cache_dir, progress)
            else:
                self._images = np.empty((images.shape[0], 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
                self._copy(images, self._images, progress)

    def _copy(self, images, out: np.ndarray, progress: bool | None) -> None:
        """Read ``images`` in large contiguous, chunk-aligned slices (per-index reads decompress a chunk
        each) and store them channel-first."""
        from tqdm import tqdm

        n = images.shape[0]
        chunk_rows = images.chunks[0] if images.chunks else 1
        step = max(chunk_rows, (16384 // chunk_rows) * chunk_rows)  # ~200 MB per read
        with tqdm(total=n, unit="img", desc=f"reading {self.path.name}", disable=None if progress is None else not progress) as bar:
            for start in range(0, n, step):
                block = read_hdf5(images, self.path, FILE_SPEC, slice(start, min(start + step, n)))
                out[start : start + block.shape[0]] = block.transpose(0, 3, 1, 2)
                bar.update(block.shape[0])

    def _cached(self, images, cache_dir, progress) -> np.ndarray:
        st = self.path.stat()
        key = hashlib.sha256(f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
        folder = Path(cache_dir) if cache_dir is not None else _io.cache_dir()
        self.cache_path = folder / f"shapes3d_{key}.chw.npy"
        shape = (images.shape[0], 3, IMAGE_SIZE, IMAGE_SIZE)
        if not self.cache_path.exists():
            with _io.atomic_path(self.cache_path) as tmp:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
                self._copy(images, out, progress)
                out.flush()
                del out
        arr = np.load(self.cache_path, mmap_mode="r", allow_pickle=False)
        if arr.shape != shape or arr.dtype != np.uint8:
            raise DatasetFileError(self.cache_path, f"converted cache has shape {arr.shape}, expected {shape}; delete it", FILE_SPEC)
        return arr

    def images_uint8(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(self._images[np.asarray(indices, dtype=np.int64)])
