"""Proving the fix: the model's answers on the target as given vs re-aligned, with labels.

For every option the target was predicted under (the image as given, the learned template, the
model's own template, each built-in template), the class-balanced accuracy, macro-F1 and
accuracy with bootstrap 95 % intervals (:mod:`~faceinspector.backend.metrics`), on the target
images that have a label the model knows. Without labels, each option's distribution of
predicted classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics import classification_report, label_indices

#: label spellings that mean a model's class (LFW's gender lists say "male"/"female")
ALIASES = {"man": "male", "men": "male", "m": "male", "woman": "female", "women": "female",
           "f": "female"}


@dataclass(frozen=True)
class Fix:
    """One option's figures on the labelled target images."""

    template: str
    n: int
    balanced_accuracy: float
    macro_f1: float
    accuracy: float
    ci95: dict
    predicted: dict  # class name -> share of the target predicted as it
    report: dict  # the full classification report (per class, confusion, calibration)

    def as_dict(self, full: bool = False) -> dict:
        out = {"template": self.template, "n": self.n,
               "balanced_accuracy": self.balanced_accuracy, "macro_f1": self.macro_f1,
               "accuracy": self.accuracy, "ci95": self.ci95, "predicted": self.predicted}
        if full:
            out["report"] = self.report
        return out


def evaluate_fixes(table, labels=None, n_boot: int = 1000, seed: int = 0) -> tuple[list, dict]:
    """(fixes, info) for a target table with model probabilities (``table.probs``).

    ``labels``: a :class:`~faceinspector.backend.collection.Labels` or None. ``info`` says how
    many images had a usable label and which label values the model does not know.
    """
    if not table.probs:
        return [], {}
    classes = table.labels
    names = [labels.label(p) if labels is not None else None for p in table.paths]
    y = label_indices(names, classes, ALIASES)
    known = y >= 0
    unknown = sorted({str(n) for n, k in zip(names, known) if n is not None and not k})
    info = {"labelled": int(known.sum()), "images": len(table),
            "unmatched_labels": unknown[:10], "classes": list(classes)}
    fixes = []
    for option, probs in table.probs.items():
        pred = np.nan_to_num(probs, nan=0.0).argmax(1)
        share = {c: float(np.mean(pred == i)) for i, c in enumerate(classes)} if len(pred) else {}
        if labels is not None and known.any():
            rep = classification_report(y[known], pred[known], classes, probs=probs[known],
                                        n_boot=n_boot, seed=seed)
        else:
            rep = {"n": 0, "balanced_accuracy": float("nan"), "macro_f1": float("nan"),
                   "accuracy": float("nan"), "ci95": {}}
        fixes.append(Fix(option, rep["n"], rep["balanced_accuracy"], rep["macro_f1"],
                         rep["accuracy"], {k: v for k, v in rep.get("ci95", {}).items()
                                           if k in ("balanced_accuracy", "macro_f1",
                                                    "accuracy")}, share, rep))
    return fixes, info


def best_fix(fixes, baseline: str) -> tuple[Fix | None, Fix | None]:
    """(the option with the highest balanced accuracy, the baseline option)."""
    scored = [f for f in fixes if f.n and np.isfinite(f.balanced_accuracy)]
    base = next((f for f in fixes if f.template == baseline), None)
    if not scored:
        return None, base
    return max(scored, key=lambda f: (f.balanced_accuracy, f.macro_f1)), base


__all__ = ["ALIASES", "Fix", "best_fix", "evaluate_fixes"]
