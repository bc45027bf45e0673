"""Shared machinery of the metrics: input checks, discretisation, discrete MI, the shared grid encoding.

Array conventions (every public boundary): codes ``(N, D)`` float, factors ``(N, K)`` integer class
indices, samples first. All randomness comes from the ``numpy.random.Generator`` passed in.

The grid encoding makes one evaluation cost at most one encoder pass per grid image: every ground-truth dataset
here is a complete factor grid with one image per grid point, so the reference protocol's ≈3 M encoder calls
per model (β-VAE score 1.92 M, FactorVAE 0.97 M on dSprites' 737,280 images) are look-ups of the same few
hundred thousand images. Encoding each grid point once (mean and log-variance) gives exactly the same
statistics: ``mean`` codes are the stored means, ``sampled`` codes draw a fresh ``z = mu + exp(logvar / 2) * eps``
per use, as a fresh call of a stochastic encoder would.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from benchmark._gaussian import reparameterize
from benchmark._io import UserError


class ProtocolError(ValueError, UserError):
    """A metric protocol parameter that is unknown or has a value of the wrong kind or range."""

REPRESENTATIONS = ("mean", "sampled")

#: Reference number of equal-width bins per code dimension (disentanglement_lib's histogram discretizer).
NUM_BINS = 20


# ---------------------------------------------------------------------------------------------- checks
def check_codes(codes: Any, name: str = "codes") -> np.ndarray:
    """``(N, D)`` finite float codes as float64; ValueError naming the shape or the first bad entry."""
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N samples, D latent dims), got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least 2 samples and 1 dim, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype} with shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        row, col = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} of shape {arr.shape} contains a non-finite value ({arr[row, col]}) at [{row}, {col}]; "
            "check the encoder output (a diverged model gives NaN codes)"
        )
    return arr


def check_factors(factors: Any, name: str = "factors") -> np.ndarray:
    """``(N, K)`` non-negative integer class indices as int64; ValueError naming the shape."""
    arr = np.asarray(factors)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N samples, K factors) of class indices, got shape {arr.shape}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least one factor, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} of shape {arr.shape} must hold finite integer class indices, got dtype {arr.dtype}")
        if not np.all(np.mod(arr, 1) == 0):
            raise ValueError(f"{name} of shape {arr.shape} must hold integer class indices, got fractional values")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} of shape {arr.shape} must hold class indices >= 0, got {arr.min()}")
    return arr


def check_pair(codes: Any, factors: Any, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Check one (codes, factors) pair and that their sample counts agree."""
    c = check_codes(codes, f"codes_{split}")
    f = check_factors(factors, f"factors_{split}")
    if c.shape[0] != f.shape[0]:
        raise ValueError(
            f"codes_{split} and factors_{split} must have the same number of samples, "
            f"got codes_{split} shape {c.shape} and factors_{split} shape {f.shape}"
        )
    return c, f


def check_train_test(codes_train, factors_train, codes_test, factors_test, *, metric: str):
    """Check train and test pairs (test required) and that they agree in D and K."""
    ctr, ftr = check_pair(codes_train, factors_train, "train")
    if codes_test is None or factors_test is None:
        raise ValueError(f"{metric} needs a held-out test split: pass codes_test and factors_test")
    cte, fte = check_pair(codes_test, factors_test, "test")
    if cte.shape[1] != ctr.shape[1] or fte.shape[1] != ftr.shape[1]:
        raise ValueError(
            f"{metric}: train and test splits must have the same dims, got codes_train {ctr.shape}, "
            f"codes_test {cte.shape}, factors_train {ftr.shape}, factors_test {fte.shape}"
        )
    return ctr, ftr, cte, fte


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def as_rng(rng: Any) -> np.random.Generator:
    """``rng`` as a Generator: None → seed 0 (documented default), int/SeedSequence → seeded PCG64."""
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, an int seed or a SeedSequence, got {type(rng).__name__}")


_FIT_JOBS = 1


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a Ray trial's or a batch job's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def fit_jobs(jobs: int | None) -> Iterator[None]:
    """Inside the block, the independent scikit-learn fits of a metric (DCI per factor, SAP per code,
    explicitness per factor) run on ``jobs`` processes (None: :func:`available_cpus`). Each fit gets the
    ``random_state`` the serial order draws for it, so the values are identical to a serial run."""
    global _FIT_JOBS
    before = _FIT_JOBS
    _FIT_JOBS = available_cpus() if jobs is None else check_positive_int(jobs, "jobs")
    try:
        yield
    finally:
        _FIT_JOBS = before


