"""Slices: the columns a labelled set is cut by, and each slice's scores.

Two kinds of column, one value per image:

* **group columns** of the labels (a CSV's extra columns: ``group``, ``camera``, ``site``, ...);
* **derived** columns the app measures: ``face size`` (the face box's side in pixels, in
  :data:`FACE_SIZE_EDGES` buckets), ``yaw`` (the absolute yaw proxy, the nose's sideways offset
  in inter-ocular distances, :data:`YAW_EDGES`), ``skin tone (ITA)`` (the standard ITA
  categories of :mod:`.skin` -- a colour measurement, not a race), and each attribute model's
  answer: an age bucket (:data:`AGE_EDGES`) for a model that regresses age, the top class for
  one that classifies (gender, expression).

An image without a detected face is in the ``no face found`` slice of every derived column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import skin
from .scores import gap, score, without_replicates

NO_FACE = "no face found"
NONE = "(none)"
#: face box side (px) bucket edges
FACE_SIZE_EDGES = (50, 100, 200)
#: |yaw proxy| bucket edges (inter-ocular distances): frontal, turned, strongly turned
YAW_EDGES = (0.1, 0.25)
#: age bucket edges (years)
AGE_EDGES = (20, 30, 40, 50, 60)
FACE_SIZE = "face size"
YAW = "yaw"
ITA = "skin tone (ITA)"
#: slices smaller than this are shown but not compared for the gap
MIN_GAP_N = 20


@dataclass(frozen=True)
class SliceColumn:
    """One column: a value per image and the order its values are listed in."""

    name: str
    kind: str  # "group" or "derived"
    values: tuple[str, ...]
    order: tuple[str, ...]
    description: str = ""


def _buckets(x: np.ndarray, edges, labels) -> list[str]:
    out = []
    for v in x:
        out.append(NO_FACE if not np.isfinite(v) else labels[int(np.searchsorted(edges, v,
                                                                                  "right"))])
    return out


def _edge_labels(edges, unit: str = "", last: str = "") -> list[str]:
    e = [f"{v:g}" for v in edges]
    out = [f"< {e[0]}{unit}"] + [f"{a}–{b}{unit}" for a, b in zip(e, e[1:])]
    return out + [last or f"≥ {e[-1]}{unit}"]


def _ordered(values, preferred=()) -> tuple[str, ...]:
    present = set(values)
    head = [v for v in preferred if v in present]
    rest = sorted(present - set(head) - {NO_FACE, NONE})
    tail = [v for v in (NONE, NO_FACE) if v in present]
    return tuple(head + rest + tail)


def age_labels() -> list[str]:
    """``< 20``, ``20–29``, ..., ``60+`` (whole years)."""
    e = AGE_EDGES
    return [f"< {e[0]}"] + [f"{a}–{b - 1}" for a, b in zip(e, e[1:])] + [f"{e[-1]}+"]


def class_word(labels) -> str:
    return "gender" if set(labels) == {"female", "male"} else "class"


def slice_columns(pred, groups=None, derived: bool = True) -> dict[str, SliceColumn]:
    """The slice columns of a :class:`~.predict.Predictions` table: its group columns (all,
    or those named in ``groups``) and, with ``derived``, the measured ones."""
    cols: dict[str, SliceColumn] = {}
    names = list(pred.groups) if groups is None else [g for g in groups if g in pred.groups]
    for g in names:
        vals = tuple(v if v else NONE for v in pred.groups[g])
        cols[g] = SliceColumn(g, "group", vals, _ordered(vals), "a column of the labels")
    if not derived or not len(pred):
        return cols
    labels = _edge_labels(FACE_SIZE_EDGES, " px")
    vals = tuple(_buckets(pred.face_size, FACE_SIZE_EDGES, labels))
    cols[FACE_SIZE] = SliceColumn(FACE_SIZE, "derived", vals, _ordered(vals, labels),
                                  "the face box's side (sqrt of its area), pixels")
    labels = ["frontal (< 0.1)", "turned (0.1–0.25)", "strongly turned (≥ 0.25)"]
    vals = tuple(_buckets(np.abs(pred.yaw), YAW_EDGES, labels))
    cols[YAW] = SliceColumn(YAW, "derived", vals, _ordered(vals, labels),
                            "|yaw proxy|: the nose's sideways offset from the eye centre in "
                            "inter-ocular distances (0 = frontal)")
    if np.isfinite(pred.ita).any():
        vals = tuple(skin.category(v) or NO_FACE for v in pred.ita)
        cols[ITA] = SliceColumn(ITA, "derived", vals, _ordered(vals, skin.ORDER),
                                "Individual Typology Angle of the face's skin pixels "
                                "(a colour measurement, not race)")
    for a, info in pred.attribute_models.items():
        out = pred.attributes[a]
        ok = np.isfinite(out).all(1) & pred.found
        if info.has_value:
            labels = age_labels()
            v = np.where(ok, out[:, 0], np.nan)
            vals = tuple(_buckets(v, AGE_EDGES, labels))
            name = f"{a}: age"
            cols[name] = SliceColumn(name, "derived", vals, _ordered(vals, labels),
                                     f"the age {a} estimates, years")
        if info.has_classes and out.shape[1] > 1:
            top = np.nan_to_num(out[:, 1:]).argmax(1)
            vals = tuple(info.labels[t] if k else NO_FACE for t, k in zip(top, ok))
            name = f"{a}: {class_word(info.labels)}"
            cols[name] = SliceColumn(name, "derived", vals, _ordered(vals, info.labels),
                                     f"the class {a} predicts")
    return cols


def score_slices(column: SliceColumn, y_true, y_pred, labels, probs=None, rows=None,
                 n_boot: int = 1000, seed: int = 0) -> tuple[dict, dict | None]:
    """({value: score}, gaps) of one column. ``rows``: the rows scored (the images with a
    label the model knows); ``gaps``: {metric: :func:`~.scores.gap`} over the slices with at
    least :data:`MIN_GAP_N` images, or None."""
    vals = np.asarray(column.values, dtype=object)
    rows = np.arange(len(vals)) if rows is None else np.asarray(rows)
    out, kept = {}, {}
    for k, v in enumerate(column.order):
        sel = rows[vals[rows] == v]
        if not len(sel):
            continue
        s = score(y_true[sel], y_pred[sel], labels, None if probs is None else probs[sel],
                  n_boot=n_boot, seed=seed + 1 + k, keep_replicates=True)
        s.pop("confusion", None)
        s.pop("calibration", None)
        kept[v] = s
        out[v] = without_replicates(s)
    gaps = {m: gap(kept, m, MIN_GAP_N) for m in ("balanced_accuracy", "accuracy", "macro_f1")}
    return out, (gaps if any(gaps.values()) else None)


__all__ = ["AGE_EDGES", "FACE_SIZE", "FACE_SIZE_EDGES", "ITA", "MIN_GAP_N", "NO_FACE", "NONE",
           "SliceColumn", "YAW", "YAW_EDGES", "age_labels", "class_word", "score_slices",
           "slice_columns"]
