"""Find the data mismatch: what differs between a model's training data and the photos it fails
on, ranked; the training set's alignment template, learned; and the fix, verified.

:func:`find_mismatch` is the task behind ``faceinspector mismatch`` and the Mismatch pane:

1. scan the *reference* (the training data, or a sample of it) -- :mod:`.scan`;
2. learn its alignment template when its faces sit at fixed places -- :mod:`.template`;
3. scan the *target* (the photos the model fails on); with a model, predict each target image
   as given and re-aligned to the learned template, the model's own and every built-in
   template -- :mod:`.scan`;
4. rank what differs (shift scores, KS, alarms, domain classifiers) -- :mod:`.compare`;
5. with labels, score each way of cropping the target -- :mod:`.fixes`.

Everything it returns is plain data (:class:`MismatchReport`); the HTML/CSV/JSON writers live in
``faceinspector.reports`` and the pane in the GUI.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import align
from ..align import TemplateError, load_template
from ..attributes import BY_NAME as ATTRIBUTES
from ..collection import list_images, read_labels
from ..tasks import CancelToken, Progress, relay
from .compare import ALPHA, FORMAT, MIN_EFFECT, Comparison, Shift, compare
from .fixes import Fix, best_fix, evaluate_fixes
from .scan import AS_GIVEN, FixSpec, Table, scan, whole_image_matrix
from .template import LearnedTemplate, learn_template

#: built-in templates every fix is tried with (besides the learned one and the model's own)
BUILT_IN = ("raw", "dlib-chip", "arcface-112", "celeba")


@dataclass(frozen=True, eq=False)
class MismatchReport:
    """Everything :func:`find_mismatch` found."""

    reference: Table
    target: Table
    comparison: Comparison
    template: LearnedTemplate
    model_id: str | None = None
    fixes: tuple[Fix, ...] = ()
    fix_info: dict = field(default_factory=dict)
    labels_source: str = ""
    seconds: float = 0.0

    @property
    def best(self) -> Fix | None:
        return best_fix(self.fixes, AS_GIVEN)[0]

    @property
    def baseline(self) -> Fix | None:
        return best_fix(self.fixes, AS_GIVEN)[1]

    def summary(self) -> dict:
        """The machine-readable summary (``faceinspector mismatch --json``)."""
        def r(v):
            return None if v is None else round(float(v), 6)

        c = self.comparison
        labelled = any(f.n for f in self.fixes)
        return {
            "reference": {"source": self.reference.source, "images": len(self.reference),
                          "unreadable": len(self.reference.errors),
                          "faces_found": int(self.reference.found.sum())},
            "target": {"source": self.target.source, "images": len(self.target),
                       "unreadable": len(self.target.errors),
                       "faces_found": int(self.target.found.sum())},
            "attributes": [{"name": s.name, "group": s.group, "score": round(s.score, 6),
                            "ks": round(s.ks, 6), "p_value": s.p_value, "alarm": s.alarm,
                            "importance": r(s.importance) if s.importance == s.importance
                            else None} for s in c.shifts],
            "format": [{"name": s.name, "score": round(s.score, 6), "ks": round(s.ks, 6),
                        "reference_mean": r(s.ref_mean), "target_mean": r(s.tgt_mean)}
                       for s in c.formats],
            "alarm": {"alpha": c.alpha, "min_effect": c.min_effect,
                      "correction": "Bonferroni over the ranked attributes"},
            "domain_auc": {k: r(v) for k, v in c.domain_auc.items()},
            "template": self.template.as_dict(),
            "template_reason": self.template.reason or None,
            "model": self.model_id,
            "fixes": ([{"template": f.template, "balanced_accuracy": r(f.balanced_accuracy),
                        "macro_f1": r(f.macro_f1), "accuracy": r(f.accuracy), "n": f.n,
                        "ci95": f.ci95} for f in self.fixes] if labelled else None),
            "best_fix": self.best.template if labelled and self.best else None,
            "seconds": round(self.seconds, 1),
        }


def values(report: MismatchReport, name: str):
    """(reference values, target values) of one ranked attribute, ``embedding_distance``
    included."""
    import numpy as np

    if name == "embedding_distance":
        return report.comparison.extra.get("embedding_distance", (np.zeros(0), np.zeros(0)))
    return report.reference.values[name], report.target.values[name]


def extremes(values, k: int = 4) -> tuple[list[int], list[int]]:
    """Rows of the ``k`` lowest and the ``k`` highest finite values (lowest first, highest
    last), for showing a set's most extreme images of an attribute."""
    import numpy as np

    v = np.asarray(values, np.float64)
    rows = np.flatnonzero(np.isfinite(v))
    order = rows[np.argsort(v[rows], kind="stable")]
    k = min(k, len(order) // 2) if len(order) < 2 * k else k
    return order[:k].tolist(), order[len(order) - k:].tolist()


def fix_options(backend, model_id: str, learned: LearnedTemplate) -> tuple:
    """The ways the target is cropped for ``model_id``: as given, the learned template, the
    model's own template, then the built-in ones (no duplicates)."""
    own = backend.model(model_id).spec.template
    opts: list = [AS_GIVEN]
    if learned.template is not None:
        opts.append(learned.template)
    for t in (own, *BUILT_IN):
        if t not in opts:
            opts.append(t)
    return tuple(opts)


#: a collection needs at least this many photos with a face to be compared
MIN_FACES = 2


def _enough_faces(table, role: str, source) -> None:
    """Raise ``ValueError`` (one line for the user) when a scanned collection has fewer than
    :data:`MIN_FACES` photos with a face -- nothing to compare, rather than a numpy error."""
    faces = int(table.found.sum())
    if faces >= MIN_FACES:
        return
    why = f"; e.g. {Path(table.errors[0][0]).name}: {table.errors[0][1]}" if table.errors else ""
    raise ValueError(f"the {role} ({source}) has {faces} photo(s) with a face, at least "
                     f"{MIN_FACES} are needed: {len(table)} read, {len(table.errors)} "
                     f"unreadable{why}")


def find_mismatch(backend, reference, target, model: str | None = None, labels=None,
                  limit: int | None = None, embedder: str | None = "dlib-resnet",
                  template_name: str | None = None, store=None, n_boot: int = 1000,
                  cancel: CancelToken | None = None):
    """Task: compare a reference collection with a target collection.

    Parameters
    ----------
    reference, target : a folder (recursive) or a CSV/text file listing image paths.
    model : a model id (bundled, demo, or a user model already added) to verify the fix with.
    labels : labels of the target images (a CSV ``path,label``, an LFW folder with gender lists,
        class sub-folders; see :func:`~faceinspector.backend.collection.read_labels`), or a
        :class:`~faceinspector.backend.collection.Labels`.
    limit : at most this many images of each collection.

    Yields :class:`Progress` with stages ``reference``, ``target`` and ``compare``; returns a
    :class:`MismatchReport`.
    """
    t0 = time.perf_counter()
    ref_paths = list_images(reference, limit)
    tgt_paths = list_images(target, limit)
    lab = read_labels(labels) if labels is not None and not hasattr(labels, "label") else labels
    if model is not None:
        backend.model(model)  # fail before scanning on a bad id or a missing pack
    total = len(ref_paths) + len(tgt_paths)
    ref = yield from relay(scan(backend, ref_paths, name="reference", source=str(reference),
                                embedder=embedder, store=store, cancel=cancel),
                           total=total)
    _enough_faces(ref, "reference", reference)
    name = template_name or f"{Path(str(reference)).stem or 'reference'}-learned"
    learned = learn_template(ref, name)
    fix = FixSpec(model, fix_options(backend, model, learned)) if model else None
    tgt = yield from relay(scan(backend, tgt_paths, name="target", source=str(target),
                                embedder=embedder, fix=fix, store=store, cancel=cancel),
                           offset=len(ref_paths), total=total)
    _enough_faces(tgt, "target", target)
    yield Progress(total, total, "Comparing the collections", "compare")
    comparison = compare(ref, tgt)
    fixes, info = evaluate_fixes(tgt, lab, n_boot=n_boot) if fix else ([], {})
    return MismatchReport(ref, tgt, comparison, learned, model, tuple(fixes), info,
                          getattr(lab, "source", "") if lab is not None else "",
                          time.perf_counter() - t0)


def save_learned_template(report: MismatchReport, path) -> Path:
    """Write the learned template of ``report`` as a template file (``--template FILE``)."""
    lt = report.template
    if lt.template is None:
        raise ValueError(f"no template was learned: {lt.reason}")
    return align.save_template(lt.template, path, learned_from=report.reference.source,
                               **lt.file_extra())


__all__ = ["ALPHA", "AS_GIVEN", "BUILT_IN", "FORMAT", "MIN_EFFECT", "Comparison", "Fix",
           "ATTRIBUTES", "TemplateError", "load_template",
           "FixSpec", "LearnedTemplate", "MismatchReport", "Shift", "Table", "compare",
           "evaluate_fixes", "extremes", "find_mismatch", "fix_options", "learn_template",
           "save_learned_template", "scan", "values", "whole_image_matrix"]