def current_fit_jobs() -> int:
    """The processes or threads the fits of a metric may use now (:func:`fit_jobs`; 1 outside its blocks)."""
    return _FIT_JOBS


_PROGRESS: Callable[[str, int, int], None] | None = None


@contextlib.contextmanager
def reporting(fn: Callable[[str, int, int], None] | None) -> Iterator[None]:
    """Inside the block, a metric's long steps call ``fn(what, done, total)`` as they advance: ``"images encoded"``
    (the shared grid encoding), ``"points"`` (sampled points, votes or images), ``"fits"`` (classifiers fitted)."""
    global _PROGRESS
    before, _PROGRESS = _PROGRESS, fn
    try:
        yield
    finally:
        _PROGRESS = before


def report(what: str, done: int, total: int) -> None:
    """Tell the :func:`reporting` callback, if any, that ``done`` of ``total`` units of ``what`` are done."""
    if _PROGRESS is not None:
        _PROGRESS(what, int(done), int(total))


def map_fits(fn: Callable[..., Any], tasks: list[tuple], cost: list[float] | None = None) -> list[Any]:
    """``[fn(*task) for task in tasks]``, spread over the :func:`fit_jobs` processes when there are several
    (joblib; the largest ``cost`` first, so long fits do not wait at the end). Results keep the tasks' order;
    each finished fit is reported (:func:`report`)."""
    out: list[Any] = [None] * len(tasks)
    if _FIT_JOBS <= 1 or len(tasks) <= 1:
        order, done = range(len(tasks)), (fn(*task) for task in tasks)
    else:
        from joblib import Parallel, delayed

        order = sorted(range(len(tasks)), key=lambda i: -(cost[i] if cost else 0))
        done = Parallel(n_jobs=min(_FIT_JOBS, len(tasks)), batch_size=1, return_as="generator")(
            delayed(fn)(*tasks[i]) for i in order)
    for n, (i, result) in enumerate(zip(order, done), 1):
        out[i] = result
        report("fits", n, len(tasks))
    return out


def sklearn_seed(rng: np.random.Generator) -> int:
    """A ``random_state`` for one scikit-learn estimator, drawn from ``rng``."""
    return int(rng.integers(0, 2**31 - 1))


def logistic_ovr(seed: int):
    """The reference's ``LogisticRegression()``: liblinear one-vs-rest, C = 1 (scikit-learn < 0.22 defaults);
    current scikit-learn needs the explicit wrapper for that scheme."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    return OneVsRestClassifier(LogisticRegression(solver="liblinear", C=1.0, random_state=seed))


def to_float(value: Any) -> float:
    """Plain Python float (JSON and pandas friendly)."""
    return float(np.asarray(value, dtype=np.float64))


# ---------------------------------------------------------------------------------- discretisation, MI
def discretize(codes: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Bin each code dim into ``num_bins`` equal-width bins over its sampled range: ``(N, D)`` int64 in [0, num_bins).

    Bin edges are ``numpy.histogram_bin_edges(codes[:, d], num_bins)``; a value lands in the last bin whose
    left edge is <= it (the maximum in the last bin), as in disentanglement_lib's histogram discretizer. A
    constant dim falls in one bin (numpy widens a zero range to ±0.5).
    """
    codes = check_codes(codes)
    num_bins = check_positive_int(num_bins, "num_bins")
    out = np.empty(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):  # D is ~10: one vectorised pass per dim
        x = codes[:, d]
        edges = np.histogram_bin_edges(x, bins=num_bins)
        lo, width = edges[0], edges[-1] - edges[0]
        # arithmetic guess of the bin, then one correction step against the actual edges, so the result
        # equals a search of the edges bit for bit (the guess is off by at most one at an edge)
        b = np.clip(np.floor((x - lo) / width * num_bins).astype(np.int64), 0, num_bins - 1)
        b -= x < edges[b]
        b += (b + 1 < num_bins) & (x >= edges[np.minimum(b + 1, num_bins)])
        out[:, d] = b
    return out


