"""scikit-learn's ``GradientBoostingClassifier`` (default settings) re-implemented in torch, for DCI.

DCI fits ``sklearn.ensemble.GradientBoostingClassifier(random_state=seed)`` per factor; scikit-learn grows each of
its depth-3 regression trees node by node and feature by feature in C. :func:`fit_gradient_boosting` grows the same
trees (scikit-learn 1.9.1: ``ensemble/_gb.py``, ``tree/_splitter.pyx``, ``_partitioner.pyx``, ``_criterion.pyx``,
``_tree.pyx``, ``_loss/_loss.pyx.tp``), all the trees of a stage (one per class; one for two classes) and all
candidate splits of all nodes of a level at once, as float64 tensor operations on ``device``.

It reproduces scikit-learn's floating-point arithmetic, not only its algorithm, because boosting trees meet exact
ties all the time (in the first stage the residuals take two values, so many different splits have the same
improvement; later, small nodes are cut the same way by several features) and scikit-learn resolves them by its
rounding and its feature order. With the defaults (log-loss, 100 stages, learning rate 0.1, subsample 1,
max_depth 3, min_samples_split 2, min_samples_leaf 1, every feature at every split, squared-error trees):

- X is float32; a split between positions p-1 and p of a node's samples in value order only where
  ``x[p] > float32(x[p-1] + FEATURE_THRESHOLD)``; a feature is constant in a node when
  ``max <= float32(min + FEATURE_THRESHOLD)``; the threshold is ``x[p-1] / 2.0 + x[p] / 2.0`` in float64;
- the proxy ``S_l² / n_l + S_r² / n_r``, with ``S_l`` accumulated as ``Criterion.update`` does (forward from the
  node's start, or backwards from the node's sum after a long step), ``S_r = S_node − S_l`` and ``S_node`` summed in
  the order scikit-learn's sample array has at that node (the order ``partition_samples_final`` leaves after the
  parent's last sort); the first maximum wins (strict ``>``): first position of a feature, then the first feature in
  the order the splitter draws them (Fisher-Yates with its own xorshift ``rand_r`` seeded per tree from
  ``RandomState(random_state)``, replayed node by node in depth-first order, constant features tracked and skipped);
- the children's impurities ``Σy²/n − (Σy/n)²`` (right side by subtraction), the weighted improvement, the leaf rules
  (depth 3, fewer than 2 samples, impurity <= EPSILON, no valid split, improvement + EPSILON < 0);
- the prior initialisation (scipy's ``gmean`` / ``logit`` as scikit-learn calls them), the softmax / sigmoid negative
  gradients with the C library's ``exp`` (which compiled code calls, as scikit-learn's does), the Newton leaf
  values with numpy's pairwise sums in sample order (as ``np.average``), ``raw += 0.1 · value`` stage by stage;
- ``feature_importances_`` (per tree Σ ``n·imp − n_l·imp_l − n_r·imp_r`` over N, averaged over the trees that split
  their root, normalised) and ``predict`` (argmax of the raw predictions; two classes: class 1 when ``raw >= 0``).

Where the trees can still differ: (1) a feature with EQUAL float32 values in a node — scikit-learn orders equal
values by its introsort, here by the initial sample order, so sums over them may round differently (codes with
repeated values, e.g. discrete codes, can then split a tie the other way; equal codes of samples with equal
labels, such as a grid point drawn twice, change nothing); (2) on CUDA, where cumulative sums are not sequential, so
ties decided by the last bit go either way. On CPU with continuous codes the trees are the same (the tests compare
every tree of every stage with scikit-learn's).

Two engines grow the same trees: ``compiled`` (:mod:`._boosting_cpu`, the CPU default: scikit-learn's builder
statement by statement in numba, the trees of a stage in parallel threads) and ``torch`` (this module: all the
trees of a stage and all candidate splits of a level at once as tensor operations, for GPUs; on CPU a few dozen
memory passes over (trees × features × samples) per level make it several times slower than ``compiled``). The
gradients, the leaf values and, on CPU, the predictions are computed by :mod:`._boosting_cpu` for both.

Public: :func:`fit_gradient_boosting` (one classifier), :func:`fit_gradient_boosting_many` (several label vectors
of the same codes, grown together: what DCI uses), :class:`GradientBoosting` (``feature_importances_``,
``decision_function``, ``predict``, ``classes_``). Speed: ``bench/metrics.py --dci`` (figures in the README).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

#: scikit-learn's constants (tree/_partitioner.pxd: a float32; tree/_tree.pyx; utils/_random.pxd).
FEATURE_THRESHOLD = np.float32(1e-7)
EPSILON = float(np.finfo(np.float64).eps)
RAND_R_MAX = 2**31 - 1
#: GradientBoostingClassifier's defaults (the tree settings are fixed here).
MAX_DEPTH = 3
N_ESTIMATORS = 100
LEARNING_RATE = 0.1

#: What grows the trees: ``compiled`` (:mod:`._boosting_cpu`, CPU only), ``torch`` (tensor operations, any device).
ENGINES = ("auto", "compiled", "torch")

_INTERNAL = 2**MAX_DEPTH - 1  # internal slots of the complete tree, breadth-first
_LEAVES = 2**MAX_DEPTH


@dataclasses.dataclass
class GradientBoosting:
    """A fitted ensemble. ``features``/``thresholds`` ``(S, C, 7)``: the complete depth-3 tree of each stage and
    class, breadth-first (a node that does not split sends everything left: threshold +inf); ``values``
    ``(S, C, 8)``: the leaf values; ``init (C,)``: the prior raw prediction."""

    classes_: np.ndarray
    feature_importances_: np.ndarray
    init: Any
    features: Any
    thresholds: Any
    values: Any
    learning_rate: float = LEARNING_RATE
    threads: int = 1  # CPU threads of decision_function (the fit's)

    def decision_function(self, codes: Any) -> np.ndarray:
        """Raw predictions ``(n, C)`` (``(n,)`` for two classes), as scikit-learn's ``decision_function``."""
        import torch

        dev = self.values.device
        x = torch.as_tensor(np.asarray(codes, dtype=np.float32), device=dev)
        if x.ndim != 2 or x.shape[1] != self.feature_importances_.shape[0]:
            raise ValueError(f"codes must have shape (n, {self.feature_importances_.shape[0]}), got {tuple(x.shape)}")
        if dev.type == "cpu":
            from benchmark.metrics._boosting_cpu import raw_predict

            out = raw_predict(x.numpy(), self.features.numpy(), self.thresholds.numpy(), self.values.numpy(),
                              self.init.cpu().numpy(), self.learning_rate, self.threads)  # fmt: skip
            return out[:, 0] if out.shape[1] == 1 else out
        n = x.shape[0]
        xt = x.T.contiguous().reshape(-1).double()
        raw = self.init[None, :].repeat(n, 1)
        stages, trees = self.values.shape[:2]
        chunk = max(1, 2**22 // (stages * trees))
        for s0 in range(0, n, chunk):
            idx = torch.arange(s0, min(n, s0 + chunk), device=dev)
            node = torch.zeros((stages, trees, idx.numel()), dtype=torch.int64, device=dev)
            for _ in range(MAX_DEPTH):
                f = self.features.gather(2, node)
                go_right = xt[f * n + idx] > self.thresholds.gather(2, node)
                node = 2 * node + 1 + go_right
            leaf = self.values.gather(2, node - _INTERNAL)  # (S, C, m)
            part = raw[s0 : s0 + idx.numel()]
            for s in range(stages):  # stage by stage, as scikit-learn adds them
                part += self.learning_rate * leaf[s].T
        out = raw.cpu().numpy()
        return out[:, 0] if trees == 1 else out

    def predict(self, codes: Any) -> np.ndarray:
        """Class labels ``(n,)`` (values of ``classes_``)."""
        raw = self.decision_function(codes)
        encoded = (raw >= 0).astype(np.int64) if raw.ndim == 1 else np.argmax(raw, axis=1)
        return self.classes_[encoded]


# ------------------------------------------------------------------------------------------- inputs
@dataclasses.dataclass
class _Sorted:
    """Per-feature sort of the float32 training codes, shared by every tree of a fit."""

    x32: Any  # (N, D) float32
    order: Any  # (D, N) sample at each rank
    rank: Any  # (D, N) rank of each sample
    values: Any  # (D, N) float32 sorted values
    next_ok: Any  # (D, N) first rank whose value is > float32(values[r] + FEATURE_THRESHOLD)
    close_rank: Any  # (D, K) the ranks r with next_ok[r] > r + 1 (a successor too close to split from), -1 padded
    close_limit: Any  # (D, K) next_ok at those ranks


def _presort(x32) -> _Sorted:
    import torch

    n, d = x32.shape
    xt = x32.T.contiguous()  # (D, N) rows: the sort of a transposed view would keep its strides, and every tensor
    order = torch.argsort(xt, dim=1, stable=True)  # derived from it (each level's rows) would be read across them
    values = torch.gather(xt, 1, order)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(n, device=x32.device).expand(d, n).contiguous())
    limit = values + torch.tensor(FEATURE_THRESHOLD, device=x32.device)  # float32 sum, as in next_p
    next_ok = torch.searchsorted(values, limit, right=True)
    close = next_ok > torch.arange(n, device=x32.device) + 1
    width = max(1, int(close.sum(dim=1).max()))
    close_rank = torch.full((d, width), -1, dtype=torch.int64, device=x32.device)
    for f in range(d):
        ranks = close[f].nonzero().reshape(-1)
        close_rank[f, : ranks.numel()] = ranks
    close_limit = next_ok.gather(1, close_rank.clamp(min=0))
    return _Sorted(x32, order, rank, values, next_ok, close_rank, close_limit)


