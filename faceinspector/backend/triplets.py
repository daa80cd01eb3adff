"""Embedding distances, the triplet loss, and face verification on labelled pairs.

Verification follows the LFW protocol: pairs split into folds; for each fold the threshold τ
that maximises accuracy on the other folds is applied to it; the reported accuracy is the mean
over folds. Also: ROC curve, TAR at a given FAR, and the hardest pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

METRICS = ("l2", "sq-l2", "cosine")


def distance(a: np.ndarray, b: np.ndarray, metric: str = "l2") -> np.ndarray:
    """Row-wise distance between embeddings ``a`` (N, D) and ``b`` (N, D) (or single vectors).

    l2: Euclidean; sq-l2: squared Euclidean (FaceNet's triplet loss); cosine: 1 - cos(a, b).
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if metric == "l2":
        return np.linalg.norm(a - b, axis=-1)
    if metric == "sq-l2":
        return ((a - b) ** 2).sum(-1)
    if metric == "cosine":
        na = np.linalg.norm(a, axis=-1)
        nb = np.linalg.norm(b, axis=-1)
        # clipped: rounding made 1 - cos(a, a) a hair below 0, and "d < τ = 0" said "same"
        return np.clip(1.0 - (a * b).sum(-1) / np.maximum(na * nb, 1e-12), 0.0, 2.0)
    raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def distance_matrix(emb: np.ndarray, metric: str = "l2") -> np.ndarray:
    """All pairwise distances of ``emb`` (N, D) as an (N, N) matrix with a zero diagonal.

    From the Gram matrix (one matrix product, O(N²) memory), not N² difference vectors: a few
    ms for 400 faces where the broadcast version took ~100 ms.
    """
    emb = np.asarray(emb, np.float64)
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if metric == "cosine":
        unit = emb / np.maximum(np.linalg.norm(emb, axis=-1, keepdims=True), 1e-12)
        d = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    else:
        sq = (emb * emb).sum(-1)
        d = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (emb @ emb.T), 0.0)
        if metric == "l2":
            d = np.sqrt(d)
    np.fill_diagonal(d, 0.0)
    return (d + d.T) / 2  # exactly symmetric


def triplet_loss(anchor, positive, negative, margin: float = 0.2, metric: str = "sq-l2"):
    """max(d(A, P) - d(A, N) + α, 0), FaceNet (Schroff et al. 2015) with α = ``margin``."""
    return np.maximum(distance(anchor, positive, metric) - distance(anchor, negative, metric)
                      + margin, 0.0)


def order_by_similarity(dist: np.ndarray) -> np.ndarray:
    """A permutation that puts close items together (greedy nearest-neighbour chain)."""
    n = len(dist)
    if n == 0:
        return np.zeros(0, int)
    dist = np.asarray(dist, np.float64)
    order = [int(np.argmin(dist.sum(1)))]
    used = np.zeros(n, bool)
    used[order[0]] = True
    for _ in range(n - 1):
        row = np.where(used, np.inf, dist[order[-1]])
        nxt = int(np.argmin(row))  # the nearest unused item (lowest index on ties)
        order.append(nxt)
        used[nxt] = True
    return np.array(order)


# ------------------------------------------------------------------------------ LFW pairs


@dataclass(frozen=True)
class Pair:
    a: str  # relative image path, e.g. "Name/Name_0001.jpg"
    b: str
    same: bool
    fold: int


def lfw_image(name: str, index: int) -> str:
    return f"{name}/{name}_{int(index):04d}.jpg"


