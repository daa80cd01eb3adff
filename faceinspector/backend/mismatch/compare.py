"""What differs between two scanned collections, ranked.

Per attribute
    ``score``: the 1-D Wasserstein distance between the target's and the reference's values, in
    units of the reference's spread (its standard deviation, floored at the attribute's
    measurement resolution, so a constant attribute still gets a finite score); ``ks``: the
    two-sample Kolmogorov-Smirnov statistic and its p-value; an *alarm* when the p-value,
    Bonferroni-corrected over the attributes compared, is below ``alpha`` (1 %) AND the score is
    at least ``min_effect`` (0.25 reference spreads): a difference that is both real and large
    enough to matter. Two halves of one data set raise no alarm (a test checks it).
Embedding
    ``embedding_distance``: each image's L2 distance from the reference's mean embedding, ranked
    like the attributes (group ``embedding``).
Domain classifiers (scikit-learn)
    Can a classifier tell the sets apart? Cross-validated ROC AUC (5 folds, stratified) of a
    gradient-boosted tree model on the attribute table and of a logistic regression on the
    embeddings; 0.5 = indistinguishable. For the attributes, permutation importance on a held-out
    part says which ones it relies on.

Attributes of the file rather than of what a model sees (``aspect``, ``megapixels``,
``jpeg_quality``) are compared the same way but reported apart (``format``), since every model
resizes its input: the differences they cause show up in the face geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..attributes import BY_NAME, NAMES

#: file properties: compared and reported, but not ranked against what a model sees
FORMAT = ("aspect", "megapixels", "jpeg_quality")
ALPHA = 0.01
MIN_EFFECT = 0.25
#: rows per set the domain classifiers use at most (they are the slow part at 10,000 images)
MAX_ROWS = 4000


@dataclass(frozen=True)
class Shift:
    """One attribute's difference between the reference and the target."""

    name: str
    group: str  # "geometry", "photometry", "embedding" or "format"
    score: float  # Wasserstein distance / reference spread
    ks: float
    p_value: float
    alarm: bool
    ref_mean: float
    ref_std: float
    tgt_mean: float
    tgt_std: float
    n_ref: int
    n_tgt: int
    description: str = ""
    importance: float = float("nan")  # permutation importance in the attribute classifier

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in self.__dict__.items()}


@dataclass(frozen=True, eq=False)
class Comparison:
    """The ranked shifts, the file-format differences and the domain classifiers."""

    shifts: tuple[Shift, ...]  # geometry, photometry, embedding; by score, largest first
    formats: tuple[Shift, ...]
    domain_auc: dict  # {"attributes": float | None, "embeddings": float | None}
    domain_note: str = ""
    target_scores: np.ndarray | None = None  # P(target) of each target image (embeddings)
    reference_scores: np.ndarray | None = None
    alpha: float = ALPHA
    min_effect: float = MIN_EFFECT
    extra: dict = field(default_factory=dict)

    @property
    def alarms(self) -> tuple[Shift, ...]:
        return tuple(s for s in self.shifts if s.alarm)


def shift(name: str, ref: np.ndarray, tgt: np.ndarray, resolution: float, group: str,
          tests: int, description: str = "", alpha: float = ALPHA,
          min_effect: float = MIN_EFFECT) -> Shift | None:
    """The :class:`Shift` of one attribute (None when either set has fewer than 2 values)."""
    from scipy.stats import ks_2samp, wasserstein_distance

    a = np.asarray(ref, np.float64)
    b = np.asarray(tgt, np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return None
    spread = max(float(a.std()), resolution)
    score = float(wasserstein_distance(a, b)) / spread
    if np.all(a == a[0]) and np.all(b == a[0]):
        ks, p = 0.0, 1.0
    else:
        import warnings

        with warnings.catch_warnings():  # "exact calculation unsuccessful": falls back, fine
            warnings.simplefilter("ignore", RuntimeWarning)
            res = ks_2samp(a, b)
        ks, p = float(res.statistic), float(res.pvalue)
    alarm = bool(p * max(tests, 1) < alpha and score >= min_effect)
    return Shift(name, group, score, ks, p, alarm, float(a.mean()), float(a.std()),
                 float(b.mean()), float(b.std()), len(a), len(b), description)


def _subsample(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(x) <= n:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))]


def _domain_data(ref_x, tgt_x, seed: int):
    ref_x = _subsample(ref_x, MAX_ROWS, seed)
    tgt_x = _subsample(tgt_x, MAX_ROWS, seed + 1)
    x = np.concatenate([ref_x, tgt_x])
    y = np.concatenate([np.zeros(len(ref_x), int), np.ones(len(tgt_x), int)])
    return x, y


