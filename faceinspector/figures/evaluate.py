"""Figures of the classifier evaluation: the headline scores per crop, the confusion matrix, the
reliability diagram, per-class scores, per-slice scores in the style of Fairness Indicators
(one bar per slice and crop with its 95 % interval, the overall value as a dashed line, each
slice's n under it), per-class invariance against training-set size, and verification by group.

Each ``draw_*`` draws into given axes (the GUI's canvas); each ``*_figure`` makes a whole Figure
(the HTML report). Inputs are the plain dicts of :meth:`Evaluation.summary`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

#: one colour per crop (template), in the order they were asked for
CROP_COLOURS = ("#d94801", "#9e9ac8", "#41ab5d", "#3182bd", "#756bb1", "#e6ab02", "#636363")
METRIC_TITLES = {"accuracy": "accuracy", "balanced_accuracy": "class-balanced accuracy",
                 "macro_f1": "macro-F1"}


def _none(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_axis_off()


def _err(value, ci) -> tuple[float, float]:
    if not ci or ci[0] is None or not np.isfinite(ci[0]):
        return 0.0, 0.0
    return max(value - ci[0], 0.0), max(ci[1] - value, 0.0)


def draw_headline(ax, by_template: dict) -> None:
    """Accuracy, class-balanced accuracy and macro-F1 of every crop, with 95 % intervals."""
    opts = [o for o, r in by_template.items() if r.get("n")]
    if not opts:
        _none(ax, "no labelled images")
        return
    metrics = list(METRIC_TITLES)
    width = 0.8 / len(opts)
    x = np.arange(len(metrics))
    for k, o in enumerate(opts):
        r = by_template[o]
        vals = [100 * (r.get(m) or 0.0) for m in metrics]
        errs = np.array([_err(r.get(m) or 0.0, r.get("ci95", {}).get(m)) for m in metrics]).T
        ax.bar(x + (k - (len(opts) - 1) / 2) * width, vals, width, yerr=100 * errs, capsize=3,
               color=CROP_COLOURS[k % len(CROP_COLOURS)], label=o)
    ax.set_xticks(x, [METRIC_TITLES[m] for m in metrics])
    ax.set_ylabel(f"% (95 % CI; n = {by_template[opts[0]]['n']})")
    ax.axhline(50, color="#888", lw=0.8, ls=":")
    _top_legend(ax, len(opts))


def _top_legend(ax, n: int) -> None:
    """The crops' legend in a band above 100 %, clear of the bars."""
    ax.set_ylim(0, 118)
    ax.set_yticks([0, 20, 40, 60, 80, 100])
    ax.legend(fontsize=8, loc="upper center", ncol=max(n, 1), frameon=False,
              handlelength=1.2, columnspacing=1.0)


def draw_confusion(ax, confusion: dict, title: str = "") -> None:
    """The confusion matrix, each row (truth) as shares, with the counts written in."""
    m = np.asarray(confusion.get("matrix") or [], np.float64)
    labels = confusion.get("labels") or []
    if not m.size:
        _none(ax, "no confusion matrix")
        return
    keep = np.flatnonzero((m.sum(1) > 0) | (m.sum(0) > 0))
    m, labels = m[np.ix_(keep, keep)], [labels[i] for i in keep]
    share = m / np.maximum(m.sum(1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    if len(labels) <= 12:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.6 else "#222")
    ax.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 3 else 0,
                  ha="right" if len(labels) > 3 else "center")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    if title:
        ax.set_title(title)


def draw_reliability(ax, by_template: dict) -> None:
    """Reliability diagram: accuracy against mean confidence per bin, one line per crop, the
    ECE in the legend."""
    ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--")
    drawn = False
    for k, (o, r) in enumerate(by_template.items()):
        cal = r.get("calibration")
        if not cal:
            continue
        conf = np.array(cal["confidence"], np.float64)
        acc = np.array(cal["accuracy"], np.float64)
        ok = np.isfinite(conf) & np.isfinite(acc)
        ax.plot(conf[ok], acc[ok], "o-", ms=4, color=CROP_COLOURS[k % len(CROP_COLOURS)],
                label=f"{o} (ECE {cal['ece']:.3f})")
        drawn = True
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top-1 probability)")
    ax.set_ylabel("accuracy")
    if drawn:
        ax.legend(fontsize=8, loc="upper left")


def draw_per_class(ax, per_class: dict, metric: str = "recall", top: int = 20) -> None:
    """One bar per class (the ``top`` worst by ``metric``), with its 95 % interval."""
    items = sorted(per_class.items(), key=lambda kv: kv[1].get(metric, 0.0))[:top]
    if not items:
        _none(ax, "no classes")
        return
    y = np.arange(len(items))[::-1]
    vals = np.array([100 * v[metric] for _, v in items])
    errs = 100 * np.array([_err(v[metric], v.get("ci95", {}).get(metric)) for _, v in items]).T
    ax.barh(y, vals, xerr=errs, capsize=3, color="#6baed6")
    ax.set_yticks(y, [f"{k} (n={v['support']})" for k, v in items])
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"{metric}, % (95 % CI)")


