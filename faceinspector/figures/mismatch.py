"""Figures of the mismatch finder: the ranking, one attribute's two distributions, where the
eyes sit over each set's mean image, and the fixes. Each ``draw_*`` draws into given axes (the
GUI's canvas); each ``*_figure`` makes a whole Figure (the HTML report)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

REF_COLOUR = "#3b7dd8"
TGT_COLOUR = "#e07b1f"
GROUP_COLOURS = {"geometry": "#6a51a3", "photometry": "#2b8cbe", "embedding": "#238b45",
                 "format": "#969696"}
EYE_ATTRIBUTES = ("eye_x", "eye_y")


def draw_ranking(ax, shifts, top: int = 15) -> None:
    """Horizontal bars of the ``top`` largest shift scores (log scale), alarms in bold."""
    items = list(shifts)[:top][::-1]
    if not items:
        ax.text(0.5, 0.5, "nothing to rank", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    y = np.arange(len(items))
    scores = [max(s.score, 1e-3) for s in items]
    ax.barh(y, scores, color=[GROUP_COLOURS.get(s.group, "#777") for s in items])
    ax.set_yticks(y, [s.name + (" ⚠" if s.alarm else "") for s in items])
    for tick, s in zip(ax.get_yticklabels(), items):
        tick.set_fontweight("bold" if s.alarm else "normal")
    ax.set_xscale("log")
    ax.set_xlabel("shift score (Wasserstein distance / reference spread)")
    handles = [ax.bar(0, 0, color=c, label=g) for g, c in GROUP_COLOURS.items()
               if any(s.group == g for s in items)]
    ax.legend(handles=handles, loc="lower right")


def draw_distributions(ax, name: str, ref: np.ndarray, tgt: np.ndarray, unit: str = "",
                       bins: int = 40) -> None:
    """Both sets' values of one attribute as density histograms on shared bins."""
    a = np.asarray(ref, np.float64)
    b = np.asarray(tgt, np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    both = np.concatenate([a, b])
    if not len(both):
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        return
    lo, hi = np.percentile(both, [0.5, 99.5])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    ax.hist(a, edges, density=True, alpha=0.55, color=REF_COLOUR, label=f"reference (n={len(a)})")
    ax.hist(b, edges, density=True, alpha=0.55, color=TGT_COLOUR, label=f"target (n={len(b)})")
    ax.set_xlabel(f"{name}" + (f" ({unit})" if unit else ""))
    ax.set_ylabel("density")
    ax.legend()


def draw_eyes(ax, mean_image, landmarks, sizes, title: str, colour: str,
              max_points: int = 2000) -> None:
    """The set's mean image (every image squeezed to a square) and both eyes of every face,
    in fractions of the image, on top."""
    if mean_image is not None:
        ax.imshow(np.clip(mean_image, 0, 255).astype(np.uint8), extent=(0, 1, 1, 0))
    lm = np.asarray(landmarks, np.float64)
    wh = np.asarray(sizes, np.float64)
    ok = np.isfinite(lm[:, 0, 0]) if len(lm) else np.zeros(0, bool)
    if ok.any():
        frac = (lm[ok][:, :2, :] + 0.5) / wh[ok][:, None, :]
        if len(frac) > max_points:
            frac = frac[np.linspace(0, len(frac) - 1, max_points).astype(int)]
        ax.scatter(frac[:, :, 0].ravel(), frac[:, :, 1].ravel(), s=3, alpha=0.35, c=colour,
                   linewidths=0)
        mean = frac.mean(0)
        ax.scatter(mean[:, 0], mean[:, 1], s=60, marker="+", c="white", linewidths=1.5)
    ax.set_xlim(0, 1)
    ax.set_ylim(1, 0)
    ax.set_title(title)
    ax.set_xticks([0, 0.5, 1])
    ax.set_yticks([0, 0.5, 1])


def draw_fixes(ax, fixes, baseline: str) -> None:
    """Balanced accuracy of each way of cropping the target, with its 95 % interval."""
    items = [f for f in fixes if f.n]
    if not items:
        ax.text(0.5, 0.5, "no labelled target images", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return
    y = np.arange(len(items))[::-1]
    ba = np.array([f.balanced_accuracy for f in items]) * 100
    ci = np.array([f.ci95.get("balanced_accuracy", [np.nan, np.nan]) for f in items]) * 100
    err = np.abs(np.stack([ba - ci[:, 0], ci[:, 1] - ba]))
    best = int(np.nanargmax(ba))
    colours = ["#d94801" if f.template == baseline else "#41ab5d" if i == best else "#9e9ac8"
               for i, f in enumerate(items)]
    ax.barh(y, ba, xerr=err, color=colours, capsize=3)
    ax.set_yticks(y, [f.template for f in items])
    ax.set_xlim(0, 100)
    ax.axvline(50, color="#888", lw=0.8, ls=":")
    ax.set_xlabel(f"class-balanced accuracy, % (95 % CI; n = {items[0].n})")


def ranking_figure(comparison) -> Figure:
    fig = Figure(figsize=(7.0, 4.6), layout="constrained")
    draw_ranking(fig.add_subplot(), comparison.shifts)
    return fig


def distributions_figure(report, names) -> Figure:
    """Histograms of the given attributes, two sets each (the report's top attributes)."""
    from ..backend.attributes import BY_NAME
    from ..backend.mismatch import values as attribute_values

    names = list(names)
    cols = 3
    rows = max(1, (len(names) + cols - 1) // cols)
    fig = Figure(figsize=(10.0, 2.8 * rows), layout="constrained")
    for i, n in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        ref, tgt = attribute_values(report, n)
        unit = BY_NAME[n].unit if n in BY_NAME else ""
        draw_distributions(ax, n, ref, tgt, unit)
    return fig


def eyes_figure(report) -> Figure:
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    for i, (t, c, name) in enumerate(((report.reference, REF_COLOUR, "reference"),
                                      (report.target, TGT_COLOUR, "target"))):
        draw_eyes(fig.add_subplot(1, 2, i + 1), t.mean_image, t.landmarks, t.sizes,
                  f"{name} (n={int(t.found.sum())} faces)", c)
    fig.suptitle("each set's mean image and where the eyes sit (fractions of the image)")
    return fig


def fixes_figure(report) -> Figure:
    fig = Figure(figsize=(7.0, 0.5 + 0.45 * max(len(report.fixes), 1)), layout="constrained")
    draw_fixes(fig.add_subplot(), report.fixes, "as given")
    return fig


__all__ = ["EYE_ATTRIBUTES", "GROUP_COLOURS", "REF_COLOUR", "TGT_COLOUR", "distributions_figure",
           "draw_distributions", "draw_eyes", "draw_fixes", "draw_ranking", "eyes_figure",
           "fixes_figure", "ranking_figure"]
