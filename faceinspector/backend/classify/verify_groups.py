"""Verification by group: one distance threshold for everyone, and what it costs each group.

Users of ``face_recognition`` and dlib report that one tolerance cannot serve every group of
people. For an embedder on a labelled set (identities: an identity column or the folder each
image is in), each group of a slice column gets its own pairs -- every same-person pair of its
images (at most ``max_pos``, sampled) and ``neg_ratio`` times as many different-person pairs
drawn within the group (at most ``max_neg``) -- and:

* the ROC (scikit-learn's ``roc_curve`` on ``-distance``), AUC, TAR at FAR = 1e-3 and 1e-2
  (with pair-bootstrap 95 % intervals, ``n_boot`` resamples of each pair kind);
* its own best threshold (Youden's J: the cut maximising TAR - FAR) and the balanced accuracy
  ((TAR + 1 - FAR) / 2) there;
* what **one global threshold** costs it: the best threshold of all groups' pairs pooled, and
  the group's TAR, FAR and balanced accuracy at it (the cost: its own best balanced accuracy
  minus that); and the pooled threshold for FAR = 1e-3, with the FAR the group actually gets
  there (a group whose impostors are closer gets many times the FAR it was promised). A group
  with N different-person pairs cannot show a FAR below ``far_floor`` = 1 / N: with fewer than
  1,000 of them, FAR = 1e-3 is not resolved.

Pairs share images, so the pair bootstrap's intervals are somewhat too narrow; they show
whether a difference is noise, not an exact coverage.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import triplets

FARS = (1e-3, 1e-2)
MAX_POS = 3000
MAX_NEG = 30000
NEG_RATIO = 10
#: groups with fewer same-person pairs than this are listed but not scored
MIN_POS = 10


def _roc(dist, same):
    from sklearn.metrics import roc_curve

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fpr, tpr, thr = roc_curve(same, -np.asarray(dist, np.float64), drop_intermediate=False)
    return fpr, tpr, -thr  # accept dist <= -thr


def youden(dist, same) -> float:
    """The distance threshold (accept ``dist <= tau``) maximising TAR - FAR."""
    fpr, tpr, tau = _roc(dist, same)
    k = int(np.argmax(tpr - fpr))
    return float(tau[k]) if np.isfinite(tau[k]) else float(np.max(dist))


def threshold_at_far(dist, same, far: float) -> float:
    """The largest distance threshold whose FAR is at most ``far``."""
    fpr, tpr, tau = _roc(dist, same)
    ok = np.flatnonzero((fpr <= far) & np.isfinite(tau))
    return float(tau[ok[np.argmax(tpr[ok])]]) if len(ok) else float("-inf")


def rates(dist, same, tau: float) -> tuple[float, float]:
    """(TAR, FAR) of accepting ``dist <= tau``."""
    dist, same = np.asarray(dist), np.asarray(same, bool)
    acc = dist <= tau
    return float(acc[same].mean()) if same.any() else float("nan"), \
        float(acc[~same].mean()) if (~same).any() else float("nan")


def group_pairs(identities, members, rng, max_pos: int = MAX_POS, neg_ratio: int = NEG_RATIO,
                max_neg: int = MAX_NEG) -> tuple[np.ndarray, np.ndarray]:
    """(pairs (P, 2) of row indices, same (P,)) within the rows ``members``."""
    members = np.asarray(members)
    ids = np.asarray(identities, dtype=object)[members]
    by_id: dict = {}
    for r, i in zip(members, ids):
        by_id.setdefault(i, []).append(r)
    pos = [(a, b) for rows in by_id.values() for k, a in enumerate(rows) for b in rows[k + 1:]]
    if len(pos) > max_pos:
        pos = [pos[i] for i in np.sort(rng.choice(len(pos), max_pos, replace=False))]
    want = min(max_neg, len(pos) * neg_ratio)  # no same-person pair: nothing to score
    neg = set()
    if len({*ids}) > 1:
        tries = 0
        while len(neg) < want and tries < want * 20:
            a, b = rng.integers(0, len(members), 2)
            tries += 1
            if ids[a] != ids[b]:
                neg.add((int(min(members[a], members[b])), int(max(members[a], members[b]))))
    pairs = np.array(pos + sorted(neg), np.int64).reshape(-1, 2)
    return pairs, np.array([True] * len(pos) + [False] * len(neg), bool)


def _boot_tars(dist, same, n_boot, rng) -> dict:
    """Pair-bootstrap 95 % intervals of TAR at each of :data:`FARS` (positive and negative
    pairs resampled separately; one ROC per resample)."""
    pos, neg = np.flatnonzero(same), np.flatnonzero(~same)
    vals: dict = {far: [] for far in FARS}
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        fpr, tpr = triplets.roc(dist[idx], same[idx])
        for far in FARS:
            ok = fpr <= far
            vals[far].append(float(tpr[ok].max()) if ok.any() else 0.0)
    return {far: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
            for far, v in vals.items()}


def verify_by_group(embeddings, identities, column_values, order=None, metric: str = "l2",
                    n_boot: int = 200, seed: int = 0, max_pos: int = MAX_POS,
                    neg_ratio: int = NEG_RATIO, max_neg: int = MAX_NEG) -> dict:
    """Verification per value of one slice column (see the module docstring).

    Returns ``{"groups": {value: {...}}, "global": {"threshold", "threshold_far_1e-3",
    "pairs"}}``; images with NaN embeddings are left out.
    """
    emb = np.asarray(embeddings, np.float64)
    ok = np.isfinite(emb).all(1)
    vals = np.asarray(column_values, dtype=object)
    rng = np.random.default_rng(seed)
    groups, pooled_d, pooled_s = {}, [], []
    for v in (order or sorted(set(vals))):
        members = np.flatnonzero((vals == v) & ok)
        if len(members) < 2:
            continue
        pairs, same = group_pairs(identities, members, rng, max_pos, neg_ratio, max_neg)
        if not len(pairs):
            continue
        d = triplets.distance(emb[pairs[:, 0]], emb[pairs[:, 1]], metric)
        n_neg = int((~same).sum())
        groups[v] = {"images": int(len(members)), "pos": int(same.sum()), "neg": n_neg,
                     "far_floor": 1.0 / max(n_neg, 1), "_d": d, "_s": same}
        pooled_d.append(d)
        pooled_s.append(same)
    if not groups:
        return {"groups": {}, "global": None}
    d_all, s_all = np.concatenate(pooled_d), np.concatenate(pooled_s)
    if s_all.all() or not s_all.any():
        return {"groups": {v: _public(g) for v, g in groups.items()}, "global": None}
    tau_g = youden(d_all, s_all)
    tau_far = threshold_at_far(d_all, s_all, FARS[0])
    for v, g in groups.items():
        d, s = g["_d"], g["_s"]
        if s.sum() < MIN_POS or (~s).sum() < MIN_POS:
            g["note"] = f"fewer than {MIN_POS} pairs of a kind: not scored"
            continue
        fpr, tpr = triplets.roc(d, s)
        g["auc"] = triplets.area_under(fpr, tpr)
        cis = _boot_tars(d, s, n_boot, rng) if n_boot else {}
        for far in FARS:
            g[f"tar@far={far:g}"] = triplets.tar_at_far(d, s, far)
            g[f"tar@far={far:g}_ci95"] = cis.get(far, [])
        tau = youden(d, s)
        tar, far_ = rates(d, s, tau)
        g["threshold"] = tau
        g["balanced_accuracy"] = (tar + 1 - far_) / 2
        tar_g, far_g = rates(d, s, tau_g)
        g["at_global"] = {"tar": tar_g, "far": far_g, "balanced_accuracy": (tar_g + 1 - far_g) / 2}
        g["cost"] = g["balanced_accuracy"] - g["at_global"]["balanced_accuracy"]
        tar_f, far_f = rates(d, s, tau_far)
        g["at_global_far_1e-3"] = {"tar": tar_f, "far": far_f,
                                   "far_ratio": far_f / FARS[0]}
    return {"groups": {v: _public(g) for v, g in groups.items()},
            "global": {"threshold": tau_g, "threshold_far_1e-3": tau_far,
                       "pairs": int(len(d_all)), "metric": metric}}


def _public(g: dict) -> dict:
    return {k: v for k, v in g.items() if not k.startswith("_")}


__all__ = ["FARS", "MAX_NEG", "MAX_POS", "group_pairs", "rates", "threshold_at_far",
           "verify_by_group", "youden"]