def read_pairs(path: str | Path) -> list[Pair]:
    """Parse an LFW-format pairs file: a header ``folds n`` (``pairs.txt``: 10 folds of 300 as
    distributed, any number here) or ``n`` alone (``pairsDevTrain.txt`` / ``pairsDevTest.txt``:
    one fold), then per fold n same-person and n different-person lines.

    Raises ``ValueError`` naming the file (and the line) for anything that is not that format.
    """
    name = Path(path).name
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").split("\n")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name} is not a text file ({exc.reason})") from None
    head = lines[0].split()
    try:
        folds, n = (1, int(head[0])) if len(head) == 1 else (int(head[0]), int(head[1]))
    except (IndexError, ValueError) as exc:
        raise ValueError(f"{name}: first line must be '<folds> <pairs per half>' (LFW's "
                         "pairs.txt; '<pairs per half>' alone for one fold, as in "
                         f"pairsDevTest.txt), not {lines[0][:40]!r}") from exc
    if folds < 1 or n < 1:
        raise ValueError(f"{name}: first line says {folds} folds of {n} pairs per half; both "
                         "must be 1 or more")
    rows = [(k + 2, ln.split()) for k, ln in enumerate(lines[1:]) if ln.strip()]
    if len(rows) < folds * 2 * n:
        raise ValueError(f"{name}: expected {folds * 2 * n} pairs, found {len(rows)}")
    out = []
    for i, (line, r) in enumerate(rows[: folds * 2 * n]):
        fold = i // (2 * n)
        try:
            if len(r) == 3:
                out.append(Pair(lfw_image(r[0], r[1]), lfw_image(r[0], r[2]), True, fold))
            elif len(r) == 4:
                out.append(Pair(lfw_image(r[0], r[1]), lfw_image(r[2], r[3]), False, fold))
            else:
                raise ValueError("not a pair")
        except ValueError:
            raise ValueError(f"{name}, line {line}: not a pair ('NAME N M' or 'NAME N NAME2 "
                             f"M' with whole numbers N, M): {' '.join(r)}") from None
    return out