def attribute_classifier(ref_x: np.ndarray, tgt_x: np.ndarray, names, seed: int = 0):
    """(cross-validated AUC, {name: permutation importance}) of a tree model telling the
    target's rows from the reference's; (None, {}) with too few rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split

    x, y = _domain_data(ref_x, tgt_x, seed)
    if min(np.bincount(y, minlength=2)) < 10:
        return None, {}
    clf = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, random_state=seed)
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    auc = float(np.mean(cross_val_score(clf, x, y, cv=cv, scoring="roc_auc")))
    xa, xb, ya, yb = train_test_split(x, y, test_size=0.3, stratify=y, random_state=seed)
    clf.fit(xa, ya)
    imp = permutation_importance(clf, xb, yb, scoring="roc_auc", n_repeats=5,
                                 random_state=seed)
    return auc, {n: float(v) for n, v in zip(names, imp.importances_mean)}


def embedding_classifier(ref_e: np.ndarray, tgt_e: np.ndarray, seed: int = 0):
    """(cross-validated AUC, P(target) of every reference row, of every target row) of a
    logistic regression on the embeddings; (None, None, None) with too few rows. The
    probabilities are out-of-fold (each row scored by a model that did not see it)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.metrics import roc_auc_score

    ok_r = np.all(np.isfinite(ref_e), 1)
    ok_t = np.all(np.isfinite(tgt_e), 1)
    x = np.concatenate([ref_e[ok_r], tgt_e[ok_t]])
    y = np.concatenate([np.zeros(ok_r.sum(), int), np.ones(ok_t.sum(), int)])
    if min(np.bincount(y, minlength=2)) < 10:
        return None, None, None
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, p))
    pr = np.full(len(ref_e), np.nan)
    pt = np.full(len(tgt_e), np.nan)
    pr[ok_r], pt[ok_t] = p[:ok_r.sum()], p[ok_r.sum():]
    return auc, pr, pt


def embedding_distance(ref_e: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """L2 distance of each row of ``emb`` from the mean of the reference's finite rows."""
    ok = np.all(np.isfinite(ref_e), 1)
    if not ok.any():
        return np.full(len(emb), np.nan)
    centre = ref_e[ok].mean(0)
    return np.linalg.norm(emb - centre, axis=1)


def compare(ref, tgt, alpha: float = ALPHA, min_effect: float = MIN_EFFECT, seed: int = 0,
            classifiers: bool = True) -> Comparison:
    """Compare two scanned tables (:class:`~.scan.Table`): rank the attributes, the embedding
    distance and the file formats, and run the domain classifiers."""
    ranked = [n for n in NAMES if n not in FORMAT]
    has_emb = ref.embeddings is not None and tgt.embeddings is not None
    tests = len(ranked) + int(has_emb)
    shifts, formats = [], []
    for n in NAMES:
        a = BY_NAME[n]
        s = shift(n, ref.values[n], tgt.values[n], a.resolution,
                  "format" if n in FORMAT else a.group, tests if n not in FORMAT else len(FORMAT),
                  a.description, alpha, min_effect)
        if s is not None:
            (formats if n in FORMAT else shifts).append(s)
    extra = {}
    if has_emb:
        dr = embedding_distance(ref.embeddings, ref.embeddings)
        dt = embedding_distance(ref.embeddings, tgt.embeddings)
        extra["embedding_distance"] = (dr, dt)
        s = shift("embedding_distance", dr, dt, 0.01, "embedding", tests,
                  "L2 distance of the face embedding from the reference's mean embedding",
                  alpha, min_effect)
        if s is not None:
            shifts.append(s)
    auc_attr = auc_emb = None
    pr = pt = None
    note = ""
    if classifiers:
        rx = np.stack([ref.values[n] for n in ranked], 1) if len(ref) else np.zeros((0, 1))
        tx = np.stack([tgt.values[n] for n in ranked], 1) if len(tgt) else np.zeros((0, 1))
        auc_attr, imp = attribute_classifier(rx, tx, ranked, seed)
        shifts = [Shift(**{**s.__dict__, "importance": imp.get(s.name, float("nan"))})
                  for s in shifts]
        if has_emb:
            auc_emb, pr, pt = embedding_classifier(ref.embeddings, tgt.embeddings, seed)
        if auc_attr is None:
            note = "too few images for the domain classifiers (10 per set at least)"
    shifts.sort(key=lambda s: (-s.score, s.name))
    formats.sort(key=lambda s: (-s.score, s.name))
    return Comparison(tuple(shifts), tuple(formats),
                      {"attributes": auc_attr, "embeddings": auc_emb}, note, pt, pr, alpha,
                      min_effect, extra)


__all__ = ["ALPHA", "FORMAT", "MIN_EFFECT", "Comparison", "Shift", "attribute_classifier",
           "compare", "embedding_classifier", "embedding_distance", "shift"]
