"""Evaluate a classifier on a labelled set: where it fails -- which classes, which groups of
people, which photos -- and whether alignment helps everywhere or only on average.

:func:`evaluate_classifier` is the task behind ``faceinspector evaluate`` and the Evaluate pane:

1. the labelled set (:mod:`.data`: class sub-folders, a CSV ``path,label[,groups]``, LFW's
   gender lists, CelebA's attribute list);
2. one streamed pass (:mod:`.predict`): every model under every crop -- the image as given,
   the raw box crop, the model's own template, any other template -- plus the measured
   attributes slices need (face size, yaw proxy, skin tone as ITA, :mod:`.skin`) and the
   attribute models' answers (age, gender, expression);
3. scores with bootstrap 95 % intervals (:mod:`.scores`: scikit-learn's accuracy, balanced
   accuracy, per-class precision / recall / F1, macro-F1, confusion matrix; calibration and
   ECE), overall and per slice, with the gap between the best and the worst slice
   (:mod:`.slices`);
4. the most confident mistakes and what alignment fixes and breaks (:mod:`.mistakes`);
5. per-class invariance against the class's training-set size (:mod:`.invariance`);
6. for embedders, verification by group (:mod:`.verify_groups`).

Everything it returns is plain data (:class:`~.result.Evaluation`); the HTML/CSV/JSON writers
are in ``faceinspector.reports.evaluate``, the figures in ``faceinspector.figures.evaluate``.
Importing this package loads neither torch nor Qt.
"""

from __future__ import annotations

import time

import numpy as np

from ..metrics import label_indices
from ..mismatch.fixes import ALIASES
from ..stream import AS_GIVEN
from ..tasks import CancelToken, Progress, relay
from .data import LabelledSet, class_counts, labelled_set
from .invariance import PER_CLASS, class_invariance
from .mistakes import alignment_changes, baseline_and_aligned, confident_mistakes
from .predict import OWN, normalise_option, predict_set
from .result import Evaluation, ModelEvaluation, clean
from .scores import N_BOOT, score, without_replicates
from .slices import SliceColumn, score_slices, slice_columns
from .verify_groups import verify_by_group

#: the crops compared by default: the raw box crop and the model's own template
DEFAULT_OPTIONS = ("raw", OWN)
#: attribute models offered for slicing (age, gender, expression)
ATTRIBUTE_MODELS = ("dlib-age", "dlib-gender", "faceapi-agegender", "faceapi-expression")
LABEL_COLUMN = "label"


def _score_classifier(me: ModelEvaluation, pred, columns, n_boot: int, seed: int) -> None:
    plan = me.plan
    rows = np.flatnonzero(me.y >= 0)
    for opt in plan.options:
        probs = np.nan_to_num(pred.outputs[(plan.model_id, opt)].astype(np.float64))
        yp = probs.argmax(1)
        res = without_replicates(score(me.y[rows], yp[rows], plan.labels, probs[rows],
                                       n_boot=n_boot, seed=seed))
        res["slices"], res["gaps"] = {}, {}
        for col in columns.values():
            sl, gaps = score_slices(col, me.y, yp, plan.labels, probs, rows, n_boot, seed)
            res["slices"][col.name] = sl
            if gaps:
                res["gaps"][col.name] = gaps
        me.by_template[opt] = res
    me.mistakes = {"confident": {
        opt: confident_mistakes(pred, me.y, pred.outputs[(plan.model_id, opt)], plan.labels)
        for opt in plan.options}}
    pair = baseline_and_aligned(plan)
    if pair is not None:
        before, after = pair
        me.mistakes["alignment"] = {"before": before, "after": after, **alignment_changes(
            pred, me.y, pred.outputs[(plan.model_id, before)],
            pred.outputs[(plan.model_id, after)], plan.labels)}


def _score_embedder(me: ModelEvaluation, pred, columns, n_boot: int, seed: int) -> None:
    ids = pred.identities
    cols = dict(columns)
    if pred.truth and np.mean([t != i for t, i in zip(pred.truth, ids)]) > 0.1:
        vals = tuple(pred.truth)
        cols = {LABEL_COLUMN: SliceColumn(LABEL_COLUMN, "group", vals, tuple(sorted(set(vals))),
                                          "the label of the data set"), **cols}
    for opt in me.plan.options:
        emb = pred.outputs[(me.plan.model_id, opt)]
        every = verify_by_group(emb, ids, ["all"] * len(ids), n_boot=n_boot, seed=seed)
        res = {"verification": every["groups"].get("all"), "global": every["global"],
               "slices": {}}
        for col in cols.values():
            res["slices"][col.name] = verify_by_group(emb, ids, col.values, col.order,
                                                      n_boot=n_boot, seed=seed)
        me.by_template[opt] = res