def best_threshold(dist: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(τ, accuracy) maximising accuracy of ``dist < τ`` == ``same``.

    Only cuts between two different distances are considered: tied pairs fall on the same
    side of any threshold, so a cut inside a run of ties would claim an accuracy that
    ``dist < τ`` cannot reach.
    """
    order = np.argsort(dist)
    d, s = dist[order], same[order].astype(int)
    # predicting "same" for the first k pairs: correct = same among first k + different after
    correct = np.concatenate([[0], np.cumsum(s)]) + np.concatenate(
        [[(1 - s).sum()], (1 - s).sum() - np.cumsum(1 - s)])
    valid = np.ones(len(d) + 1, bool)
    valid[1:-1] = d[1:] > d[:-1]  # a cut between positions k-1 and k
    k = int(np.argmax(np.where(valid, correct, -1)))
    if k == 0:
        tau = d[0] - 1e-6
    elif k == len(d):
        tau = d[-1] + 1e-6
    else:
        tau = (d[k - 1] + d[k]) / 2
    return float(tau), correct[k] / len(d)


#: dlib's same-person threshold for its 128-D ResNet embeddings (Euclidean), the preset of the
#: fixed threshold in ``eval --threshold`` and the Verification pane
DLIB_THRESHOLD = 0.6
#: bootstrap resamples for the verification intervals (``metrics.bootstrap``)
N_BOOT = 1000


@dataclass(frozen=True)
class AtThreshold:
    """Verification at one fixed threshold τ ("same person" when ``dist < τ``), with 95 %
    bootstrap intervals (resampling the pairs)."""

    threshold: float
    accuracy: float
    far: float                # different-person pairs accepted, of all different-person pairs
    frr: float                # same-person pairs rejected, of all same-person pairs
    n_same: int
    n_different: int
    ci: dict                  # {"accuracy" | "far" | "frr": [low, high]}


def _rates(dist, same, tau: float) -> dict[str, float]:
    accept = dist < tau
    neg = ~same
    return {"accuracy": float((accept == same).mean()),
            "far": float(accept[neg].mean()) if neg.any() else float("nan"),
            "frr": float((~accept[same]).mean()) if same.any() else float("nan")}


def at_threshold(dist, same, tau: float, n_boot: int | None = None,
                 seed: int = 0) -> AtThreshold:
    """Accuracy, FAR and FRR of ``dist < tau`` as "same person", with bootstrap intervals
    (``n_boot`` resamples, default :data:`N_BOOT`)."""
    from .metrics import bootstrap

    n_boot = N_BOOT if n_boot is None else n_boot
    dist, same = np.asarray(dist, np.float64), np.asarray(same, bool)
    r = _rates(dist, same, float(tau))
    ci = bootstrap(lambda d, s: _rates(d, s, float(tau)), dist, same, n_boot=n_boot, seed=seed)
    return AtThreshold(float(tau), r["accuracy"], r["far"], r["frr"], int(same.sum()),
                       int((~same).sum()), ci)


@dataclass(frozen=True, eq=False)
class VerificationReport:
    """What :func:`verify` measured. With one fold (``folds == 1``) there are no held-out
    pairs: the threshold was chosen on the very pairs it is scored on, so ``accuracy`` is
    optimistic (:attr:`cross_validated` is False) and ``accuracy_std`` means nothing."""

    accuracy: float          # mean of per-fold accuracies with thresholds from the other folds
    accuracy_std: float      # over the folds (0 with one fold)
    threshold: float         # best threshold on all pairs
    fold_thresholds: np.ndarray
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float
    tar_at_far: dict          # {far: tar}
    dist: np.ndarray          # the pairs scored (pairs with an unreadable image left out)
    same: np.ndarray
    n_pairs: int              # pairs scored
    index: np.ndarray | None = None  # position of each scored pair in the caller's pair list
    excluded: int = 0         # pairs left out because an image could not be read
    folds: int = 1
    accuracy_ci: tuple = (float("nan"), float("nan"))  # 95 % bootstrap interval
    tar_ci: dict = field(default_factory=dict)  # {far: [low, high]}
    fixed: AtThreshold | None = None  # at a threshold given by the caller

    def pair(self, i: int) -> int:
        """The position in the caller's pair list of scored pair ``i``."""
        return int(i if self.index is None else self.index[i])

    @property
    def cross_validated(self) -> bool:
        """True when each fold's threshold was chosen on other folds (two or more folds)."""
        return self.folds > 1

    @property
    def n_same(self) -> int:
        return int(self.same.sum())

    @property
    def n_different(self) -> int:
        return int(self.n_pairs - self.same.sum())

    def resolvable(self, far: float) -> bool:
        """Whether the different-person pairs can measure a false accept rate this small: with
        N of them the smallest non-zero FAR is 1/N, so FAR < 1/N cannot be resolved (709
        negatives cannot resolve 1e-3)."""
        return self.n_different > 0 and far * self.n_different >= 1

    def with_threshold(self, tau: float | None) -> "VerificationReport":
        """This report with the figures at a fixed threshold ``tau`` (None: without)."""
        return replace(self, fixed=None if tau is None else at_threshold(self.dist, self.same,
                                                                         tau))

    def threshold_note(self) -> str:
        """How the accuracy's threshold was chosen, in words."""
        if self.cross_validated:
            return f"τ chosen on the other folds of {self.folds}, LFW protocol"
        return ("one fold: τ chosen on these same pairs, so the accuracy is optimistic; "
                "use a fixed threshold for an honest figure")


def roc(dist: np.ndarray, same: np.ndarray):
    """(FAR, TAR) points of the ROC curve of accepting ``dist < τ`` as "same person".

    scikit-learn's ``roc_curve`` on the score ``-dist``: pairs with equal distances are one
    step of the curve (a diagonal segment), never ordered by their position in the file.
    """
    import warnings

    from sklearn.metrics import roc_curve

    dist, same = np.asarray(dist, np.float64), np.asarray(same, bool)
    if not same.any() or same.all():  # one class only: the curve is undefined
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fpr, tpr, _ = roc_curve(same, -dist, drop_intermediate=False)
    return fpr, tpr


def area_under(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """The area under an ROC curve (scikit-learn's ``auc``: trapezoids)."""
    from sklearn.metrics import auc

    return float(auc(fpr, tpr))


def _tar(fpr: np.ndarray, tpr: np.ndarray, far: float) -> float:
    ok = fpr <= far
    return float(tpr[ok].max()) if ok.any() else 0.0


def tar_at_far(dist: np.ndarray, same: np.ndarray, far: float) -> float:
    return _tar(*roc(dist, same), far)


def verify(dist: np.ndarray, same: np.ndarray, folds: np.ndarray,
           fars=(1e-3, 1e-2), index=None, excluded: int = 0,
           threshold: float | None = None, n_boot: int | None = None,
           seed: int = 0) -> VerificationReport:
    """Cross-validated verification accuracy from pair distances.

    Each fold is scored with the threshold that is best on the other folds (with one fold:
    on itself, see :class:`VerificationReport`). 95 % intervals come from ``n_boot`` bootstrap
    resamples of the pairs (:func:`faceinspector.backend.metrics.bootstrap`): the accuracy's
    from each pair's right / wrong under its fold's threshold, TAR @ FAR's from the ROC of each
    resample (scikit-learn). ``threshold``: also report accuracy, FAR and FRR at this fixed τ
    (:func:`at_threshold`). ``index`` and ``excluded`` are passed through to the report: where
    each pair sits in the caller's list, and how many pairs the caller left out (see
    :func:`faceinspector.backend.evaluate.pairs_report`).
    """
    from .metrics import bootstrap

    n_boot = N_BOOT if n_boot is None else n_boot
    dist, same, folds = np.asarray(dist, float), np.asarray(same, bool), np.asarray(folds)
    accs, taus = [], []
    correct = np.zeros(len(dist), bool)
    fold_ids = np.unique(folds)
    for f in fold_ids:
        test = folds == f
        train = ~test if (~test).any() else test  # one fold: no held-out data, tune on it
        tau, _ = best_threshold(dist[train], same[train])
        taus.append(tau)
        correct[test] = (dist[test] < tau) == same[test]
        accs.append(float(correct[test].mean()))
    fpr, tpr = roc(dist, same)
    auc = area_under(fpr, tpr)
    tau_all, _ = best_threshold(dist, same)
    fars = tuple(fars)
    acc_ci = bootstrap(lambda c: {"a": float(c.mean())}, correct, n_boot=n_boot,
                       seed=seed).get("a", [float("nan")] * 2)

    def tars(d, s):
        fp, tp = roc(d, s)
        return {far: _tar(fp, tp, far) for far in fars}

    tar_ci = bootstrap(tars, dist, same, n_boot=n_boot, seed=seed) if fars else {}
    return VerificationReport(
        accuracy=float(np.mean(accs)), accuracy_std=float(np.std(accs)), threshold=tau_all,
        fold_thresholds=np.array(taus), fpr=fpr, tpr=tpr, auc=auc,
        tar_at_far={far: _tar(fpr, tpr, far) for far in fars}, dist=dist, same=same,
        n_pairs=len(dist), index=None if index is None else np.asarray(index),
        excluded=int(excluded), folds=len(fold_ids), accuracy_ci=tuple(acc_ci),
        tar_ci=tar_ci,
        fixed=None if threshold is None else at_threshold(dist, same, threshold, n_boot, seed))


def hardest_pairs(dist: np.ndarray, same: np.ndarray, k: int = 5):
    """Indices of the k most distant same-person pairs and the k closest different pairs."""
    pos = np.flatnonzero(same)
    neg = np.flatnonzero(~np.asarray(same, bool))
    return pos[np.argsort(-dist[pos])][:k], neg[np.argsort(dist[neg])][:k]