def _init_raw(y: np.ndarray, n_classes: int) -> np.ndarray:
    """DummyClassifier(strategy="prior") probabilities through the loss's link, as ``_init_raw_predictions``."""
    from scipy.special import logit
    from scipy.stats import gmean

    counts = np.bincount(y, minlength=n_classes)
    prior = np.clip(counts / counts.sum(), np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
    if n_classes == 2:
        return np.array([logit(prior[1])])
    row = prior[None, :]
    return np.log(row / gmean(row, axis=1)[:, None])[0]


# ------------------------------------------------------------------------------- the splitter's draws
class _SplitterDraws:
    """The feature draws of one tree's ``BestSplitter``, node by node (:func:`._boosting_cpu.feature_draws`)."""

    def __init__(self, seed: int, d: int):
        self.state = np.array([int(seed)], dtype=np.int64)
        self.features, self.constant = np.arange(d, dtype=np.int64), np.zeros(d, dtype=np.int64)

    def node_split(self, n_known: int, is_constant, is_flat) -> tuple[list[int], int, int]:
        """(non-constant features in the order they are evaluated, constants known to the children, the last
        feature whose sort ordered the samples, -1 if none did)."""
        from benchmark.metrics._boosting_cpu import feature_draws

        order = np.empty(self.features.size, dtype=np.int64)
        count, n_total, last = feature_draws(self.state, self.features, self.constant, int(n_known),
                                             np.asarray(is_constant, dtype=np.bool_),
                                             np.asarray(is_flat, dtype=np.bool_), order)  # fmt: skip
        return order[:count].tolist(), int(n_total), int(last)


class _StageDraws:
    """The splitters of the C trees of one stage, advanced node by node in the builder's depth-first order."""

    def __init__(self, seeds, d: int):
        self.trees = [_SplitterDraws(s, d) for s in seeds]
        self.order: dict = {}  # (tree, depth, j) -> features in visiting order
        self.last: dict = {}  # (tree, depth, j) -> the feature scikit-learn's samples are sorted by at the split
        self.known: dict = {}  # (tree, depth, j) -> constant features known from the ancestors

    def draw(self, c: int, depth: int, j: int, constant) -> None:
        """``constant``: ``(2, D)`` the node's features constant within FEATURE_THRESHOLD, and with one value."""
        if (c, depth, j) in self.order:
            return
        order, n_total, last = self.trees[c].node_split(self.known.get((c, depth, j), 0), constant[0], constant[1])
        self.order[(c, depth, j)], self.last[(c, depth, j)] = order, last
        self.known[(c, depth + 1, 2 * j)] = self.known[(c, depth + 1, 2 * j + 1)] = n_total

    def draw_level(self, ok: np.ndarray, constant: np.ndarray, depth: int, nodes) -> None:
        """Draw at the given nodes of every tree (those that call node_split), tree by tree, nodes in order."""
        for c in range(ok.shape[0]):
            for j in nodes:
                if ok[c, j]:
                    self.draw(c, depth, j, constant[c, j])

    def last_sorted(self, depth: int, shape) -> np.ndarray:
        out = np.zeros(shape, dtype=np.int64)
        for (c, dep, j), f in self.last.items():
            if dep == depth:
                out[c, j] = max(f, 0)
        return out


def _take(flat, index):
    """``flat[index]`` for a 1-D ``flat`` (``index_select``: several times faster than advanced indexing on CPU)."""
    import torch

    return torch.index_select(flat, 0, index.reshape(-1)).view(index.shape)


# ------------------------------------------------------------------------------------- one tree level
#: Elements (classes × features × samples) of one chunk of the split search: small enough to stay in cache.
_CHUNK = 2**18


@dataclasses.dataclass
class _Level:
    """The nodes at one depth of the C trees of a stage. Node j of tree c holds positions
    ``start[c, j] : start[c, j] + count[c, j]`` of every row ``rows[c, d]``: its samples in the value order of
    feature d, stored as ``c·N + sample`` (int32); at the root the rows are the presorted orders."""

    depth: int
    start: Any  # (C, J)
    count: Any  # (C, J)
    total: Any  # (C, J) Σ residual in scikit-learn's order (its sum_total)
    sq: Any  # (C, J) Σ residual² (its sq_sum_total)
    impurity: Any  # (C, J)
    ok: Any  # (C, J) the builder calls node_split (not a leaf by size, impurity or depth)
    node: Any  # (C, N) node of each sample
    rows: Any  # (C, D, N) int32, or None at the root
    close_pos: Any  # (C, D, K) position in each row of the samples of _Sorted.close_rank (-1: padding)


def _root(gt, srt: _Sorted) -> _Level:
    import torch

    c, n = gt.shape
    total = torch.cumsum(gt, dim=1)[:, -1:]  # sequential over the samples, as Criterion.init
    sq = torch.cumsum(gt * gt, dim=1)[:, -1:]
    mean = total / n
    impurity = sq / n - mean * mean
    zeros = torch.zeros((c, 1), dtype=torch.int64, device=gt.device)
    ok = (impurity > EPSILON) & (n >= 2)
    node = torch.zeros((c, n), dtype=torch.int64, device=gt.device)
    close_pos = srt.close_rank[None].expand(c, -1, -1)
    return _Level(0, zeros, zeros + n, total, sq, impurity, ok, node, None, close_pos)


def _positions(lv: _Level, n: int):
    """``(node, start, end)`` of every row position, each ``(C, N)``."""
    import torch

    pos = torch.arange(n, device=lv.start.device).expand(lv.start.shape[0], n).contiguous()
    ends = lv.start + lv.count
    node = torch.searchsorted(ends, pos, right=True).clamp(max=lv.start.shape[1] - 1)
    return node, lv.start.gather(1, node), ends.gather(1, node)


def _ranks_at(srt: _Sorted, lv: _Level, index):
    """Ranks (in each row's feature) of the samples at row positions ``index (C, D, M)``."""
    c, d, m = index.shape
    n = srt.values.shape[1]
    if lv.rows is None:
        return index
    import torch

    flat = index + torch.arange(d, device=index.device)[None, :, None] * n
    sample = lv.rows.reshape(c, -1).gather(1, flat.reshape(c, -1)).reshape(c, d, m).long()
    sample -= torch.arange(c, device=index.device)[:, None, None] * n
    return _take(srt.rank.reshape(-1), torch.arange(d, device=index.device)[None, :, None] * n + sample)


def _constants(srt: _Sorted, lv: _Level) -> np.ndarray:
    """``(C, J, 2, D)`` per node the features constant within FEATURE_THRESHOLD (max <= float32(min + it): the
    splitter skips them) and those with a single value (sorting by them moves no sample)."""
    import torch

    d, n = srt.values.shape
    c = lv.start.shape[0]
    first = _ranks_at(srt, lv, lv.start.clamp(max=n - 1)[:, None, :].expand(c, d, -1))
    last = _ranks_at(srt, lv, (lv.start + lv.count - 1).clamp(min=0, max=n - 1)[:, None, :].expand(c, d, -1))
    rows = torch.arange(d, device=first.device)[None, :, None] * n
    values = srt.values.reshape(-1)
    close = last < _take(srt.next_ok.reshape(-1), rows + first)
    flat = _take(values, rows + last) == _take(values, rows + first)
    return torch.stack([close, flat], dim=2).permute(0, 3, 2, 1).cpu().numpy()


def _too_close(srt: _Sorted, lv: _Level, start, end):
    """The positions (not a node's first) where ``next_p`` does not stop: the value is within FEATURE_THRESHOLD
    (float32) of the previous one of the node. Only successors of _Sorted.close_rank qualify: as ``(c, d, p)``
    lists when those are few, as a dense ``(C, D, N)`` mask when there are many (repeated values)."""
    import torch

    c, d, k = lv.close_pos.shape
    n = srt.values.shape[1]
    if 8 * k > n:
        return _too_close_dense(srt, lv, start)
    nxt = lv.close_pos + 1
    inside = (lv.close_pos >= 0) & (nxt < n)
    inside &= nxt < end.gather(1, lv.close_pos.clamp(min=0).reshape(c, -1)).reshape(c, d, k)
    bad = inside & (_ranks_at(srt, lv, nxt.clamp(max=n - 1)) < srt.close_limit[None])
    bc, bd, bk = bad.nonzero(as_tuple=True)
    return bc, bd, nxt[bc, bd, bk]


def _too_close_dense(srt: _Sorted, lv: _Level, start):
    import torch

    c, d, _ = lv.close_pos.shape
    n = srt.values.shape[1]
    dev = start.device
    offsets = torch.arange(d, device=dev)[None, :, None] * n
    if lv.rows is None:
        ranks = torch.arange(n, device=dev).expand(c, d, n)
    else:
        samples = lv.rows.long() - torch.arange(c, device=dev)[:, None, None] * n
        ranks = _take(srt.rank.reshape(-1), offsets + samples)
    bad = torch.zeros((c, d, n), dtype=torch.bool, device=dev)
    bad[:, :, 1:] = ranks[:, :, 1:] < _take(srt.next_ok.reshape(-1), offsets + ranks[:, :, :-1])
    return bad & (torch.arange(n, device=dev) > start)[:, None, :]


def _reverse_chains(bad, node, start, end, d: int, n: int) -> np.ndarray:
    """The candidate positions where ``Criterion.update`` runs backwards from the node's end (the step from the
    previous candidate, over too-close positions, is longer than what is left of the node), each with the end of
    the forward chain that continues from it: numpy rows ``(tree, feature, p, chain end, node)``."""
    c = node.shape[0]
    if isinstance(bad, tuple) and bad[0].numel() == 0:
        return np.zeros((0, 5), dtype=np.int64)
    if not isinstance(bad, tuple):  # many (repeated values): on the dense grid, already in row order
        ac, ad, ap = _dense_reverse(bad, start, end, n)
    else:
        bc, bd, bp = (t.cpu().numpy() for t in bad)
        key = (bc * d + bd) * n + bp
        order = np.argsort(key)
        bc, bd, bp, key = bc[order], bd[order], bp[order], key[order]
        first = np.r_[True, key[1:] != key[:-1] + 1]  # runs of consecutive too-close positions
        last = np.r_[first[1:], True]
        run_c, run_d, run_lo, run_hi = bc[first], bd[first], bp[first], bp[last]
        hi = end.cpu().numpy()[run_c, run_lo]
        p = run_hi + 1
        rev = (p < hi) & ((p - (run_lo - 1)) > (hi - p))
        ac, ad, ap = run_c[rev], run_d[rev], p[rev]
    node_np, end_np = node.cpu().numpy(), end.cpu().numpy()
    hi = end_np[ac, ap]
    same = np.r_[(ac[1:] == ac[:-1]) & (ad[1:] == ad[:-1]) & (ap[1:] < hi[:-1]), False]
    stop = np.where(same, np.r_[ap[1:], 0], hi)
    return np.stack([ac, ad, ap, stop, node_np[ac, ap]], axis=1).astype(np.int64)


def _dense_reverse(grid, start, end, n: int):
    """:func:`_reverse_chains`'s backward steps found on the dense ``(C, D, N)`` mask of the too-close positions."""
    import torch

    dev = start.device
    pos = torch.arange(n, device=dev)
    was = torch.nn.functional.pad(grid[:, :, :-1], (1, 0))  # too close at p - 1
    run_first = torch.cummax(torch.where(grid & ~was, pos, -1), dim=2).values  # first of the run through p
    after = was & ~grid  # p right after a run
    prev = torch.nn.functional.pad(run_first[:, :, :-1], (1, 0), value=-1) - 1  # the candidate before the run
    hi = end[:, None, :]
    rev = after & (pos < hi) & ((pos - prev) > (hi - pos)) & (pos > start[:, None, :])
    return (t.cpu().numpy() for t in rev.nonzero(as_tuple=True))


def _residual_rows(gt, srt: _Sorted, lv: _Level, c0: int, c1: int, out):
    """``out (c1-c0, D, N)`` ← the residuals of trees c0:c1 in the order of their rows."""
    import torch

    d, n = srt.values.shape
    if lv.rows is None:
        flat = srt.order.reshape(-1)
        for c in range(c0, c1):  # the presorted orders, the same for every tree
            torch.index_select(gt[c], 0, flat, out=out[c - c0].view(-1))
    else:
        torch.index_select(gt.reshape(-1), 0, lv.rows[c0:c1].reshape(-1), out=out.view(-1))
    return out


def _criterion_sums(y, lv: _Level, c0: int, chains: list, out):
    """``out`` ← the left sum at each position as ``Criterion.update`` holds it when it evaluates a split there:
    accumulated one by one from 0 at the node's start (in value order), except along the reverse chains, which
    restart from the node's sum minus the samples from the end backwards (``reverse_reset``)."""
    import torch

    c, d, n = y.shape
    out[:, :, 0] = 0.0
    if lv.depth == 0:
        torch.cumsum(y[:, :, :-1], dim=2, out=out[:, :, 1:])
    else:
        start, count = lv.start[c0 : c0 + c].cpu().numpy(), lv.count[c0 : c0 + c].cpu().numpy()
        for tree, j in zip(*np.nonzero(lv.ok[c0 : c0 + c].cpu().numpy() & (count > 1))):
            lo, hi = int(start[tree, j]), int(start[tree, j] + count[tree, j])
            torch.cumsum(y[tree, :, lo : hi - 1], dim=1, out=out[tree, :, lo + 1 : hi])
    mine = chains[(chains[:, 0] >= c0) & (chains[:, 0] < c0 + c)]
    if mine.size:
        _chain_sums(y, lv, c0, mine, out)
    return out


def _chain_sums(y, lv: _Level, c0: int, chains: np.ndarray, out) -> None:
    """``out`` along the reverse chains ``(tree, feature, p, stop, node)``: at p the node's sum minus the samples
    from its end down to p (``reverse_reset`` then subtracting), then forward from that value up to ``stop``.
    All chains at once: their samples gathered into zero-padded rows (zeros at the end change no sum)."""
    import torch

    dev = y.device
    c, d, n = y.shape
    tree, feat, p, stop, j = (torch.as_tensor(chains[:, i], device=dev) for i in range(5))
    hi = lv.start[tree, j] + lv.count[tree, j]
    row = ((tree - c0) * d + feat) * n  # offset of each chain's row in y
    flat = y.reshape(-1)
    back_len = int((hi - p).max())
    step = torch.arange(back_len, device=dev)
    back_at = hi[:, None] - 1 - step  # hi-1, hi-2, ..., p
    take = torch.where(back_at >= p[:, None], _take(flat, row[:, None] + back_at.clamp(min=0)), 0.0)
    back = torch.cat([lv.total[tree, j][:, None], -take], dim=1).cumsum(dim=1)[:, -1]
    fwd_len = int((stop - p).max())
    step = torch.arange(max(fwd_len - 1, 0), device=dev)
    fwd_at = p[:, None] + step  # p, ..., stop - 2
    take = torch.where(fwd_at < stop[:, None] - 1, _take(flat, row[:, None] + fwd_at.clamp(max=n - 1)), 0.0)
    chain = torch.cat([back[:, None], take], dim=1).cumsum(dim=1)  # chain[:, i] = the sum at p + i
    at = p[:, None] + torch.arange(fwd_len, device=dev)
    inside = at < stop[:, None]
    out.reshape(-1)[(row[:, None] + at.clamp(max=n - 1))[inside]] = chain[:, :fwd_len][inside]


def _best_candidates(srt: _Sorted, gt, lv: _Level, work: dict):
    """Every (tree, position) whose proxy improvement is the best of its node: numpy ``(c, j, p, tied (h, D))``
    ordered by tree then position, ``tied`` the features that reach the best there; the caller picks."""
    import torch

    c_all, n = gt.shape
    d = srt.values.shape[0]
    node, start, end = _positions(lv, n)
    pos = torch.arange(n, device=gt.device)
    blocked = ~((pos > start) & lv.ok.gather(1, node))  # a node's first position, nodes that do not split
    bad = _too_close(srt, lv, start, end)
    chains = _reverse_chains(bad, node, start, end, d, n)
    sparse = isinstance(bad, tuple)
    n_left, n_right = (pos - start).double(), (end - pos).double()
    s_total = lv.total.gather(1, node)
    runs = _runs(lv.ok.any(dim=1).cpu().numpy(), max(1, _CHUNK // (d * n)))  # trees with a node to split
    out = [tuple(np.zeros((0,) + shape, dtype=dt) for shape, dt in (((), int), ((), int), ((), int), ((d,), bool)))]
    if sparse and runs:  # the too-close positions of each chunk of trees
        bounds = torch.as_tensor([b for run in runs for b in run], device=gt.device)
        cuts = torch.searchsorted(bad[0], bounds).tolist()
    for i, (c0, c1) in enumerate(runs):
        y = _residual_rows(gt, srt, lv, c0, c1, work["y"][: c1 - c0])
        s = _criterion_sums(y, lv, c0, chains, work["s"][: c1 - c0])
        r = torch.sub(s_total[c0:c1, None, :], s, out=work["r"][: c1 - c0])
        r.mul_(r)
        proxy = s.mul_(s).div_(n_left[c0:c1, None, :]).addcdiv_(r, n_right[c0:c1, None, :])  # S_l²/n_l + S_r²/n_r
        if sparse:
            lo, hi = cuts[2 * i], cuts[2 * i + 1]
            proxy[bad[0][lo:hi] - c0, bad[1][lo:hi], bad[2][lo:hi]] = -float("inf")
        else:
            proxy.masked_fill_(bad[c0:c1], -float("inf"))
        out.append(_node_best(proxy, node[c0:c1], blocked[c0:c1], lv.start.shape[1], c0))
    return tuple(np.concatenate(parts) for parts in zip(*out))


def _runs(active: np.ndarray, step: int) -> list[tuple[int, int]]:
    """``[(c0, c1), ...]``: the runs of consecutive True entries of ``active``, cut to at most ``step`` long."""
    edges = np.flatnonzero(np.diff(np.r_[0, active.astype(np.int8), 0]))
    return [(a, min(a + step, b)) for lo, b in zip(edges[::2], edges[1::2]) for a in range(int(lo), int(b), step)]


def _node_best(proxy, node, blocked, j: int, c0: int):
    import torch

    best_here = proxy.amax(dim=1).masked_fill_(blocked, -float("inf"))  # (c, N) over features (NaN at a node's start)
    best = torch.full((proxy.shape[0], j), -float("inf"), dtype=proxy.dtype, device=proxy.device)
    best.scatter_reduce_(1, node, best_here, "amax")
    hit = (best_here == best.gather(1, node)) & (best_here > -float("inf"))
    hc, hp = hit.nonzero(as_tuple=True)
    hj = node[hc, hp]
    tied = proxy[hc, :, hp] == best[hc, hj][:, None]  # (h, D)
    return (hc + c0).cpu().numpy(), hj.cpu().numpy(), hp.cpu().numpy(), tied.cpu().numpy()


def _choose(hits, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(feature, position, ties)`` per node ``(C, J)``: feature -1 where no split is valid; the first best position
    of the best feature; ``ties[(c, j)] = {feature: first best position}`` where features tie exactly (the caller
    picks the first in scikit-learn's visiting order)."""
    hc, hj, hp, tied = hits
    feature = np.full(shape, -1, dtype=np.int64)
    position = np.zeros(shape, dtype=np.int64)
    ties: dict = {}
    if hc.size == 0:
        return feature, position, ties
    key = hc * shape[1] + hj
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], key.size]
    union = np.logical_or.reduceat(tied, starts, axis=0)
    gc, gj = hc[starts], hj[starts]
    single = union.sum(axis=1) == 1
    feature[gc[single], gj[single]] = union[single].argmax(axis=1)
    position[gc[single], gj[single]] = hp[starts[single]]
    for g in np.flatnonzero(~single):
        rows = np.arange(starts[g], ends[g])
        ties[(int(gc[g]), int(gj[g]))] = {int(f): int(hp[rows[tied[rows, f]][0]]) for f in np.flatnonzero(union[g])}
    return feature, position, ties


def _break_ties(feature, position, ties: dict, draws: _StageDraws, depth: int, nodes=None) -> None:
    """Decide the tied nodes (of ``nodes`` if given) by their visiting order."""
    for (c, j), first in ties.items():
        if nodes is None or j in nodes:
            f = next(f for f in draws.order[(c, depth, j)] if f in first)
            feature[c, j], position[c, j] = f, first[f]


# --------------------------------------------------------------- the children, in scikit-learn's order
def _partition_order(left, in_wave, start, end):
    """Where ``partition_samples_final`` (two pointers: a right-going sample at the front is swapped with the last
    unexamined one) moves each position of the nodes in the wave: ``(C, N)`` destinations, others unmoved.

    Of a node with m left-going samples: the front ones (local position < m) that go left stay; the k-th front one
    that goes right takes the place just before the (k−1)-th left-going back one (counted from the end; the node's
    end for k = 1), whose own place it fills; a right-going back sample moves one place down, except the one at
    position m, which goes just before the last left-going back one (or to the end). int32 arithmetic throughout
    (``torch.where`` and int64 products are several times slower on CPU)."""
    import torch

    c, n = left.shape
    dev = left.device
    i32 = torch.int32
    start, end = start.to(i32), end.to(i32)
    pos = torch.arange(n, device=dev, dtype=i32).expand(c, n)
    lefts = (left & in_wave).to(i32)
    cum = torch.nn.functional.pad(torch.cumsum(lefts, dim=1, dtype=i32), (1, 0))  # cum[:, p] = left-going before p
    base = cum.gather(1, start.long())
    m = cum.gather(1, end.long()) - base
    local = pos - start
    upto = cum[:, 1:] - base  # left-going in [start, p]
    t = m - (cum.gather(1, (start + m).long()) - base)  # right-going in the front = left-going in the back
    front = (local < m).to(i32)
    wave, go = in_wave.to(i32), left.to(i32)
    fr = wave * front * (1 - go)
    bl = wave * (1 - front) * go
    br = wave * (1 - front) * (1 - go)
    fr_rank = local + 1 - upto  # at a front right-going position: its rank among those
    bl_rank = m - upto + 1  # at a back left-going position: 1 = the node's last one
    slots = torch.full((c, n + 1), n, dtype=i32, device=dev)
    fr_at = slots.clone().scatter_(1, (n + fr * (start + fr_rank - 1 - n)).long(), pos)
    bl_at = slots.scatter_(1, (n + bl * (start + bl_rank - 1 - n)).long(), pos)
    k_before = (start + fr_rank - 2).clamp(0, n - 1).long()
    before = end + (fr_rank > 1).to(i32) * (bl_at.gather(1, k_before) - end)
    last_bl = end + (t > 0).to(i32) * (bl_at.gather(1, (start + t - 1).clamp(0, n - 1).long()) - end)
    mine = fr_at.gather(1, (start + bl_rank - 1).clamp(0, n - 1).long())
    back = pos + (local == m).to(i32) * (last_bl - pos) - 1
    dest = pos + fr * (before - 1 - pos) + bl * (mine - pos) + br * (back - pos)
    return dest.long()


def _child_sums(y, dest, tc, lo, mid, hi, node_total):
    """``((Σy left, Σy² left, Σy right, Σy² right) (S, 4), left sum rebuilt backwards from the node's sum (S,))``
    of the listed nodes (tree ``tc``, positions ``lo:hi``, split at ``mid``), summed one by one in the partitioned
    order ``dest`` as scikit-learn's loops do: a cumulative sum over each child's contiguous slice."""
    import torch

    c, n = y.shape
    part = torch.empty((c, 2, n), dtype=y.dtype, device=y.device)
    part.scatter_(2, dest[:, None, :].expand(c, 2, n), torch.stack([y, y * y], dim=1))
    sums = torch.empty((tc.numel(), 4), dtype=y.dtype, device=y.device)
    back = torch.empty(tc.numel(), dtype=y.dtype, device=y.device)
    rows = zip(tc.tolist(), lo.tolist(), mid.tolist(), hi.tolist())
    for i, (tree, a, m, b) in enumerate(rows):
        sums[i, :2] = part[tree, :, a:m].cumsum(dim=1)[:, -1]
        sums[i, 2:] = part[tree, :, m:b].cumsum(dim=1)[:, -1]
        if m - a > b - m:  # Criterion.update(pos) from the end: the node's sum minus the right side backwards
            back[i] = torch.cat([node_total[i : i + 1], -part[tree, 0, m:b].flip(0)]).cumsum(dim=0)[-1]
        else:
            back[i] = sums[i, 0]
    return sums, back


@dataclasses.dataclass
class _Stats:
    """Per node ``(C, J)`` of the splits of a level: children sizes, their sums (scikit-learn's order), impurities,
    the improvement and the impurity gain (zeros where a node does not split)."""

    n_left: Any
    n_right: Any
    totals: Any  # (C, J, 4): Σy left, Σy² left, Σy right, Σy² right
    imp_left: Any
    imp_right: Any
    improvement: Any
    gain: Any
    threshold: Any

    def merge(self, other: "_Stats", mask) -> "_Stats":
        import torch

        m = torch.as_tensor(mask, device=self.gain.device)
        pick = lambda a, b: torch.where(m if a.ndim == 2 else m[:, :, None], b, a)  # noqa: E731
        return _Stats(*(pick(getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self)))


def _sample_at(srt: _Sorted, lv: _Level, feature, position):
    """The samples at ``position`` of the rows of ``feature`` (both ``(C, M)``)."""
    import torch

    n = srt.values.shape[1]
    if lv.rows is None:
        return _take(srt.order.reshape(-1), feature * n + position)
    c = feature.shape[0]
    flat = lv.rows.reshape(c, -1).gather(1, feature * n + position).long()
    return flat - torch.arange(c, device=flat.device)[:, None] * n


def _split_stats(srt: _Sorted, gt, lv: _Level, feature: np.ndarray, position: np.ndarray, wave, f_sort) -> _Stats:
    """Statistics of the splits of the nodes in ``wave`` as scikit-learn computes them after partitioning the node's
    samples (sorted by ``f_sort``, the last feature the splitter sorted them by) with ``partition_samples_final``."""
    import torch

    c, n = gt.shape
    dev = gt.device
    split = torch.as_tensor(wave & (feature >= 0), device=dev)
    f = torch.as_tensor(np.maximum(feature, 0), device=dev)
    p = torch.as_tensor(np.maximum(position, 1), device=dev)
    node, start, end = _positions(lv, n)
    pos = torch.arange(n, device=dev).expand(c, n)
    fs = torch.as_tensor(f_sort, device=dev).gather(1, node)
    samples = _sample_at(srt, lv, fs, pos)  # the node's samples as the splitter left them
    rank = srt.rank.reshape(-1)
    q_right = _take(rank, f * n + _sample_at(srt, lv, f, p))
    left = _take(rank, f.gather(1, node) * n + samples) < q_right.gather(1, node)
    in_wave = split.gather(1, node)
    dest = _partition_order(left, in_wave, start, end)
    tc, tj = split.nonzero(as_tuple=True)
    lo, mid, hi = lv.start[tc, tj], p[tc, tj], lv.start[tc, tj] + lv.count[tc, tj]
    sums, back = _child_sums(gt.gather(1, samples), dest, tc, lo, mid, hi, lv.total[tc, tj])
    n_l, n_r = (mid - lo).double(), (hi - mid).double()
    s_left = torch.where(n_l <= n_r, sums[:, 0], back)  # Criterion.update(pos) after reset()
    out = _impurities(lv, tc, tj, n_l, n_r, s_left, sums[:, 1], n)
    return _scatter_stats(c, lv.start.shape[1], tc, tj, n_l, n_r, sums, out, _thresholds(srt, lv, feature, position))


def _thresholds(srt: _Sorted, lv: _Level, feature: np.ndarray, position: np.ndarray):
    """``(C, J)`` float64 ``x[p-1] / 2.0 + x[p] / 2.0`` of each node's split (float32 values)."""
    import torch

    n = srt.values.shape[1]
    f = torch.as_tensor(np.maximum(feature, 0), device=lv.start.device)
    p = torch.as_tensor(np.maximum(position, 1), device=lv.start.device)
    values = srt.x32.T.reshape(-1)
    lo, hi = (_take(values, f * n + _sample_at(srt, lv, f, p - k)).double() for k in (1, 0))
    return lo / 2.0 + hi / 2.0


def _impurities(lv: _Level, tc, tj, n_l, n_r, s_left, sq_left, n_samples):
    """``children_impurity`` and ``impurity_improvement`` of the listed nodes: (imp_l, imp_r, improvement, gain)."""
    n = lv.count[tc, tj].double()
    s_right = lv.total[tc, tj] - s_left
    sq_right = lv.sq[tc, tj] - sq_left
    mean_l, mean_r = s_left / n_l, s_right / n_r
    imp_l = sq_left / n_l - mean_l * mean_l
    imp_r = sq_right / n_r - mean_r * mean_r
    imp = lv.impurity[tc, tj]
    improvement = (n / n_samples) * (imp - (n_r / n * imp_r) - (n_l / n * imp_l))
    return imp_l, imp_r, improvement, n * imp - n_l * imp_l - n_r * imp_r


def _scatter_stats(c, j, tc, tj, n_l, n_r, totals, out, threshold) -> _Stats:
    import torch

    def grid(v):
        g = torch.zeros((c, j) + tuple(v.shape[1:]), dtype=v.dtype, device=v.device)
        g[tc, tj] = v
        return g

    inf = torch.full_like(threshold, float("inf"))
    split = torch.zeros((c, j), dtype=torch.bool, device=threshold.device)
    split[tc, tj] = True
    return _Stats(grid(n_l), grid(n_r), grid(totals), *(grid(v) for v in out), torch.where(split, threshold, inf))


# --------------------------------------------------------------------------------------- the next level
def _partition(srt: _Sorted, lv: _Level, feature: np.ndarray, position: np.ndarray):
    """``(start, count, node of each sample, rows, close_pos)`` of the next level: every node's positions split
    stably into its left then its right child (a node that does not split keeps all of them in its left slot)."""
    import torch

    c, n = lv.node.shape
    d = srt.values.shape[0]
    dev = lv.node.device
    split = torch.as_tensor(feature >= 0, device=dev)
    f = torch.as_tensor(np.maximum(feature, 0), device=dev)
    p = torch.as_tensor(np.maximum(position, 1), device=dev)
    rank = srt.rank.reshape(-1)
    q = torch.where(split, _take(rank, f * n + _sample_at(srt, lv, f, p)), n)
    left = _take(rank, f.gather(1, lv.node) * n + torch.arange(n, device=dev)[None, :]) < q.gather(1, lv.node)
    slot = 2 * lv.node + (~left).long()
    n_left = torch.where(split, p - lv.start, lv.count)
    start = torch.stack([lv.start, lv.start + n_left], dim=2).reshape(c, -1)
    count = torch.stack([n_left, lv.count - n_left], dim=2).reshape(c, -1)
    if lv.depth + 1 >= MAX_DEPTH:  # the next level only holds leaves
        return start, count, slot, None, None
    node, first, _ = _positions(lv, n)
    base = (torch.cumsum(n_left, dim=1) - n_left).gather(1, node)  # left-going samples of the earlier nodes
    pos = torch.arange(n, device=dev)
    i32 = torch.int32
    to_right = (n_left.gather(1, node) + pos + base).to(i32)[:, None, :]  # new position = to_right − left-going before
    shift = (first - base).to(i32)[:, None, :] - to_right  # left-going ones: + 2 · left-going before + shift
    if lv.rows is None:  # a tree that splits no node keeps its rows
        rows_new = srt.order.to(torch.int32)[None] + torch.arange(c, device=dev, dtype=torch.int32)[:, None, None] * n
    else:
        rows_new = lv.rows.clone()
    close_new = lv.close_pos.clone()
    flat_left = left.reshape(-1)
    for c0, c1 in _runs(feature.max(axis=1) >= 0, max(1, _CHUNK // (d * n))):
        if lv.rows is None:
            offsets = torch.arange(c0, c1, device=dev, dtype=torch.int32)[:, None, None] * n
            rows = srt.order.to(torch.int32)[None] + offsets
        else:
            rows = lv.rows[c0:c1]
        goes = flat_left.index_select(0, rows.reshape(-1)).view(c1 - c0, d, n).to(i32)
        before = torch.cumsum(goes, dim=2, dtype=i32).sub_(goes)
        new = (to_right[c0:c1] - before).add_(goes * (2 * before + shift[c0:c1])).long()
        rows_new[c0:c1].scatter_(2, new, rows)
        moved = new.gather(2, lv.close_pos[c0:c1].clamp(min=0))
        close_new[c0:c1] = torch.where(lv.close_pos[c0:c1] >= 0, moved, -1)
    return start, count, slot, rows_new, close_new


def _next_level(lv: _Level, feature: np.ndarray, stats: _Stats, parts) -> tuple[_Level, "_Splits"]:
    """The next level's nodes (sums in scikit-learn's order, impurities, which call node_split) and this level's
    splits."""
    import torch

    c = lv.start.shape[0]
    start, count, slot, rows, close_pos = parts
    split = torch.as_tensor(feature >= 0, device=lv.start.device)
    pair = lambda a, b: torch.stack([a, b], dim=2).reshape(c, -1)  # noqa: E731
    total = pair(stats.totals[:, :, 0], stats.totals[:, :, 2])
    sq = pair(stats.totals[:, :, 1], stats.totals[:, :, 3])
    impurity = pair(stats.imp_left, stats.imp_right)
    ok = split.repeat_interleave(2, dim=1) & (count >= 2) & (impurity > EPSILON) & (lv.depth + 1 < MAX_DEPTH)
    zero = torch.zeros((), dtype=stats.gain.dtype, device=stats.gain.device)
    splits = _Splits(split, torch.as_tensor(np.maximum(feature, 0), device=split.device) * split,
                     torch.where(split, stats.threshold, torch.full_like(stats.threshold, float("inf"))),
                     torch.where(split, stats.gain, zero))  # fmt: skip
    return _Level(lv.depth + 1, start, count, total, sq, impurity, ok, slot, rows, close_pos), splits


@dataclasses.dataclass
class _Splits:
    """The splits of one level: per node ``(C, J)`` whether it splits, its feature, threshold and impurity gain."""

    split: Any
    feature: Any
    threshold: Any
    gain: Any


# ------------------------------------------------------------------------------------------ a stage
def _reject(feature: np.ndarray, stats: _Stats, wave=None) -> np.ndarray:
    """Nodes whose split improves by less than −EPSILON (rounding) stay leaves, as in the builder."""
    bad = (stats.improvement + EPSILON < 0.0).cpu().numpy() & (feature >= 0)
    if wave is not None:
        bad &= wave
    out = feature.copy()
    out[bad] = -1
    return out


def _grow_level(srt: _Sorted, gt, lv: _Level, hits, draws: _StageDraws):
    """Decide, split and partition the nodes of one level, drawing each tree's splitter in depth-first order."""
    depth, shape = lv.depth, tuple(lv.start.shape)
    ok = lv.ok.cpu().numpy()
    feature, position, ties = _choose(hits, shape)
    if depth == 1:
        return _grow_level_one(srt, gt, lv, ok, feature, position, ties, draws)
    if depth == 0:
        draws.draw_level(ok, _constants(srt, lv), 0, [0])
    _break_ties(feature, position, ties, draws, depth)
    if depth + 1 == MAX_DEPTH:  # the children are leaves: their sums only feed importances and the improvement test
        parts = _partition(srt, lv, feature, position)
        stats = _leaf_level_stats(srt, gt, lv, feature, position, parts[2], draws.last_sorted(depth, shape))
        kept = _reject(feature, stats)
        if not np.array_equal(kept, feature):
            parts = _partition(srt, lv, kept, position)
        return _next_level(lv, kept, stats, parts)
    stats = _split_stats(srt, gt, lv, feature, position, feature >= 0, draws.last_sorted(depth, shape))
    feature = _reject(feature, stats)
    return _next_level(lv, feature, stats, _partition(srt, lv, feature, position))


def _leaf_level_stats(srt: _Sorted, gt, lv: _Level, feature, position, slot, f_sort) -> _Stats:
    """The last level's split statistics from sums in any order, except where the improvement is too close to the
    builder's −EPSILON threshold to be sure of the leaf test: there as scikit-learn sums (:func:`_split_stats`)."""
    import torch

    c, n = gt.shape
    j = lv.start.shape[1]
    split = torch.as_tensor(feature >= 0, device=gt.device)
    tc, tj = split.nonzero(as_tuple=True)
    zeros = torch.zeros((c, 2 * j), dtype=gt.dtype, device=gt.device)
    sums = torch.stack([zeros.scatter_add(1, slot, gt), zeros.scatter_add(1, slot, gt * gt)], dim=2)  # (C, 2J, 2)
    sums = sums.reshape(c, j, 4)[tc, tj]
    p = torch.as_tensor(np.maximum(position, 1), device=gt.device)[tc, tj]
    n_l, n_r = (p - lv.start[tc, tj]).double(), (lv.start[tc, tj] + lv.count[tc, tj] - p).double()
    out = _impurities(lv, tc, tj, n_l, n_r, sums[:, 0], sums[:, 1], n)
    stats = _scatter_stats(c, j, tc, tj, n_l, n_r, sums, out, _thresholds(srt, lv, feature, position))
    margin = 1e-12 * lv.sq / n  # ≫ the rounding of sums of n terms relative to their second moment
    unsure = (split & ((stats.improvement + EPSILON).abs() <= margin)).cpu().numpy()
    if unsure.any():
        stats = stats.merge(_split_stats(srt, gt, lv, feature, position, unsure, f_sort), unsure)
    return stats


def _grow_level_one(srt: _Sorted, gt, lv: _Level, ok, feature, position, ties, draws: _StageDraws):
    """Depth 1: the builder visits the left node, ITS children, then the right node; the right node's draws (its
    tie-breaking and the sample order its split sums follow) wait for the left node's children. Whether those call
    node_split is usually certain from sums in any order: then both nodes' exact sums take one pass."""
    c, j = ok.shape
    const = _constants(srt, lv)
    draws.draw_level(ok, const, 1, [0])
    _break_ties(feature, position, ties, draws, 1, nodes={0})
    for (tree, node), first in ties.items():  # provisional: the left node's children do not depend on it
        if node == 1:
            feature[tree, 1], position[tree, 1] = next(iter(first.items()))
    left = np.zeros((c, j), dtype=bool)
    left[:, 0] = True
    parts = _partition(srt, lv, feature, position)
    approx, sure = _approx_stats(gt, lv, feature, position, parts, left & (feature >= 0))
    if sure:
        feature = _reject(feature, approx, left)  # certain, as below
        stats = approx
    else:
        stats = _split_stats(srt, gt, lv, feature, position, left & (feature >= 0), draws.last_sorted(1, (c, j)))
        feature = _reject(feature, stats, left)
        parts = _partition(srt, lv, feature, position)
    provisional = _next_level(lv, feature, stats, parts)[0]
    const2, ok2 = _constants(srt, provisional), provisional.ok.cpu().numpy()
    for tree in range(c):
        for child in (0, 1):
            if ok2[tree, child]:
                draws.draw(tree, 2, child, const2[tree, child])
        if ok[tree, 1]:
            draws.draw(tree, 1, 1, const[tree, 1])
    before = (feature.copy(), position.copy())
    _break_ties(feature, position, ties, draws, 1, nodes={1})
    wave = (np.ones if sure else np.zeros)((c, j), dtype=bool)
    wave[:, 1] = True
    exact = _split_stats(srt, gt, lv, feature, position, wave & (feature >= 0), draws.last_sorted(1, (c, j)))
    stats = stats.merge(exact, wave)
    feature = _reject(feature, stats, ~left)
    if not (np.array_equal(before[0], feature) and np.array_equal(before[1], position)):
        parts = _partition(srt, lv, feature, position)
    nxt, splits = _next_level(lv, feature, stats, parts)
    assert np.array_equal(nxt.ok.cpu().numpy()[:, :2], ok2[:, :2]), "depth-2 nodes drawn on a wrong guess"
    draws.draw_level(nxt.ok.cpu().numpy(), _constants(srt, nxt), 2, [2, 3])
    return nxt, splits


def _approx_stats(gt, lv: _Level, feature, position, parts, nodes) -> tuple[_Stats, bool]:
    """The split statistics of ``nodes`` from sums in any order, and whether the builder's decisions on them (the
    improvement test, whether each child calls node_split) are certain: every value further than 1e-9 of the
    node's second moment from EPSILON (far more than the rounding of any order of n ≤ 10^6 terms)."""
    import torch

    c, n = gt.shape
    j = lv.start.shape[1]
    count, slot = parts[1], parts[2]
    zeros = torch.zeros((c, 2 * j), dtype=gt.dtype, device=gt.device)
    sums = torch.stack([zeros.scatter_add(1, slot, gt), zeros.scatter_add(1, slot, gt * gt)], dim=2).reshape(c, j, 4)
    split = torch.as_tensor(nodes, device=gt.device)
    tc, tj = split.nonzero(as_tuple=True)
    n_l, n_r = count.reshape(c, j, 2)[tc, tj].double().unbind(1)
    out = _impurities(lv, tc, tj, n_l, n_r, sums[tc, tj, 0], sums[tc, tj, 1], n)
    scale = lv.sq[tc, tj] / lv.count[tc, tj].double()
    unsure = (out[2] + EPSILON).abs() <= 3e-9 * scale * lv.count[tc, tj].double() / n
    for imp, size, sq in ((out[0], n_l, sums[tc, tj, 1]), (out[1], n_r, sums[tc, tj, 3])):
        unsure |= (size >= 2) & ((imp - EPSILON).abs() <= 2e-9 * sq / size)
    none = torch.zeros((c, j), dtype=gt.dtype, device=gt.device)  # the thresholds come with the exact pass
    stats = _scatter_stats(c, j, tc, tj, n_l, n_r, sums[tc, tj], out, none)
    return stats, not bool(unsure.any())


def _grow_stage(srt: _Sorted, g, seeds, work: dict):
    """The C trees of one stage on negative gradients ``g (N, C)``: ``(leaf slot of each sample (C, N),
    splits of each level)``."""
    gt = g.T.contiguous()
    draws = _StageDraws(seeds, srt.values.shape[0])
    lv, splits = _root(gt, srt), []
    for _ in range(MAX_DEPTH):
        lv, done = _grow_level(srt, gt, lv, _best_candidates(srt, gt, lv, work), draws)
        splits.append(done)
    return lv.node, splits


def _leaf_values(neg: np.ndarray, target: np.ndarray, slot: np.ndarray, factors: list, threads: int = 1) -> np.ndarray:
    """One Newton step per leaf ``(C, 8)`` as ``_update_terminal_regions``: ``np.average`` (numpy's pairwise sum,
    samples in index order) of the negative gradients ``neg (C, N)``, times ``factors[c]`` ((K − 1)/K of a K > 2
    class model; None: 1), over that of p(1 − p); 0 below 1e-150. ``slot (C, N)``: each sample's leaf. Compiled
    (:func:`._boosting_cpu.leaf_values`) where its sums are numpy's, else with numpy's sums."""
    from benchmark.metrics import _boosting_cpu

    scale = np.array([np.nan if f is None else f for f in factors])
    if _boosting_cpu.pairwise_sum_matches_numpy():
        return _boosting_cpu.leaf_values(slot, _LEAVES, neg, target, scale, threads)
    bounds, num, den = _boosting_cpu.leaf_members(slot, _LEAVES, neg, target)  # each leaf's samples contiguous
    out = np.zeros((slot.shape[0], _LEAVES))
    for c in range(slot.shape[0]):
        for leaf in np.flatnonzero(bounds[c, 1:] > bounds[c, :-1]):
            lo, hi = int(bounds[c, leaf]), int(bounds[c, leaf + 1])
            numerator = num[c, lo:hi].sum() / float(hi - lo)
            if factors[c] is not None:
                numerator *= factors[c]
            denominator = den[c, lo:hi].sum() / float(hi - lo)
            out[c, leaf] = 0.0 if abs(denominator) < 1e-150 else float(numerator) / float(denominator)
    return out


# ------------------------------------------------------------------------------------------- the fit
def _check_codes(codes: Any) -> np.ndarray:
    x = np.asarray(codes)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"codes must be a numeric (N, D) array with N >= 2, got shape {x.shape} dtype {x.dtype}")
    x32 = x.astype(np.float32)  # scikit-learn's trees work on float32 (DTYPE)
    if not np.all(np.isfinite(x32)):
        raise ValueError(f"codes of shape {x.shape} must be finite in float32")
    return x32


def _check_labels(labels: Any, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integer class labels of shape ({n},), got shape {y.shape} dtype {y.dtype}")
    return y


def fit_gradient_boosting(
    codes: Any, labels: Any, *, random_state: int, device: str = "cpu",
    n_estimators: int = N_ESTIMATORS, learning_rate: float = LEARNING_RATE,
) -> GradientBoosting:
    """The ``GradientBoostingClassifier(random_state=random_state, n_estimators=..., learning_rate=...)`` of
    scikit-learn 1.9.1 fitted on ``codes (N, D)`` and integer ``labels (N,)`` (any values, at least two distinct;
    ``classes_`` = their sorted unique values), grown in torch on ``device``; module docstring for what is exact."""
    return fit_gradient_boosting_many(codes, [labels], random_states=[random_state], device=device,
                                      n_estimators=n_estimators, learning_rate=learning_rate)[0]  # fmt: skip


@dataclasses.dataclass
class _Task:
    """One classifier of a joint fit: its classes, targets, raw predictions and the columns of its trees."""

    classes: np.ndarray
    init: Any  # (trees,) tensor on the fit's device
    target: np.ndarray  # (trees, N) float64: y == k (one row for two classes: y)
    raw: np.ndarray  # (trees, N) float64
    seeds: np.ndarray  # (n_estimators · trees,) the trees' splitter seeds, stage-major
    factor: float | None  # (K − 1)/K of the multinomial leaf step, None for two classes
    first: int  # its first tree among the stage's trees


def fit_gradient_boosting_many(
    codes: Any, labels: Any, *, random_states: Any, device: str = "cpu",
    n_estimators: int = N_ESTIMATORS, learning_rate: float = LEARNING_RATE, progress=None, threads: int | None = None,
    engine: str = "auto",
) -> list[GradientBoosting]:
    """:func:`fit_gradient_boosting` of the same ``codes`` for each label vector of ``labels`` (a sequence, or the
    columns of an ``(N, K)`` array) with its own ``random_states[i]``: the same models as separate fits, but the
    trees of all of them are grown together stage by stage (one presort, one pass of each tensor operation).
    ``progress(done, total)``, if given, is called after each stage. ``engine``: what grows the trees, one of
    :data:`ENGINES` (``auto``: ``compiled`` on CPU, ``torch`` elsewhere). ``threads``: the CPU threads of the fit
    (compiled: the trees of a stage in parallel; torch: its intra-op threads; None: 1 and torch's setting). The
    models do not depend on ``threads`` or on the engine."""
    import torch

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    on_cpu = torch.device(device).type == "cpu"
    if engine == "auto":
        engine = "compiled" if on_cpu else "torch"
    if engine == "compiled" and not on_cpu:
        raise ValueError(f"the compiled engine grows trees on the CPU only, got device {device!r}")
    if threads is not None and on_cpu and engine == "torch":
        before = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        try:
            return fit_gradient_boosting_many(codes, labels, random_states=random_states, device=device,
                                              n_estimators=n_estimators, learning_rate=learning_rate,
                                              progress=progress, engine=engine)  # fmt: skip
        finally:
            torch.set_num_threads(before)

    columns = list(np.asarray(labels).T) if isinstance(labels, np.ndarray) and np.ndim(labels) == 2 else list(labels)
    if len(columns) != len(random_states):
        raise ValueError(f"need one random_state per label vector, got {len(random_states)} for {len(columns)}")
    x32, dev = _check_codes(codes), torch.device(device)
    tasks, first = [], 0
    for y, seed in zip(columns, random_states):
        tasks.append(_task(_check_labels(y, x32.shape[0]), int(seed), n_estimators, first, dev))
        first += tasks[-1].target.shape[0]
    if not tasks:
        return []
    srt = _presort(torch.as_tensor(x32, device=dev))
    shape = (max(1, min(first, _CHUNK // (x32.shape[0] * x32.shape[1]))),) + tuple(x32.T.shape)
    work = {name: torch.empty(shape, dtype=torch.float64, device=dev) for name in ("y", "s", "r")}
    from benchmark.metrics import _boosting_cpu

    cpu_threads = 1 if threads is None else int(threads)
    target = np.concatenate([t.target for t in tasks])
    factors = [t.factor for t in tasks for _ in range(t.target.shape[0])]
    if engine == "compiled":
        grower = _boosting_cpu.StageGrower(x32.T, srt.order.to(torch.int32).numpy(), srt.values.numpy(),
                                           cpu_threads)
    raw = np.concatenate([t.raw for t in tasks])  # (trees, N); each task's rows a view of it
    for t in tasks:
        t.raw = raw[t.first : t.first + t.target.shape[0]]
    stages = []
    for s in range(n_estimators):
        g = np.concatenate([_boosting_cpu.neg_gradient(t.raw, t.target, cpu_threads) for t in tasks])  # (trees, N)
        seeds = np.concatenate([t.seeds[s * t.target.shape[0] : (s + 1) * t.target.shape[0]] for t in tasks])
        if engine == "compiled":
            slot, splits = _compiled_stage(*grower.grow(g, seeds))
        else:
            slot, splits = _grow_stage(srt, torch.as_tensor(g, device=dev).T, seeds, work)
            slot = slot.cpu().numpy()
        values = _leaf_values(g, target, slot, factors, cpu_threads)
        _boosting_cpu.add_leaf_values(raw, values, slot, learning_rate, cpu_threads)
        stages.append((splits, torch.as_tensor(values, device=dev)))
        if progress is not None:
            progress(s + 1, n_estimators)
    return [_assemble(t, stages, x32.shape, learning_rate, cpu_threads) for t in tasks]


def _compiled_stage(feature, threshold, gain, split, leaf):
    """:meth:`._boosting_cpu.StageGrower.grow`'s outputs as :func:`_grow_stage` returns them (the leaf slots as
    numpy)."""
    import torch

    out = []
    for level in range(MAX_DEPTH):
        cols = slice(2**level - 1, 2 ** (level + 1) - 1)
        flag = torch.from_numpy(split[:, cols])
        out.append(_Splits(flag, torch.from_numpy(feature[:, cols]) * flag, torch.from_numpy(threshold[:, cols]),
                           torch.from_numpy(gain[:, cols])))  # fmt: skip
    return leaf, out


def _task(y: np.ndarray, seed: int, n_estimators: int, first: int, dev) -> _Task:
    import torch

    classes, encoded = np.unique(y, return_inverse=True)
    k = classes.size
    if k < 2:
        raise ValueError(f"labels need at least 2 classes to fit a classifier, got only {classes.tolist()}")
    trees = 1 if k == 2 else k
    init = _init_raw(encoded, k)
    target = (encoded[None, :] == (np.arange(k)[:, None] if trees > 1 else 1)).astype(np.float64)
    seeds = np.random.RandomState(seed).randint(0, RAND_R_MAX, size=n_estimators * trees)
    raw = np.repeat(init[:, None], y.shape[0], axis=1)
    return _Task(classes, torch.as_tensor(init, device=dev), target, raw, seeds, (k - 1) / k if trees > 1 else None,
                 first)


def _assemble(task: _Task, stages, shape, learning_rate, threads: int) -> GradientBoosting:
    """One task's trees, stacked, and ``feature_importances_`` as scikit-learn computes them."""
    import torch

    n, d = shape
    cols = slice(task.first, task.first + task.target.shape[0])
    feats = torch.stack([torch.cat([s.feature[cols] for s in splits], dim=1) for splits, _ in stages])
    thresholds = torch.stack([torch.cat([s.threshold[cols] for s in splits], dim=1) for splits, _ in stages])
    values = torch.stack([v[cols] for _, v in stages])
    per_tree = torch.zeros(feats.shape[:2] + (d,), dtype=torch.float64, device=values.device)
    for level in range(MAX_DEPTH):
        lo = 2**level - 1
        gains = torch.stack([splits[level].gain[cols] for splits, _ in stages])
        per_tree.scatter_add_(2, feats[:, :, lo : 2 * lo + 1], gains)
    per_tree /= n  # compute_feature_importances(normalize=False): divided by the root's weight
    relevant = torch.stack([splits[0].split[cols, 0] for splits, _ in stages]).reshape(-1)  # node_count > 1
    per_tree = per_tree.reshape(-1, d)[relevant].cpu().numpy()
    importances = np.zeros(d) if per_tree.shape[0] == 0 else np.mean(per_tree, axis=0, dtype=np.float64)
    if per_tree.shape[0]:
        importances = importances / np.sum(importances)
    return GradientBoosting(task.classes, importances, task.init, feats, thresholds, values, learning_rate, threads)
