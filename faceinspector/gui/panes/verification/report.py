"""What the Verification pane says and draws about a :class:`~faceinspector.backend.evaluate.
Verification`: the summary (which embedder on which chip, what was left out, accuracy and
TAR @ FAR with 95 % bootstrap intervals, FAR values the negatives cannot resolve, the figures at
a fixed threshold, raw vs aligned rows), the histogram + ROC figure, and the PNG / CSV exports
(each says what it is: source, embedder, template, metric, thresholds)."""

from __future__ import annotations

import csv

import numpy as np

from ....backend import evaluate
from ....backend.files import atomic_open
from ... import theme
from ...widgets import METRIC_NAMES

FAR = 1e-3  # the operating point plotted and summarised
RAW_COLOR = "#ef6c00"


def pct(v: float, digits: int = 2) -> str:
    return f"{v * 100:.{digits}f} %"


def ci(interval) -> str:
    if interval is None or len(interval) != 2 or not np.isfinite(interval[0]):
        return ""
    lo, hi = interval
    return f" [{lo * 100:.1f}–{hi * 100:.1f}]"


def tar_text(rep, far: float = FAR) -> str:
    """TAR at ``far`` with its interval, or why the negatives cannot resolve it."""
    if not rep.resolvable(far):
        return (f"<span style='color:{theme.MUTED}'>not resolved: {rep.n_different} "
                f"different-person pairs resolve FAR ≥ {1 / max(rep.n_different, 1):.1e} only"
                "</span>")
    return f"<b>{pct(rep.tar_at_far[far])}</b>{ci(rep.tar_ci.get(far))}"


def crop_rows(r) -> list[tuple[str, object]]:
    """(label, report) per crop measured: the aligned (or own) crop first, then extras."""
    own = "aligned" if r.template != "raw" else "raw (its own chip)"
    rows = [(f"{own}, {r.template}" if r.extra_reports else "", r.report)]
    rows += [(f"{k} box crop", rep) for k, rep in r.extra_reports.items()]
    return rows


def summary_html(r) -> str:
    """The pane's summary of one run, as rich text."""
    rep, info = r.report, r.info
    unreadable = f" ({len(r.errors)} unreadable)" if r.errors else ""
    what = ("pairs file" if r.kind == "pairs" else
            f"folder, {info.get('people', len({n.split('/')[0] for n in r.images}))} people")
    lines = [f"<b>{r.source.name}</b> ({what}, {rep.folds} fold{'s' if rep.folds != 1 else ''})"
             f": {rep.n_pairs} pairs ({rep.n_same} same, {rep.n_different} different), "
             f"{len(r.images)} images, faces found in {int(r.detected.sum())}{unreadable}; "
             f"<b>{r.chip_line()}</b>, {METRIC_NAMES[r.metric]} distance · {r.seconds:.0f} s"]
    notes = [evaluate.left_out_line(info) if r.kind == "folder" else "",
             evaluate.excluded_line(rep)]
    for note in filter(None, notes):
        lines.append(f"<span style='color:{theme.ERROR}'>{note}.</span>")
    for label, rp in crop_rows(r):
        spread = f" ± {rp.accuracy_std * 100:.2f} over folds" if rp.cross_validated else ""
        how = ("τ chosen on the other folds" if rp.cross_validated else
               f"<span style='color:{theme.ERROR}'>one fold: τ chosen on these same pairs, "
               "optimistic</span>")
        head = f"{label}: " if label else ""
        lines.append(f"{head}<b>accuracy {pct(rp.accuracy)}</b>{ci(rp.accuracy_ci)}{spread} "
                     f"({how}, best τ {rp.threshold:.3f}) · AUC {rp.auc:.4f} · "
                     f"TAR @ FAR=1e-3: {tar_text(rp)}")
    fixed = [(label, rp.fixed) for label, rp in crop_rows(r) if rp.fixed is not None]
    for label, f in fixed:
        head = f"{label}, " if label else ""
        lines.append(f"{head}at fixed <b>τ = {f.threshold:g}</b>: accuracy "
                     f"<b>{pct(f.accuracy)}</b>{ci(f.ci.get('accuracy'))} · FAR "
                     f"{pct(f.far)}{ci(f.ci.get('far'))} · FRR {pct(f.frr)}"
                     f"{ci(f.ci.get('frr'))}")
    lines.append(f"<span style='color:{theme.MUTED}'>[95 % bootstrap intervals over the pairs]"
                 "</span>")
    return "<br>".join(lines)


