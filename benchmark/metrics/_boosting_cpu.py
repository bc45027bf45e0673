"""The trees of one boosting stage grown by compiled loops (numba) on CPU: :mod:`._boosting`'s default engine there.

Each tree is grown as scikit-learn 1.9.1's ``DepthFirstTreeBuilder`` + ``BestSplitter`` + ``MSE`` criterion grow it,
statement by statement: the same depth-first node order, the same ``rand_r`` feature draws and constant-feature
bookkeeping, the same sample array (sorted by each visited feature, then ``partition_samples_final``), the same
``Criterion.update`` (forward from the last position, or backwards from the node's sum after a long step), the same
float64 expressions in the same order. So the arithmetic, not only the algorithm, is scikit-learn's
(:mod:`._boosting`'s docstring says why ties make that necessary).

The one difference is how a node's samples come to be sorted by a feature: scikit-learn re-sorts them at every node
(introsort, O(n log n)); here every feature's order is sorted once per fit and split stably from parent to children
(O(n)). Both give the same order when a node's values are distinct (and a feature with a single value in a node
leaves the sample array as it is, as scikit-learn's sort does); equal values are ordered by sample index here, by
introsort there — :mod:`._boosting`'s docstring, case (1).

The trees of a stage do not depend on each other (scikit-learn computes all the stage's gradients first), so they
are grown at once on ``threads`` threads (compiled without the GIL); each tree writes only its own outputs, so the
models do not depend on the thread count.
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np

from benchmark.metrics._boosting import EPSILON, FEATURE_THRESHOLD, MAX_DEPTH, RAND_R_MAX

_NODES = 2**MAX_DEPTH - 1  # internal slots of the complete tree, breadth-first
_FT = np.float32(FEATURE_THRESHOLD)
_RAND_MOD = RAND_R_MAX + 1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rand_int(state, low, high):
    """scikit-learn's ``rand_int(low, high, &state)`` with ``our_rand_r`` (32-bit xorshift); ``state`` a 1-array."""
    s = state[0]
    if s == 0:
        s = 1
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    state[0] = s
    return low + (s % _RAND_MOD) % (high - low)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def feature_draws(state, features, constants, n_known, is_constant, is_flat, order):
    """The feature draws of ``node_split_best`` (max_features = D) at one node: Fisher-Yates over ``features`` with
    ``rand_r`` (``state``, a 1-array), features known constant from the ancestors (the first ``n_known`` of
    ``constants``) skipped, those constant in this node (``is_constant``: max <= float32(min + FEATURE_THRESHOLD))
    recorded for the children. Writes the other features in the order they are evaluated to ``order`` and returns
    ``(how many, constant features for the children, the last feature whose sort ordered the samples)``: a feature
    with one value (``is_flat``) is sorted without moving any; -1 if none did. ``features`` and ``constants`` are
    the splitter's arrays, carried from node to node in depth-first order."""
    d = features.size
    f_i = d
    n_visited = 0
    n_found = 0
    n_drawn = 0
    n_total = n_known
    count = 0
    last = -1
    while f_i > n_total and (n_visited < d or n_visited <= n_found + n_drawn):
        n_visited += 1
        f_j = _rand_int(state, n_drawn, f_i - n_found)
        if f_j < n_known:
            features[n_drawn], features[f_j] = features[f_j], features[n_drawn]
            n_drawn += 1
            continue
        f_j += n_found
        f = features[f_j]
        if not is_flat[f]:
            last = f
        if is_constant[f]:
            features[f_j], features[n_total] = features[n_total], features[f_j]
            n_found += 1
            n_total += 1
            continue
        f_i -= 1
        features[f_i], features[f_j] = features[f_j], features[f_i]
        order[count] = f
        count += 1
    for k in range(n_known):
        features[k] = constants[k]
    for k in range(n_known, n_known + n_found):
        constants[k] = features[k]
    return count, n_total, last


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")  # a call per position costs 2.5x
def _update(y, row, start, end, pos, new_pos, sum_left, wn_left, sum_total, wn):
    """``Criterion.update(new_pos)`` from ``pos``: ``(sum_left, weighted n_left)`` of ``row[start:new_pos]``, added
    forward from ``pos`` or, when that is the longer way, subtracted backwards from the node's sum."""
    if new_pos - pos == 1:  # the common step, spelled out (the loop's overhead shows)
        return sum_left + y[row[pos]], wn_left + 1.0
    if (new_pos - pos) <= (end - new_pos):
        for q in range(pos, new_pos):
            sum_left += y[row[q]]
            wn_left += 1.0
        return sum_left, wn_left
    sum_left = sum_total
    wn_left = wn
    for q in range(end - 1, new_pos - 1, -1):
        sum_left -= y[row[q]]
        wn_left -= 1.0
    return sum_left, wn_left


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _node_split(xt, rows, vals, y, inverse, samples, start, end, sum_total, sq_total, wn, wn_samples, impurity,
                n_known, features, constants, state, out):
    """``node_split_best`` on ``samples[start:end]`` (``rows[f, start:end]``: the node's samples in the value order
    of feature f, ``vals`` their values). Leaves ``samples`` as scikit-learn does; ``out`` ← (pos, feature,
    threshold, impurity left, impurity right, improvement). Returns the node's number of constant features for its
    children. ``inverse[k]`` = 1/k: the proxy is first estimated with products, and computed as scikit-learn does
    (two divisions) only where the estimate comes within 1e-12 of the best so far (its rounding is < 1e-15)."""
    d = xt.shape[0]
    best_proxy = -np.inf
    bound = -np.inf  # the estimates below it cannot beat best_proxy
    best_pos = end
    best_feature = 0
    best_threshold = 0.0
    is_constant = np.empty(d, dtype=np.bool_)
    is_flat = np.empty(d, dtype=np.bool_)
    for f in range(d):  # a node's values in feature order: min first, max last
        lo, hi = vals[f, start], vals[f, end - 1]
        is_flat[f] = hi == lo
        is_constant[f] = hi <= np.float32(lo + _FT)
    order = np.empty(d, dtype=np.int64)
    count, n_total, last_sorted = feature_draws(state, features, constants, n_known, is_constant, is_flat, order)
    for k in range(count):
        f = order[k]
        row = rows[f]
        x = vals[f]
        lo = x[start]
        # criterion.reset(); then the positions next_p stops at: p in (start, end) with x[p] > float32(x[p-1] + FT)
        sum_left = 0.0
        wn_left = 0.0
        pos = start
        prev = lo
        for p in range(start + 1, end):
            current = x[p]
            valid = current > np.float32(prev + _FT)
            prev = current
            if not valid:
                continue
            sum_left, wn_left = _update(y, row, start, end, pos, p, sum_left, wn_left, sum_total, wn)
            pos = p
            sum_right = sum_total - sum_left
            estimate = sum_left * sum_left * inverse[p - start] + sum_right * sum_right * inverse[end - p]
            if estimate < bound:
                continue
            proxy = sum_left * sum_left / wn_left + sum_right * sum_right / (wn - wn_left)
            if proxy > best_proxy:
                best_proxy = proxy
                bound = proxy * (1.0 - 1e-12)
                best_pos = p
                best_feature = f
                best_threshold = np.float64(x[p - 1]) / 2.0 + np.float64(current) / 2.0
    imp_left = np.inf
    imp_right = np.inf
    improvement = -np.inf
    if best_pos < end:
        if last_sorted >= 0:  # the sample array as the splitter's last sort left it
            for q in range(start, end):
                samples[q] = rows[last_sorted, q]
        x = xt[best_feature]
        a = start
        b = end
        while a < b:  # partition_samples_final
            if np.float64(x[samples[a]]) <= best_threshold:
                a += 1
            else:
                b -= 1
                samples[a], samples[b] = samples[b], samples[a]
        # criterion.reset(); criterion.update(best_pos)
        sum_left, wn_left = _update(y, samples, start, end, start, best_pos, 0.0, 0.0, sum_total, wn)
        wn_right = wn - wn_left
        sum_right = sum_total - sum_left
        sq_left = 0.0  # children_impurity
        for q in range(start, best_pos):
            v = y[samples[q]]
            sq_left += v * v
        sq_right = sq_total - sq_left
        mean_left = sum_left / wn_left
        mean_right = sum_right / wn_right
        imp_left = sq_left / wn_left - mean_left * mean_left
        imp_right = sq_right / wn_right - mean_right * mean_right
        improvement = (wn / wn_samples) * (impurity - (wn_right / wn * imp_right) - (wn_left / wn * imp_left))
    out[0] = best_pos
    out[1] = best_feature
    out[2] = best_threshold
    out[3] = imp_left
    out[4] = imp_right
    out[5] = improvement
    return n_total


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _split_rows(xt, samples, goes_left, src, src_vals, dst, dst_vals, start, end, mid, feature, threshold):
    """Every feature's value order of ``start:end`` (``src``, values ``src_vals``) split stably into its left
    samples (``dst[:, start:mid]``, values ``dst_vals``) and its right ones (``dst[:, mid:end]``)."""
    d = xt.shape[0]
    x = xt[feature]
    for q in range(start, end):
        s = samples[q]
        goes_left[s] = np.float64(x[s]) <= threshold
    for f in range(d):
        left = start
        right = mid
        for q in range(start, end):  # without branches: which way a sample goes is a coin flip to the CPU
            s = src[f, q]
            step = np.int64(goes_left[s])
            at = right + step * (left - right)
            dst[f, at] = s
            dst_vals[f, at] = src_vals[f, q]
            left += step
            right += 1 - step


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _grow_tree(xt, order, values, inverse, y, seed, rows, vals, goes_left, samples, feature_out, threshold_out,
               gain_out, split_out, leaf_out):
    """One tree on residuals ``y (N,)`` as ``DepthFirstTreeBuilder`` grows it (max_depth 3, min_samples_split 2,
    min_samples_leaf 1), in the work arrays ``rows`` … ``samples``. Outputs per internal slot (breadth-first) and the
    leaf slot of each sample (a node that does not split sends everything left)."""
    d, n = xt.shape
    for q in range(n):
        samples[q] = q
    features = np.arange(d)
    constants = np.zeros(d, dtype=np.int64)
    state = np.array([seed], dtype=np.int64)
    out = np.empty(6)
    wn_samples = 0.0
    for _ in range(n):
        wn_samples += 1.0
    # the builder's stack: start, end, depth, slot, n_constant_features; impurity apart
    stack = np.empty((2 * MAX_DEPTH + 2, 5), dtype=np.int64)
    stack_impurity = np.empty(2 * MAX_DEPTH + 2)
    stack[0, 0] = 0
    stack[0, 1] = n
    stack[0, 2] = 0
    stack[0, 3] = 0
    stack[0, 4] = 0
    stack_impurity[0] = np.inf
    top = 1
    first = True
    for k in range(_NODES):
        split_out[k] = False
        feature_out[k] = 0
        threshold_out[k] = np.inf
        gain_out[k] = 0.0
    while top > 0:
        top -= 1
        start, end, depth, slot, n_constant = stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3], stack[top, 4]
        impurity = stack_impurity[top]
        n_node = end - start
        sum_total = 0.0  # criterion.init, in the sample array's order
        sq_total = 0.0
        wn = 0.0
        for q in range(start, end):
            v = y[samples[q]]
            sum_total += v
            sq_total += v * v
            wn += 1.0
        if first:
            mean = sum_total / wn
            impurity = sq_total / wn - mean * mean
            first = False
        is_leaf = depth >= MAX_DEPTH or n_node < 2 or impurity <= EPSILON
        n_constant_children = n_constant
        if not is_leaf:
            src, src_vals = (order, values) if depth == 0 else (rows[depth - 1], vals[depth - 1])
            n_constant_children = _node_split(xt, src, src_vals, y, inverse, samples, start, end, sum_total, sq_total,
                                              wn, wn_samples, impurity, n_constant, features, constants, state, out)
            is_leaf = out[0] >= end or out[5] + EPSILON < 0.0
        if is_leaf:
            local = slot - (2**depth - 1)
            leaf = local << (MAX_DEPTH - depth)
            for q in range(start, end):
                leaf_out[samples[q]] = leaf
            continue
        pos = np.int64(out[0])
        feature = np.int64(out[1])
        threshold = out[2]
        split_out[slot] = True
        feature_out[slot] = feature
        threshold_out[slot] = threshold
        gain_out[slot] = wn * impurity - (pos - start) * out[3] - (end - pos) * out[4]
        if depth + 1 < MAX_DEPTH:  # the children search splits: their samples in every feature's order
            src, src_vals = (order, values) if depth == 0 else (rows[depth - 1], vals[depth - 1])
            _split_rows(xt, samples, goes_left, src, src_vals, rows[depth], vals[depth], start, end, pos, feature,
                        threshold)
        for child in (2, 1):  # the right child pushed first: the left one is grown first
            stack[top, 0] = pos if child == 2 else start
            stack[top, 1] = end if child == 2 else pos
            stack[top, 2] = depth + 1
            stack[top, 3] = 2 * slot + child
            stack[top, 4] = n_constant_children
            stack_impurity[top] = out[4] if child == 2 else out[3]
            top += 1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _grow_trees(xt, order, values, inverse, g, seeds, rows, vals, goes_left, samples, feature_out, threshold_out,
                gain_out, split_out, leaf_out, first, stop):
    """Trees ``first`` … ``stop − 1`` of a stage, one after the other in one set of work arrays."""
    for c in range(first, stop):
        _grow_tree(xt, order, values, inverse, g[c], seeds[c], rows, vals, goes_left, samples, feature_out[c],
                   threshold_out[c], gain_out[c], split_out[c], leaf_out[c])


