"""What an evaluation found, as plain data: per model, per crop (template), per slice.

:class:`Evaluation` is what :func:`~faceinspector.backend.classify.evaluate_classifier` returns;
:meth:`Evaluation.summary` is the machine-readable summary (``faceinspector evaluate --json``)::

    {"model": str, "n": int, "images": int, "unreadable": int, "faces_found": int,
     "by_template": {TEMPLATE: {"accuracy", "balanced_accuracy", "macro_f1", "ece",
                                "ci95": {metric: [low, high]},
                                "per_class": {class: {precision, recall, f1, support, ci95}},
                                "confusion": {"labels": [...], "matrix": [[...]]},
                                "slices": {COL: {VALUE: {n, accuracy, ..., ci95}}},
                                "gaps": {COL: {metric: {best, worst, gap, ci95, ...}}}}},
     "invariance": {...} | null, "mistakes": {...}, "models": {id: {...}} (several models)}

For an embedder, each template holds ``"verification"`` (all pairs) and ``"slices"`` with
verification per group instead of the classification scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .data import LabelledSet
from .predict import ModelPlan, Predictions


@dataclass(eq=False)
class ModelEvaluation:
    """One model's figures.

    y : int (N,) the true class index of each row among the model's classes (-1: a label the
        model does not know, or an embedder).
    by_template : option name -> the scores (see the module docstring).
    """

    plan: ModelPlan
    y: np.ndarray
    unmatched: list = field(default_factory=list)  # label values the model does not know
    by_template: dict = field(default_factory=dict)
    invariance: dict | None = None
    mistakes: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int((self.y >= 0).sum()) if not self.plan.embedder else int(len(self.y))


@dataclass(eq=False)
class Evaluation:
    """A labelled set, every model's predictions under every crop, and the scores."""

    data: LabelledSet
    pred: Predictions
    columns: dict  # name -> slices.SliceColumn
    models: dict  # model id -> ModelEvaluation
    train_counts: dict | None = None
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def model_ids(self) -> list[str]:
        return list(self.models)

    def model_summary(self, model_id: str) -> dict:
        me = self.models[model_id]
        out = {"model": model_id, "task": me.plan.task, "own_template": me.plan.own,
               "labels": list(me.plan.labels), "n": me.n,
               "unmatched_labels": me.unmatched[:20], "by_template": {}}
        for opt, res in me.by_template.items():
            r = dict(res)
            if "confusion" in r and isinstance(r["confusion"], list):
                r["confusion"] = {"labels": list(me.plan.labels), "matrix": r["confusion"]}
            out["by_template"][opt] = r
        out["invariance"] = me.invariance
        out["mistakes"] = me.mistakes
        return out

    def summary(self) -> dict:
        """The JSON summary (module docstring): the first model at the top level, every model
        under ``models`` when there are several."""
        p = self.pred
        head = {"source": str(self.data.source), "images": len(p),
                "unreadable": len(p.errors), "faces_found": int(p.found.sum()),
                "missing_files": len(self.data.missing), "classes": list(self.data.classes),
                "slice_columns": {c.name: {"kind": c.kind, "values": list(c.order),
                                           "description": c.description}
                                  for c in self.columns.values()},
                "train_counts": self.train_counts, "settings": self.settings,
                "seconds": round(self.seconds, 1)}
        ids = self.model_ids
        out = {**self.model_summary(ids[0]), **head}
        if len(ids) > 1:
            out["models"] = {m: self.model_summary(m) for m in ids}
        return out


def clean(v):
    """JSON-safe: numpy scalars to Python, NaN and infinities to null, tuples to lists."""
    if isinstance(v, dict):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return clean(v.tolist())
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


__all__ = ["Evaluation", "ModelEvaluation", "clean"]
