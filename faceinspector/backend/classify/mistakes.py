"""The photos behind the numbers: the most confident mistakes, and what alignment fixes and breaks.

Each example is a plain dict (``row``, ``path``, ``face`` -- the index of the central face among
the photo's detections, -1 when none was found --, ``truth``, and the model's answers), so the
report links it and the GUI opens it in the diagnosis panes.
"""

from __future__ import annotations

import numpy as np

from ..stream import AS_GIVEN

#: examples kept per list
K = 12


def _example(pred, row: int, truth: str, **extra) -> dict:
    return {"row": int(row), "path": str(pred.paths[row]), "face": int(pred.face_index[row]),
            "truth": truth, **extra}


def confident_mistakes(pred, y, probs, labels, k: int = K) -> dict:
    """The ``k`` wrong answers given with the highest confidence (rows with ``y >= 0``)."""
    p = np.nan_to_num(np.asarray(probs, np.float64))
    top = p.argmax(1)
    conf = p.max(1)
    wrong = np.flatnonzero((y >= 0) & (top != y))
    order = wrong[np.argsort(-conf[wrong], kind="stable")][:k]
    return {"count": int(len(wrong)), "examples": [
        _example(pred, r, labels[y[r]], prediction=labels[top[r]], confidence=float(conf[r]),
                 p_true=float(p[r, y[r]])) for r in order]}


def baseline_and_aligned(plan) -> tuple[str, str] | None:
    """(the unaligned option, the aligned one) of a model's options: the image as given or the
    raw box crop vs the model's own template (else the last other option); None with fewer
    than two options."""
    opts = list(plan.options)
    if len(opts) < 2:
        return None
    base = next((o for o in (AS_GIVEN, "raw") if o in opts), opts[0])
    aligned = plan.own if plan.own in opts and plan.own != base else \
        next(o for o in reversed(opts) if o != base)
    return base, aligned


def alignment_changes(pred, y, before, after, labels, k: int = K) -> dict:
    """What changes between two options' answers on the labelled rows: the images alignment
    fixes (wrong before, right after) and breaks (right before, wrong after), each ordered by
    how much the true class's probability moved."""
    pb = np.nan_to_num(np.asarray(before, np.float64))
    pa = np.nan_to_num(np.asarray(after, np.float64))
    ok = y >= 0
    tb, ta = pb.argmax(1), pa.argmax(1)
    rows = np.flatnonzero(ok)
    pt_b = np.where(ok, pb[np.arange(len(y)), np.maximum(y, 0)], np.nan)
    pt_a = np.where(ok, pa[np.arange(len(y)), np.maximum(y, 0)], np.nan)
    out = {}
    for name, sel in (("fixed", (tb != y) & (ta == y)), ("broken", (tb == y) & (ta != y))):
        r = rows[sel[rows]]
        order = r[np.argsort(-np.abs(pt_a[r] - pt_b[r]), kind="stable")][:k]
        out[name] = {"count": int(len(r)), "examples": [
            _example(pred, i, labels[y[i]], before=labels[tb[i]], after=labels[ta[i]],
                     p_true_before=float(pt_b[i]), p_true_after=float(pt_a[i]))
            for i in order]}
    out["labelled"] = int(ok.sum())
    return out


__all__ = ["K", "alignment_changes", "baseline_and_aligned", "confident_mistakes"]
