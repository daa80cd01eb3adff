"""Classification metrics with honest uncertainty: scikit-learn's metrics, bootstrap 95 % CIs.

Accuracy alone hides imbalance (an all-majority classifier looks good), so every report has the
class-balanced accuracy (mean per-class recall) and the macro-F1 next to it, each with a
percentile bootstrap confidence interval (resampling the items with replacement) and the number
of items it rests on. Expected calibration error uses equal-width confidence bins.
"""

from __future__ import annotations

import numpy as np

#: bootstrap resamples for the 95 % intervals (enough for stable 2.5/97.5 percentiles)
N_BOOT = 1000


def _sk():
    from sklearn import metrics

    return metrics


def _scores(y_true, y_pred, labels) -> dict[str, float]:
    m = _sk()
    return {
        "accuracy": float(m.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(_balanced(y_true, y_pred, labels)),
        "macro_f1": float(m.f1_score(y_true, y_pred, labels=labels, average="macro",
                                     zero_division=0)),
    }


def _balanced(y_true, y_pred, labels) -> float:
    """scikit-learn's balanced accuracy: the mean recall over the classes present in
    ``y_true`` (its warning about predicted classes absent from the truth is silenced)."""
    import warnings

    if len(y_true) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(_sk().balanced_accuracy_score(y_true, y_pred))


def bootstrap(fn, *arrays, n_boot: int = N_BOOT, seed: int = 0,
              level: float = 0.95) -> dict[str, list[float]]:
    """Percentile bootstrap intervals of the values of ``fn(*resampled arrays)`` (a dict of
    floats): ``{name: [low, high]}``."""
    n = len(arrays[0])
    if n == 0 or n_boot <= 0:
        return {}
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {}
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        for k, v in fn(*(a[idx] for a in arrays)).items():
            samples.setdefault(k, []).append(v)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {k: [float(np.nanpercentile(v, lo)), float(np.nanpercentile(v, hi))]
            for k, v in samples.items()}


def calibration(y_true, probs, bins: int = 10) -> dict:
    """Reliability diagram data and the expected calibration error (ECE) of the top-1
    confidence: per equal-width bin, the mean confidence, the accuracy and the count."""
    probs = np.asarray(probs, np.float64)
    conf = probs.max(1)
    correct = (probs.argmax(1) == np.asarray(y_true)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, conf, bins) / count
        acc = np.bincount(which, correct, bins) / count
    ece = float(np.nansum(count / max(len(conf), 1) * np.abs(acc - mean_conf)))
    return {"edges": edges.tolist(), "confidence": mean_conf.tolist(), "accuracy": acc.tolist(),
            "count": count.astype(int).tolist(), "ece": ece}


def classification_report(y_true, y_pred, labels, probs=None, n_boot: int = N_BOOT,
                          seed: int = 0) -> dict:
    """Metrics of predicted class indices against true class indices.

    Parameters
    ----------
    y_true, y_pred : int arrays (N,) of class indices into ``labels``.
    labels : the class names (index -> name).
    probs : optional (N, C) probabilities, for calibration (ECE, reliability diagram).

    Returns
    -------
    dict with ``n``, ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``ci95`` (bootstrap
    intervals of those three and of ``ece``), ``per_class`` ({name: precision, recall, f1,
    support}), ``confusion`` (rows: truth, columns: prediction, in ``labels`` order) and, with
    ``probs``, ``calibration``.
    """
    m = _sk()
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    idx = list(range(len(labels)))
    out = {"n": int(len(y_true)), **_scores(y_true, y_pred, idx)} if len(y_true) else {
        "n": 0, "accuracy": float("nan"), "balanced_accuracy": float("nan"),
        "macro_f1": float("nan")}
    if not len(y_true):
        out.update(ci95={}, per_class={}, confusion=[])
        return out
    p, r, f, s = m.precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    out["per_class"] = {str(labels[i]): {"precision": float(p[i]), "recall": float(r[i]),
                                         "f1": float(f[i]), "support": int(s[i])}
                        for i in idx}
    out["confusion"] = m.confusion_matrix(y_true, y_pred, labels=idx).tolist()
    arrays = [y_true, y_pred]
    if probs is not None:
        probs = np.asarray(probs, np.float64)
        out["calibration"] = calibration(y_true, probs)
        arrays.append(probs)

        def fn(t, q, pr):
            return {**_scores(t, q, idx), "ece": calibration(t, pr)["ece"]}
    else:
        def fn(t, q):
            return _scores(t, q, idx)
    out["ci95"] = bootstrap(fn, *arrays, n_boot=n_boot, seed=seed)
    return out


def label_indices(names, labels, aliases: dict | None = None) -> np.ndarray:
    """Class indices of label strings (case-insensitive; ``-1`` where a name is not a class)."""
    lookup = {str(lab).strip().lower(): i for i, lab in enumerate(labels)}
    for k, v in (aliases or {}).items():
        if str(v).lower() in lookup:
            lookup[str(k).lower()] = lookup[str(v).lower()]
    out = np.full(len(names), -1, np.int64)
    for i, n in enumerate(names):
        if n is None:
            continue
        key = str(n).strip().lower()
        if key in lookup:
            out[i] = lookup[key]
        elif key.lstrip("-").isdigit() and 0 <= int(key) < len(labels):
            out[i] = int(key)
    return out


__all__ = ["N_BOOT", "bootstrap", "calibration", "classification_report", "label_indices"]