def evaluate_classifier(backend, data, models, options=DEFAULT_OPTIONS, groups=None,
                        attribute=None, images=None, limit: int | None = None,
                        balanced: bool = False, attribute_models=(), skin: bool = True,
                        derived: bool = True, n_boot: int = N_BOOT, verify_boot: int = 200,
                        invariance: int = PER_CLASS, train_counts=None, seed: int = 0,
                        store=None, cancel: CancelToken | None = None):
    """Task: evaluate ``models`` on the labelled set ``data``.

    Parameters
    ----------
    data : a labels source (:func:`~.data.labelled_set`: class sub-folders, a CSV, an LFW
        folder with gender lists, CelebA's ``list_attr_celeba.txt`` or folder with
        ``attribute``), or a :class:`~.data.LabelledSet`.
    models : model ids (bundled, demo, or user models already added to ``backend``).
    options : the crops compared: ``"as given"``, ``"raw"``, ``"own"``, template names or
        template files.
    groups : the label file's group columns to slice by (None: all of them).
    attribute_models : models whose answers slice the data (e.g. ``dlib-age``).
    skin, derived : measure skin tone (ITA); slice by the derived columns at all.
    invariance : faces per class for per-class invariance (0: off; classifiers only).
    train_counts : {class: training images}, or a source :func:`~.data.class_counts` reads.

    Yields :class:`Progress` (stages ``predict``, ``score``, ``invariance``); returns an
    :class:`~.result.Evaluation`.
    """
    t0 = time.perf_counter()
    models = [m for m in dict.fromkeys(models) if m]
    if not models:
        raise ValueError("choose at least one model to evaluate")
    for m in models:
        backend.model(m)  # fail before the pass on a bad id or a missing pack
    if not isinstance(data, LabelledSet):
        data = labelled_set(data, attribute, images, limit, balanced, seed)
    for m in models:  # a label set the model cannot score fails now, not after the pass
        model = backend.model(m)
        if model.task != "embedding" and not (label_indices(data.labels, model.labels,
                                                            ALIASES) >= 0).any():
            raise ValueError(f"{m} knows the classes {', '.join(model.labels)}; none of the "
                             f"labels matches (e.g. {', '.join(data.classes[:5])})")
    counts = train_counts
    if counts is not None and not isinstance(counts, dict):
        counts = class_counts(counts, attribute)
    opts = [normalise_option(o) for o in options] or [OWN]
    pred = yield from relay(predict_set(backend, data, models, opts, attribute_models, skin,
                                        store, cancel))
    if not len(pred):
        first = pred.errors[0] if pred.errors else ("", "")
        raise ValueError(f"{data.source}: none of the {len(data)} labelled images could be "
                         f"read (e.g. {first[0]}: {first[1]})")
    columns = slice_columns(pred, groups, derived)
    ev = Evaluation(data, pred, columns, {}, counts, {
        "options": [o if isinstance(o, str) else o.name for o in opts],
        "n_boot": n_boot, "attribute_models": list(attribute_models), "limit": limit,
        "balanced": balanced, "seed": seed, "invariance_per_class": invariance})
    for k, m in enumerate(models):
        plan = pred.models[m]
        if plan.embedder:
            me = ModelEvaluation(plan, np.full(len(pred), -1, np.int64))
        else:
            y = label_indices(pred.truth, plan.labels, ALIASES)
            unmatched = sorted({t for t, v in zip(pred.truth, y) if v < 0})
            if len(pred) and not (y >= 0).any():
                raise ValueError(f"{m} knows the classes {', '.join(plan.labels)}; none of the "
                                 f"labels matches (e.g. {', '.join(unmatched[:5])})")
            me = ModelEvaluation(plan, y, unmatched)
        yield Progress(k, len(models), f"Scoring {m}", "score")
        if plan.embedder:
            _score_embedder(me, pred, columns, verify_boot, seed)
        else:
            _score_classifier(me, pred, columns, n_boot, seed)
        ev.models[m] = me
    for m, me in ev.models.items():
        if invariance and not me.plan.embedder and me.n:
            me.invariance = yield from class_invariance(
                backend, pred, m, me.y, invariance, train_counts=counts, store=store,
                seed=seed, cancel=cancel)
    yield Progress(len(models), len(models), "Evaluated", "score")
    ev.seconds = time.perf_counter() - t0
    return ev


__all__ = ["AS_GIVEN", "ATTRIBUTE_MODELS", "DEFAULT_OPTIONS", "Evaluation", "LabelledSet",
           "ModelEvaluation", "OWN", "class_counts", "clean", "evaluate_classifier",
           "labelled_set", "slice_columns"]