def _relabel(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(dense labels, number of values per column)``: small non-negative labels (binned codes, factor classes)
    as they are (an unused value adds an all-zero row, i.e. nothing, to MI or entropy), others as 0..n_j-1."""
    if labels.size and labels.min() >= 0 and labels.max() < 256:
        return labels, np.full(labels.shape[1], int(labels.max()) + 1, dtype=np.int64)
    out = np.empty(labels.shape, dtype=np.int64)
    sizes = np.empty(labels.shape[1], dtype=np.int64)
    for j in range(labels.shape[1]):
        uniq, inv = np.unique(labels[:, j], return_inverse=True)
        out[:, j] = inv.reshape(-1)
        sizes[j] = uniq.size
    return out, sizes


def contingency_tables(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Joint counts ``(Da, Db, A, B)`` int64 of every column pair of labels ``a (N, Da)``, ``b (N, Db)``, all
    from one ``bincount`` over the flattened key ``(i, j, a_ni, b_nj)``."""
    a, na = _relabel(a)
    b, nb = _relabel(b)
    A, B = int(na.max()), int(nb.max())
    da, db = a.shape[1], b.shape[1]
    # key(n, i, j) = ((i·Db + j)·A + a_ni)·B + b_nj splits into a part of (n, i) plus a part of (n, j)
    left = np.arange(da, dtype=np.int64)[None, :] * (db * A * B) + a * B
    right = np.arange(db, dtype=np.int64)[None, :] * (A * B) + b
    keys = left[:, :, None] + right[:, None, :]
    counts = np.bincount(keys.reshape(-1), minlength=da * db * A * B)
    return counts.reshape(da, db, A, B)


#: Largest number of cells of the batched contingency tables (above it MI is counted sparsely per pair).
_MAX_TABLE = 2**25


def _plugin_mi(counts: np.ndarray, n: float) -> np.ndarray:
    """Plug-in MI (nats) of joint counts ``(..., A, B)`` of ``n`` samples, summed over the last two axes."""
    pab = counts.astype(np.float64) / n
    pa = pab.sum(axis=-1, keepdims=True)
    pb = pab.sum(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pab > 0, pab * (np.log(pab) - np.log(pa) - np.log(pb)), 0.0)
    return np.maximum(terms.sum(axis=(-2, -1)), 0.0)  # rounding can give -1e-17 for independent columns


def _num_values(labels: np.ndarray) -> int:
    if labels.min() >= 0 and labels.max() < 256:
        return int(labels.max()) + 1
    return max(np.unique(labels[:, j]).size for j in range(labels.shape[1]))


def _sparse_mi(x: np.ndarray, y: np.ndarray) -> float:
    _, xi = np.unique(x, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    ny = yi.max() + 1
    joint, counts = np.unique(xi.astype(np.int64) * ny + yi, return_counts=True)
    n = x.size
    px, py, pxy = np.bincount(xi) / n, np.bincount(yi) / n, counts / n
    xs, ys = np.divmod(joint, ny)
    return max(float(np.sum(pxy * (np.log(pxy) - np.log(px[xs]) - np.log(py[ys])))), 0.0)


def discrete_mutual_info(a: Any, b: Any) -> np.ndarray:
    """Plug-in mutual information in nats between every column of ``a (N, Da)`` and of ``b (N, Db)``: ``(Da, Db)``.

    Equal to ``sklearn.metrics.mutual_info_score(b[:, j], a[:, i])`` for every pair (the per-pair loop of
    disentanglement_lib), computed from one batch of contingency tables.
    """
    a = check_factors(a, "a")
    b = check_factors(b, "b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must have the same number of samples, got shapes {a.shape} and {b.shape}")
    da, db = a.shape[1], b.shape[1]
    if da * db * _num_values(a) * _num_values(b) > _MAX_TABLE:
        # many distinct labels: dense tables would not fit; count the joint labels sparsely per pair
        return np.array([[_sparse_mi(a[:, i], b[:, j]) for j in range(db)] for i in range(da)])
    return _plugin_mi(contingency_tables(a, b), float(a.shape[0]))


def pairwise_mutual_info(a: Any) -> np.ndarray:
    """Symmetric ``(D, D)`` plug-in MI (nats) between the columns of ``a (N, D)``, zero diagonal: the values of
    :func:`discrete_mutual_info` ``(a, a)``, counting only the D(D−1)/2 pairs i < j."""
    a = check_factors(a, "a")
    dense, sizes = _relabel(a)
    d = a.shape[1]
    out = np.zeros((d, d))
    if d < 2:
        return out
    A = int(sizes.max())
    ii, jj = np.triu_indices(d, k=1)
    if ii.size * A * A > _MAX_TABLE:  # many distinct labels: the general (sparse per pair) path
        mi = discrete_mutual_info(a, a)
        np.fill_diagonal(mi, 0.0)
        return mi
    keys = (np.arange(ii.size, dtype=np.int64)[None, :] * A + dense[:, ii]) * A + dense[:, jj]
    mi = _plugin_mi(np.bincount(keys.reshape(-1), minlength=ii.size * A * A).reshape(ii.size, A, A), a.shape[0])
    out[ii, jj] = mi
    out[jj, ii] = mi
    return out


def discrete_entropy(labels: Any) -> np.ndarray:
    """Plug-in entropy in nats of each column of ``labels (N, K)``: ``(K,)``; a uniform 3-class sample gives log 3."""
    labels = check_factors(labels, "labels")
    dense, sizes = _relabel(labels)
    out = np.empty(labels.shape[1])
    for j in range(labels.shape[1]):
        counts = np.bincount(dense[:, j], minlength=int(sizes[j]))
        p = counts[counts > 0] / labels.shape[0]
        out[j] = -np.sum(p * np.log(p))
    return out


# ------------------------------------------------------------------------------------- grid encoding
class GridEncoding:
    """Lazy, memoised encoding of a ground-truth dataset's grid: posterior means and log-variances by index.

    ``encode_fn(indices (n,) int64) -> (mu (n, D), logvar (n, D))`` is called only for grid points not
    encoded before (in batches of ``batch_size``), so every image of the grid goes through the encoder at
    most once per evaluation, whatever the metrics and representations that share this object.
    :attr:`encoder_passes` counts the images encoded so far.
    """

    def __init__(self, dataset: Any, encode_fn: Callable[[np.ndarray], tuple[Any, Any]], batch_size: int = 1024):
        self.dataset = dataset
        self._encode_fn = encode_fn
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.size = int(len(dataset))
        self.encoder_passes = 0
        self._mu: np.ndarray | None = None
        self._logvar: np.ndarray | None = None
        self._done = np.zeros(self.size, dtype=bool)

    @classmethod
    def from_images(cls, dataset: Any, encode_images_fn: Callable[[np.ndarray], tuple[Any, Any]], batch_size: int = 1024):
        """Grid encoding whose encoder takes images ``(n, C, H, W)`` float32 (fetched from ``dataset.images``)."""
        return cls(dataset, lambda idx: encode_images_fn(dataset.images(idx)), batch_size)

    def _encode(self, todo: np.ndarray) -> None:
        for start in range(0, todo.size, self.batch_size):
            idx = todo[start : start + self.batch_size]
            mu, logvar = self._encode_fn(idx)
            mu = np.asarray(mu, dtype=np.float64).reshape(len(idx), -1)
            logvar = np.asarray(logvar, dtype=np.float64).reshape(mu.shape)
            if not np.all(np.isfinite(mu)) or not np.all(np.isfinite(logvar)):
                raise ValueError(f"encoder returned non-finite values for mu {mu.shape} / logvar {logvar.shape}")
            if self._mu is None:
                self._mu = np.zeros((self.size, mu.shape[1]), dtype=np.float32)
                self._logvar = np.zeros((self.size, mu.shape[1]), dtype=np.float32)
            elif mu.shape[1] != self._mu.shape[1]:
                raise ValueError(f"encoder returned {mu.shape[1]} latent dims, earlier batches had {self._mu.shape[1]}")
            self._mu[idx] = mu
            self._logvar[idx] = logvar
            self._done[idx] = True
            self.encoder_passes += len(idx)
            report("images encoded", start + len(idx), todo.size)

    def moments(self, indices: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, logvar)``, each ``(n, D)`` float64, of the grid points ``indices`` (encoding any new ones)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.size):
            raise ValueError(f"grid indices must lie in [0, {self.size}), got [{idx.min()}, {idx.max()}]")
        todo = np.unique(idx[~self._done[idx]])
        if todo.size:
            self._encode(todo)
        return self._mu[idx].astype(np.float64), self._logvar[idx].astype(np.float64)

    def codes(self, indices: Any, kind: str, rng: np.random.Generator) -> np.ndarray:
        """Codes ``(n, D)`` float64: ``mean`` → mu; ``sampled`` → mu + exp(logvar/2)·eps, a fresh eps per row."""
        if kind not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {kind!r}")
        mu, logvar = self.moments(indices)
        if kind == "mean":
            return mu
        return reparameterize(mu, logvar, rng.standard_normal(mu.shape))

    def representation(self, kind: str) -> "GridRepresentation":
        return GridRepresentation(self, kind)


class GridRepresentation:
    """One representation (``mean`` or ``sampled``) of a :class:`GridEncoding`; what the sampling wrappers take."""

    def __init__(self, grid: GridEncoding, kind: str):
        if kind not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {kind!r}")
        self.grid = grid
        self.kind = kind


def code_sampler(dataset: Any, representation: Any) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """``f(factors (n, K), rng) -> codes (n, D) float64`` for a :class:`GridRepresentation` or a plain
    ``representation_fn(images (n, C, H, W)) -> codes (n, D)``."""
    if isinstance(representation, GridRepresentation):
        grid, kind = representation.grid, representation.kind
        if grid.dataset is not dataset and len(grid.dataset) != len(dataset):
            raise ValueError("the grid encoding was built for another dataset")
        return lambda factors, rng: grid.codes(dataset.factors_to_index(factors), kind, rng)
    if callable(representation):
        return lambda factors, rng: check_codes(
            representation(dataset.sample_observations_from_factors(factors, rng)), "representation_fn output"
        )
    raise ValueError(
        "representation must be a GridRepresentation or a callable images -> codes, "
        f"got {type(representation).__name__}"
    )


def sample_codes(dataset: Any, sampler, num_points: int, rng: np.random.Generator, chunk: int = 10_000):
    """``(codes (n, D), factors (n, K))`` for ``num_points`` factor vectors drawn uniformly over the grid."""
    num_points = check_positive_int(num_points, "num_points", 2)
    factors = dataset.sample_factors(num_points, rng)
    codes = []
    for s in range(0, num_points, chunk):
        codes.append(sampler(factors[s : s + chunk], rng))
        report("points", s + len(codes[-1]), num_points)
    return np.concatenate(codes), factors


def sample_train_test(dataset: Any, representation: Any, protocol: dict[str, Any], rng: np.random.Generator):
    """``(codes_train, factors_train, codes_test, factors_test)`` of ``protocol["num_train"]`` then
    ``protocol["num_test"]`` points drawn uniformly over the grid (in that order, from ``rng``): the split of
    the metrics that fit on one sample and score on another (DCI, SAP, modularity/explicitness)."""
    sampler = code_sampler(dataset, representation)
    train, test = (sample_codes(dataset, sampler, protocol[n], rng) for n in ("num_train", "num_test"))
    return *train, *test


def resolve(metric: str, defaults: dict[str, Any], protocol: dict[str, Any], choices: dict | None = None) -> dict[str, Any]:
    """Protocol defaults updated by ``protocol``, every given value checked against its default's kind.

    Integers (sample sizes, batch sizes, bins, chunk sizes) must be integers >= 1, numbers finite and >= 0,
    text text (or, for ``factors``, a list of names); ``choices`` lists the valid values of a parameter. The
    first problem raises a ValueError naming ``<metric>.<parameter>``, what was expected and what was given, so a
    typo fails before anything is computed or overwritten.
    """
    unknown = sorted(set(protocol) - set(defaults))
    if unknown:
        raise ProtocolError(f"{metric}: unknown protocol parameter(s) {unknown}; valid: {sorted(defaults)}")
    for name, value in protocol.items():
        expected = _expected(defaults[name], value, name, (choices or {}).get(name))
        if expected:
            raise ProtocolError(f"{metric}.{name} must be {expected}, got {value!r}")
    return {**defaults, **protocol}


def _expected(default: Any, value: Any, name: str, valid: Sequence | None) -> str:
    """What ``value`` should have been ('' when it is fine), judged by the kind of ``default``."""
    if valid is not None:
        return "" if value in valid else f"one of {', '.join(map(str, valid))}"
    if isinstance(default, bool):
        return "" if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return "" if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else "an integer >= 1"
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) and value >= 0
        return "" if ok else "a finite number >= 0"
    if isinstance(default, str):
        names = isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value)
        return "" if isinstance(value, str) and value or (name == "factors" and names) else "a non-empty text"
    return ""


def protocol_params(**params: Any) -> dict[str, Any]:
    """JSON-friendly copy of protocol parameters for the result record."""
    return {k: v.item() if isinstance(v, np.generic) else list(v) if isinstance(v, (tuple, list)) else v
            for k, v in params.items()}


def factor_names(dataset: Any, k: int) -> Sequence[str]:
    names = getattr(dataset, "factor_names", None)
    return list(names) if names is not None and len(names) == k else [f"factor{j}" for j in range(k)]