def plot(fig, r) -> None:
    """Distance histograms (same vs different, the best and the fixed τ) and the ROC curve of
    every crop measured."""
    rep = r.report
    ax1, ax2 = fig.subplots(1, 2)
    bins = np.linspace(float(rep.dist.min()), float(rep.dist.max()), 50)
    ax1.hist(rep.dist[rep.same], bins=bins, alpha=0.6, color="#26a69a", label="same person")
    ax1.hist(rep.dist[~rep.same], bins=bins, alpha=0.6, color="#7e57c2",
             label="different people")
    ax1.axvline(rep.threshold, color="k", ls="--", lw=1, label=f"best τ = {rep.threshold:.3f}")
    if rep.fixed is not None:
        ax1.axvline(rep.fixed.threshold, color=theme.ERROR, ls="-", lw=1,
                    label=f"fixed τ = {rep.fixed.threshold:g}")
    ax1.set_xlabel(f"{METRIC_NAMES[r.metric]} distance ({r.template} crops)")
    ax1.set_ylabel("pairs")
    ax1.legend(fontsize=7)
    ax1.set_title(f"accuracy {rep.accuracy * 100:.2f} %")
    for (label, rp), color in zip(crop_rows(r), ("#1e88e5", RAW_COLOR)):
        fpr = np.maximum(rp.fpr, 1e-5)
        ax2.plot(fpr, rp.tpr, color=color, lw=1.5, label=label or r.template)
        if rp.resolvable(FAR):
            tar = rp.tar_at_far[FAR]
            ax2.plot([FAR], [tar], "o", color=color, ms=4,
                     label=f"TAR {tar * 100:.1f} % @ FAR 1e-3")
        if rp.fixed is not None:
            f = rp.fixed
            ax2.plot([max(f.far, 1e-5)], [1 - f.frr], "s", color=color, ms=4, mfc="none",
                     label=f"fixed τ: FAR {f.far * 100:.1f} %, TAR {(1 - f.frr) * 100:.1f} %")
    ax2.axvline(FAR, color="0.5", ls=":", lw=1)
    if not rep.resolvable(FAR):
        ax2.text(FAR, 0.55, f" {rep.n_different} negatives:\n FAR 1e-3 not resolved",
                 fontsize=6.5, color="0.35")
    ax2.set_xscale("log")
    ax2.set_xlim(1e-4 if len(rep.dist) > 1000 else 1e-3 / 2, 1)
    ax2.set_ylim(0, 1.01)
    ax2.set_xlabel("false accept rate (FAR)")
    ax2.set_ylabel("true accept rate (TAR)")
    ax2.set_title(f"ROC · AUC {rep.auc:.4f}")
    ax2.legend(fontsize=6.5, loc="lower right")
    ax2.grid(alpha=0.3)


def caption(r) -> str:
    """One line saying what an export is."""
    fixed = f", fixed τ {r.threshold:g}" if r.threshold is not None else ""
    crops = " + raw box crops" if r.extra_reports else ""
    return (f"{r.source.name}: {r.chip_line()}{crops}, {METRIC_NAMES[r.metric]} distance, "
            f"{r.report.n_pairs} pairs, {r.report.folds} fold(s){fixed}")


def export_png(r, path) -> str:
    """The histograms and the ROC curve with a caption (drawn afresh, off screen)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ...plot_canvas import _RC_LOCK, MPL_LOCK, RC

    fig = Figure(figsize=(9, 3.8), dpi=100)
    with MPL_LOCK, _RC_LOCK, matplotlib.rc_context(RC):  # the render thread may be drawing
        plot(fig, r)
        fig.suptitle(caption(r), fontsize=9)
        fig.tight_layout()
        with atomic_open(path) as fh:
            FigureCanvasAgg(fig).print_png(fh)
    return str(path)


def export_csv(r, path) -> int:
    """Every scored pair: images, faces, same, fold, distance per crop, the decisions at the
    best and the fixed τ, and what produced them (embedder, template, chip, metric)."""
    rep = r.report
    extras = list(r.extra_reports.items())
    pos = {k: {rp.pair(i): i for i in range(rp.n_pairs)} for k, rp in extras}
    with atomic_open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image_a", "face_a", "image_b", "face_b", "same", "fold", "distance",
                    "predicted_same", "threshold", "predicted_same_fixed", "fixed_threshold",
                    *[f"distance_{k}" for k, _ in extras], "model", "template", "chip",
                    "metric", "source"])
        chip = "x".join(map(str, r.chip_size))
        fixed = r.threshold
        for i, d in enumerate(rep.dist):
            k = rep.pair(i)
            p = r.pairs[k]
            more = []
            for name, rp in extras:
                j = pos[name].get(k)
                more.append("" if j is None else f"{rp.dist[j]:.4f}")
            w.writerow([p.a, r.face_of(p.a) + 1, p.b, r.face_of(p.b) + 1, int(p.same),
                        p.fold + 1, f"{d:.4f}", int(d < rep.threshold), f"{rep.threshold:.4f}",
                        "" if fixed is None else int(d < fixed),
                        "" if fixed is None else f"{fixed:g}", *more, r.model_id, r.template,
                        chip, r.metric, r.source.name])
    return len(rep.dist)


__all__ = ["FAR", "caption", "ci", "crop_rows", "export_csv", "export_png", "pct", "plot",
           "summary_html", "tar_text"]