def in_threads(fn, threads: int, *args) -> None:
    """``fn(*args, w, threads)`` for w = 0 … threads − 1, on that many threads (``fn`` compiled with ``nogil``, so
    they run at once; plain Python threads rather than numba's threading layer, whose OpenMP build is not safe
    across ``fork`` and whose own scheduler not across threads)."""
    if threads == 1:
        fn(*args, 0, 1)
        return
    pool = _pool(threads)
    for done in [pool.submit(fn, *args, w, threads) for w in range(threads)]:
        done.result()


_POOLS: dict = {}


def _pool(threads: int):
    """This process's pool of ``threads`` threads (a forked child makes its own: its parent's threads are gone)."""
    from concurrent.futures import ThreadPoolExecutor

    key = (os.getpid(), threads)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(threads, thread_name_prefix="boosting")
    return _POOLS[key]


class StageGrower:
    """Grows the trees of each stage of one fit: ``xt (D, N)`` float32 codes, ``order (D, N)`` int32 each feature's
    stable value order and ``values (D, N)`` the values in that order; ``threads`` workers, each with its work arrays
    (allocated once per fit: fresh pages for every tree cost more than growing it)."""

    def __init__(self, xt: np.ndarray, order: np.ndarray, values: np.ndarray, threads: int):
        d, n = xt.shape
        self.threads = max(1, int(threads))
        self.xt, self.order, self.values = np.ascontiguousarray(xt), np.ascontiguousarray(order), values
        self.inverse = 1.0 / np.maximum(np.arange(n + 1, dtype=np.float64), 1.0)
        w, levels = self.threads, MAX_DEPTH - 1  # the rows of depths 1 and 2 (the root's are ``order``)
        self.work = (np.empty((w, levels, d, n), dtype=order.dtype), np.empty((w, levels, d, n), dtype=values.dtype),
                     np.empty((w, n), dtype=np.bool_), np.empty((w, n), dtype=order.dtype))  # fmt: skip

    def grow(self, g: np.ndarray, seeds: np.ndarray):
        """The trees on residuals ``g (C, N)`` float64 (one row per tree) with splitter seeds ``seeds (C,)``:
        ``(feature, threshold, gain, split)`` each ``(C, 7)`` over the internal slots breadth-first, and the leaf
        slot of each sample ``(C, N)``. The workers take batches of trees as they finish (a busy core then takes
        fewer), each in its own work arrays."""
        c, n = g.shape
        out = (np.zeros((c, _NODES), dtype=np.int64), np.zeros((c, _NODES)), np.zeros((c, _NODES)),
               np.zeros((c, _NODES), dtype=np.bool_), np.zeros((c, n), dtype=np.int64))  # fmt: skip
        seeds = np.asarray(seeds, dtype=np.int64)
        threads = min(self.threads, c)
        batch = max(1, c // (8 * threads))
        batches = iter(range(0, c, batch))  # next() on it is atomic under the GIL

        def worker(w: int, _: int) -> None:
            for first in batches:
                _grow_trees(self.xt, self.order, self.values, self.inverse, g, seeds, *(a[w] for a in self.work),
                            *out, first, min(c, first + batch))  # fmt: skip

        in_threads(worker, threads)
        return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _neg_gradient(raw, target, out, first, step):
    """``(C, N)`` negative gradients of the half multinomial loss (C > 1) or the half binomial loss (C == 1) at the
    raw predictions ``raw (C, N)`` (a row per class) for the one-hot ``target (C, N)``, with the operations of
    scikit-learn's ``_loss.pyx`` (``exp`` is the C library's, as there; the classes summed in class order, as
    ``sum_exp_minus_max``)."""
    c, n = raw.shape
    for i in range(first, n, step):
        if c == 1:
            r, y = raw[0, i], target[0, i]
            if r <= -37.0:
                out[0, i] = -(math.exp(r) - y)
            else:
                e = math.exp(-r)
                out[0, i] = -(((1.0 - y) - y * e) / (1.0 + e))
            continue
        top = raw[0, i]
        for k in range(1, c):
            top = max(top, raw[k, i])
        for k in range(c):
            out[k, i] = math.exp(raw[k, i] - top)
        total = out[0, i]
        for k in range(1, c):
            total += out[k, i]
        for k in range(c):
            out[k, i] = -(out[k, i] / total - target[k, i])


def neg_gradient(raw, target, threads=1):
    """:func:`_neg_gradient` into a new array, the samples shared among ``threads``."""
    out = np.empty(raw.shape)
    in_threads(_neg_gradient, max(1, min(int(threads), raw.shape[1])), raw, target, out)
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def leaf_members(leaf, leaves, neg, target):
    """Each tree's samples grouped by leaf, in index order within a leaf, for the Newton step: ``(bounds (C,
    leaves + 1), gradients (C, N), hessians (C, N))``, leaf j of tree c holding positions ``bounds[c, j]`` to
    ``bounds[c, j + 1]`` of the tree's rows: the negative gradients ``neg[c]`` of its samples and their
    ``p (1 - p)`` with ``p = target - neg`` (the operations of ``_update_terminal_region``)."""
    c, n = leaf.shape
    bounds = np.zeros((c, leaves + 1), dtype=np.int64)
    gradients = np.empty((c, n))
    hessians = np.empty((c, n))
    for t in range(c):
        for i in range(n):
            bounds[t, leaf[t, i] + 1] += 1
        for j in range(leaves):
            bounds[t, j + 1] += bounds[t, j]
        fill = bounds[t, :leaves].copy()
        for i in range(n):
            j = leaf[t, i]
            g = neg[t, i]
            p = target[t, i] - g
            gradients[t, fill[j]] = g
            hessians[t, fill[j]] = p * (1.0 - p)
            fill[j] += 1
    return bounds, gradients, hessians


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _raw_predict(x, features, thresholds, values, init, learning_rate, out, first, step):
    """Rows ``first``, ``first + step``, ... of :func:`raw_predict`."""
    stages, trees = values.shape[0], values.shape[1]
    for i in range(first, x.shape[0], step):
        for c in range(trees):
            raw = init[c]
            for s in range(stages):
                node = 0
                for _ in range(MAX_DEPTH):
                    right = np.float64(x[i, features[s, c, node]]) > thresholds[s, c, node]
                    node = 2 * node + 1 + np.int64(right)
                raw += learning_rate * values[s, c, node - _NODES]
            out[i, c] = raw


def raw_predict(x, features, thresholds, values, init, learning_rate, threads=1):
    """Raw predictions ``(N, C)`` of codes ``x (N, D)`` float32 by the complete depth-3 trees ``features``,
    ``thresholds (S, C, 7)`` and leaf ``values (S, C, 8)`` (:class:`._boosting.GradientBoosting`): ``init`` plus
    ``learning_rate · value`` of each stage in stage order, as scikit-learn's ``predict_stages`` adds them (a sample
    goes left where its float32 value, as float64, is <= the threshold); the rows shared among ``threads``."""
    out = np.empty((x.shape[0], values.shape[1]))
    in_threads(_raw_predict, max(1, min(int(threads), x.shape[0])), np.ascontiguousarray(x), features, thresholds,
               values, init, float(learning_rate), out)
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _pairwise_sum(a, lo, n):
    """``a[lo:lo + n].sum()`` as numpy sums a contiguous float64 array: blocks of at most 128 summed 8-way
    unrolled, halves (cut at a multiple of 8) added recursively; fewer than 8 from -0.0 one by one.
    :func:`pairwise_sum_matches_numpy` checks it against the installed numpy."""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = 8
        whole = n - n % 8
        while i < whole:
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    half = n // 2
    half -= half % 8
    return _pairwise_sum(a, lo, half) + _pairwise_sum(a, lo + half, n - half)


@numba.njit(cache=True, error_model="numpy")
def _pairwise_sums(a, lengths):
    out = np.empty(lengths.size)
    lo = 0
    for k in range(lengths.size):
        out[k] = _pairwise_sum(a, lo, lengths[k])
        lo += lengths[k]
    return out


_PAIRWISE_OK: list[bool] = []


def pairwise_sum_matches_numpy() -> bool:
    """Whether :func:`_pairwise_sum` equals the installed numpy's ``sum`` on arrays of 1 to 600 and some thousands
    of values (checked once per process)."""
    if not _PAIRWISE_OK:
        rng = np.random.default_rng(0)
        lengths = np.r_[np.arange(1, 601), rng.integers(601, 20_000, 20)]
        a = rng.normal(size=int(lengths.sum())) * np.repeat(rng.choice([1e-6, 1.0, 1e6], lengths.size), lengths)
        ours = _pairwise_sums(a, lengths)
        ends = np.cumsum(lengths)
        _PAIRWISE_OK.append(all(ours[k] == a[ends[k] - lengths[k] : ends[k]].sum() for k in range(lengths.size)))
    return _PAIRWISE_OK[0]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _leaf_values(leaf, neg, target, factors, out, first, step):
    """One Newton step per leaf (trees ``first``, ``first + step``, ... of ``out (C, leaves)``) as
    ``_update_terminal_regions``: the mean (numpy's pairwise sum,
    samples in index order, as ``np.average``) of the negative gradients ``neg (C, N)`` of the leaf's samples
    (``leaf (C, N)``), times ``factors[c]`` (NaN: none), over the mean of ``p (1 − p)``, ``p = target − neg``;
    0 where that mean is below 1e-150 in magnitude."""
    c, n = leaf.shape
    leaves = out.shape[1]
    for t in range(first, c, step):
        bounds = np.zeros(leaves + 1, dtype=np.int64)
        for i in range(n):
            bounds[leaf[t, i] + 1] += 1
        for j in range(leaves):
            bounds[j + 1] += bounds[j]
        fill = bounds[:leaves].copy()
        gradients = np.empty(n)
        hessians = np.empty(n)
        for i in range(n):
            j = leaf[t, i]
            g = neg[t, i]
            p = target[t, i] - g
            gradients[fill[j]] = g
            hessians[fill[j]] = p * (1.0 - p)
            fill[j] += 1
        for j in range(leaves):
            m = bounds[j + 1] - bounds[j]
            if m == 0:
                continue
            numerator = _pairwise_sum(gradients, bounds[j], m) / np.float64(m)
            if not np.isnan(factors[t]):
                numerator *= factors[t]
            denominator = _pairwise_sum(hessians, bounds[j], m) / np.float64(m)
            out[t, j] = 0.0 if abs(denominator) < 1e-150 else numerator / denominator


def leaf_values(leaf, leaves, neg, target, factors, threads=1):
    """:func:`_leaf_values` ``(C, leaves)``, the trees shared among ``threads``."""
    out = np.zeros((leaf.shape[0], leaves))
    in_threads(_leaf_values, max(1, min(int(threads), leaf.shape[0])), leaf, neg, target, factors, out)
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _add_leaf_values(raw, values, leaf, learning_rate, first, step):
    for t in range(first, raw.shape[0], step):
        for i in range(raw.shape[1]):
            raw[t, i] += learning_rate * values[t, leaf[t, i]]


def add_leaf_values(raw, values, leaf, learning_rate, threads=1) -> None:
    """``raw (C, N) += learning_rate · values[c, leaf[c, i]]`` in place (the stage's step, as scikit-learn adds it),
    the trees shared among ``threads``."""
    in_threads(_add_leaf_values, max(1, min(int(threads), raw.shape[0])), raw, values, leaf, float(learning_rate))
