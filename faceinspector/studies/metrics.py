"""How well a classifier does: plain, class-balanced and F1 scores, and a model on CelebA."""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from ..backend import tasks
from .celeba import iter_celeba, split_names


def class_metrics(y_true, y_pred, classes: int = 2) -> dict:
    """Accuracy, class-balanced accuracy (mean per-class recall), macro F1 and per-class
    recall / precision / F1 of integer predictions."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    out = {"n": int(len(y_true)),
           "accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan")}
    recalls, f1s = [], []
    for c in range(classes):
        tp = int(((y_pred == c) & (y_true == c)).sum())
        fn = int(((y_pred != c) & (y_true == c)).sum())
        fp = int(((y_pred == c) & (y_true != c)).sum())
        rec = tp / (tp + fn) if tp + fn else float("nan")
        prec = tp / (tp + fp) if tp + fp else 0.0
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        recalls.append(rec)
        f1s.append(f1)
        out[f"recall_{c}"] = rec
        out[f"f1_{c}"] = f1
        out[f"precision_{c}"] = prec
    out["balanced_accuracy"] = float(np.nanmean(recalls)) if len(y_true) else float("nan")
    out["macro_f1"] = float(np.nanmean(f1s)) if len(y_true) else float("nan")
    return out


def evaluate_model(model, split: str = "test", limit: int | None = None, root=None,
                   batch: int = 64, cancel: tasks.CancelToken | None = None
                   ) -> Generator[tasks.Progress, None, dict]:
    """Task: a :class:`~faceinspector.backend.models.base.FaceModel` on a CelebA split, chips
    built as in training (stage ``"evaluate"``).

    Returns :func:`class_metrics` plus ``"images"`` (the range evaluated, e.g.
    ``"009001-010000"``).
    """
    total = len(split_names(split, limit))
    preds, labels, names = [], [], []
    for part, chips, y in iter_celeba(split, model.spec, limit, root, batch=batch, cancel=cancel):
        preds.append(model.predict(chips).probs.argmax(1))
        labels.append(y)
        names += part
        yield tasks.Progress(len(names), total, f"CelebA {split}", "evaluate", {"split": split})
    out = class_metrics(np.concatenate(labels), np.concatenate(preds))
    out["images"] = f"{names[0][:6]}-{names[-1][:6]}"
    return out


__all__ = ["class_metrics", "evaluate_model"]