def draw_slices(ax, by_template: dict, column: str, metric: str = "balanced_accuracy",
                order=None) -> None:
    """Fairness-Indicators style: per slice of ``column``, one bar per crop with its 95 %
    interval; each crop's overall value as a dashed line; n under each slice."""
    opts = [o for o, r in by_template.items() if column in r.get("slices", {})]
    if not opts:
        _none(ax, f"no slices of {column}")
        return
    values = list(order or by_template[opts[0]]["slices"][column])
    values = [v for v in values if any(v in by_template[o]["slices"][column] for o in opts)]
    x = np.arange(len(values))
    width = 0.8 / len(opts)
    for k, o in enumerate(opts):
        sl = by_template[o]["slices"][column]
        colour = CROP_COLOURS[k % len(CROP_COLOURS)]
        vals = np.array([100 * (sl[v].get(metric) if v in sl and sl[v].get(metric) is not None
                                else np.nan) for v in values], np.float64)
        errs = 100 * np.array([_err(sl[v][metric], sl[v].get("ci95", {}).get(metric))
                               if v in sl and sl[v].get(metric) is not None
                               and np.isfinite(sl[v][metric]) else (0.0, 0.0)
                               for v in values]).T
        ax.bar(x + (k - (len(opts) - 1) / 2) * width, np.nan_to_num(vals), width, yerr=errs,
               capsize=2, color=colour, label=o, alpha=0.9)
        overall = by_template[o].get(metric)
        if overall is not None and np.isfinite(overall):
            ax.axhline(100 * overall, color=colour, lw=1, ls="--")
    n = [max((by_template[o]["slices"][column].get(v, {}).get("n", 0) for o in opts),
             default=0) for v in values]
    ax.set_xticks(x, [f"{v}\nn={c}" for v, c in zip(values, n)], fontsize=8,
                  rotation=30 if len(values) > 5 else 0,
                  ha="right" if len(values) > 5 else "center")
    short = {"balanced_accuracy": "balanced acc."}.get(metric, METRIC_TITLES.get(metric, metric))
    ax.set_ylabel(f"{short} %, 95 % CI")
    ax.set_title(f"by {column} (dashed: overall)", fontsize=10)
    _top_legend(ax, len(opts))


def draw_invariance(ax, invariance: dict | None, model: str = "") -> None:
    """Per-class eKLD (95 % interval) against the class's training images (log scale) when
    known, else one bar per class."""
    classes = (invariance or {}).get("classes") or {}
    if not classes:
        _none(ax, "no per-class invariance (switch it on, with a classifier)")
        return
    names = list(classes)
    e = np.array([classes[c]["ekld"] for c in names])
    errs = np.array([_err(classes[c]["ekld"], classes[c].get("ekld_ci95")) for c in names]).T
    counts = [classes[c].get("train_count") for c in names]
    if all(c for c in counts):
        ax.errorbar(counts, e, yerr=errs, fmt="o", capsize=3, color="#3182bd")
        for c, x, y in zip(names, counts, e):
            ax.annotate(c, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        if max(counts) >= 10 * min(counts):
            ax.set_xscale("log")
        ax.set_xlabel("training images of the class"
                      + (" (log)" if ax.get_xscale() == "log" else ""))
        ax.margins(x=0.15)
        rho = invariance.get("spearman_ekld_train")
        if rho is not None:
            ax.set_title(f"Spearman ρ(training images, eKLD) = {rho:.2f}", fontsize=10)
    else:
        x = np.arange(len(names))
        ax.bar(x, e, yerr=errs, capsize=3, color="#3182bd")
        ax.set_xticks(x, names, rotation=30 if len(names) > 4 else 0)
        ax.set_xlabel("class (training-set sizes unknown)")
    ax.set_ylabel("eKLD (lower = more invariant)")
    if model:
        ax.text(0.99, 0.98, model, ha="right", va="top", transform=ax.transAxes, fontsize=8,
                color="#555")


def draw_verification(ax, groups: dict, far: str = "tar@far=0.001") -> None:
    """TAR at the FAR of every group (95 % interval), and in each bar's label the FAR the group
    gets at the pooled FAR = 1e-3 threshold."""
    items = [(v, g) for v, g in groups.items() if far in g]
    if not items:
        _none(ax, "no group has enough pairs")
        return
    x = np.arange(len(items))
    vals = np.array([100 * g[far] for _, g in items])
    errs = 100 * np.array([_err(g[far], g.get(f"{far}_ci95")) for _, g in items]).T
    ax.bar(x, vals, yerr=errs, capsize=3, color="#41ab5d")
    ax.set_xticks(x, [f"{v}\nFAR {g['at_global_far_1e-3']['far']:.1e}" for v, g in items],
                  fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel(f"TAR @ FAR = {far.split('=')[1]}, % (95 % CI)")


def _fig(w: float, h: float) -> Figure:
    return Figure(figsize=(w, h), layout="constrained")


def headline_figure(by_template) -> Figure:
    fig = _fig(7.0, 3.4)
    draw_headline(fig.add_subplot(), by_template)
    return fig


def confusion_calibration_figure(by_template, option: str) -> Figure:
    fig = _fig(9.0, 3.8)
    draw_confusion(fig.add_subplot(1, 2, 1), by_template[option].get("confusion", {}),
                   f"confusion, {option}")
    draw_reliability(fig.add_subplot(1, 2, 2), by_template)
    return fig


def slices_figure(by_template, column: str, order=None) -> Figure:
    fig = _fig(9.0, 3.6)
    draw_slices(fig.add_subplot(), by_template, column, order=order)
    return fig


def invariance_figure(invariance, model: str = "") -> Figure:
    fig = _fig(6.0, 3.4)
    draw_invariance(fig.add_subplot(), invariance, model)
    return fig


def verification_figure(groups) -> Figure:
    fig = _fig(7.0, 3.2)
    draw_verification(fig.add_subplot(), groups)
    return fig


__all__ = ["CROP_COLOURS", "METRIC_TITLES", "confusion_calibration_figure", "draw_confusion",
           "draw_headline", "draw_invariance", "draw_per_class", "draw_reliability",
           "draw_slices", "draw_verification", "headline_figure", "invariance_figure",
           "slices_figure", "verification_figure"]
