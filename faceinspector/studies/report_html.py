"""The data-mismatch experiment's outputs: printed tables, CSV files and one self-contained HTML
page (plots as embedded PNGs).

Figures are plain :class:`matplotlib.figure.Figure` objects rendered with the Agg canvas (no
pyplot state, no GUI backend), so this runs headless and never imports Qt.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..backend.files import atomic_open, atomic_write
from .mismatch import CONDITION_TITLES, CONDITIONS, FLIP_MODEL, MismatchResult

_COLOURS = {"celeba-test": "#4c72b0", "lfw-naive": "#dd8452", "lfw-aligned": "#55a868"}


# ------------------------------------------------------------------------- tables and CSV


def summary_table(result: MismatchResult) -> str:
    """Balanced accuracy and macro F1 per model and condition (the README table)."""
    models = list(dict.fromkeys(r["model"] for r in result.rows))
    head = "| model | " + " | ".join(f"{c} bal. acc / F1" for c in CONDITIONS) + " |"
    lines = [head, "|---|" + "---|" * len(CONDITIONS)]
    for m in models:
        cells = []
        for c in CONDITIONS:
            r = result.row(m, c)
            cells.append(f"{r['balanced_accuracy'] * 100:.1f} / {r['macro_f1'] * 100:.1f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_tables(result: MismatchResult) -> str:
    """The printed report: accuracy per model × condition, then invariance per model."""
    out = [f"{'model':23} {'condition':12} {'n':>5} {'acc':>6} {'bal.acc':>7} {'macroF1':>7} "
           f"{'rec.F':>6} {'rec.M':>6}"]
    for r in result.rows:
        out.append(f"{r['model']:23} {r['condition']:12} {r['n']:5d} {r['accuracy'] * 100:6.1f} "
                   f"{r['balanced_accuracy'] * 100:7.1f} {r['macro_f1'] * 100:7.1f} "
                   f"{r['recall_female'] * 100:6.1f} {r['recall_male'] * 100:6.1f}")
    out.append("")
    out.append(f"invariance on {result.settings.probe_faces} CelebA test faces "
               f"(random shifts up to {result.settings.shift_iod:g} × inter-ocular distance, "
               "rotations ±15°, scales 0.9–1.1):")
    out.append(f"{'model':23} {'shift px':>8} {'consistency':>11} {'P(top1 chg)':>11} "
               f"{'mean|Δp|':>9} {'eKLD':>8}")
    for r in result.invariance:
        out.append(f"{r['model']:23} {r['max_shift_px']:8d} {r['consistency']:11.3f} "
                   f"{r['p_top1_change_1px']:11.3f} {r['mean_abs_change_1px']:9.4f} "
                   f"{r['ekld']:8.4f}")
    return "\n".join(out)


def write_csv(result: MismatchResult, out: str | Path) -> list[Path]:
    """``mismatch.csv`` (model × condition) and ``invariance.csv`` (per model) in ``out``."""
    import csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, rows in (("mismatch.csv", result.rows), ("invariance.csv", result.invariance)):
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with atomic_open(out / name, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
        paths.append(out / name)
    return paths


def settings_dict(result: MismatchResult) -> dict:
    d = asdict(result.settings)
    d["models"] = list(d["models"])
    return d


# -------------------------------------------------------------------------------- figures


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def accuracy_figure(result: MismatchResult) -> Figure:
    """Balanced accuracy and macro F1 of each model under the three conditions."""
    models = list(dict.fromkeys(r["model"] for r in result.rows))
    fig = Figure(figsize=(11, 3.8))
    for k, (key, title) in enumerate((("balanced_accuracy", "class-balanced accuracy"),
                                      ("macro_f1", "macro F1"))):
        ax = fig.add_subplot(1, 2, k + 1)
        x = np.arange(len(models))
        wdt = 0.8 / len(CONDITIONS)
        for j, c in enumerate(CONDITIONS):
            vals = [result.row(m, c)[key] for m in models]
            bars = ax.bar(x + (j - 1) * wdt, vals, wdt, label=CONDITION_TITLES[c],
                          color=_COLOURS[c])
            for b, v in zip(bars, vals):
                ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v * 100:.0f}",
                        ha="center", va="bottom", fontsize=7)
        ax.set_xticks(x, [m.replace("celeba-", "") for m in models], fontsize=8)
        ax.set_ylim(0.4, 1.05)
        ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        if k == 0:
            ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def invariance_figure(result: MismatchResult) -> Figure:
    rows = result.invariance
    models = [r["model"].replace("celeba-", "") for r in rows]
    fig = Figure(figsize=(11, 3.2))
    for k, (key, title) in enumerate((("consistency", "consistency (higher = more invariant)"),
                                      ("p_top1_change_1px", "P(top-1 change), 1-px shift"),
                                      ("ekld", "eKLD (lower = more invariant)"))):
        ax = fig.add_subplot(1, 3, k + 1)
        vals = [r[key] for r in rows]
        ax.bar(np.arange(len(rows)), vals, color="#8172b3")
        ax.set_xticks(np.arange(len(rows)), models, fontsize=7, rotation=20)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def probability_figure(result: MismatchResult, model: str = FLIP_MODEL) -> Figure:
    """Histograms of P(male) by true class, one panel per condition, for one model."""
    fig = Figure(figsize=(11, 2.8))
    bins = np.linspace(0, 1, 21)
    for j, c in enumerate(CONDITIONS):
        ax = fig.add_subplot(1, len(CONDITIONS), j + 1)
        y, p = result.p_male.get((model, c), (np.zeros(0), np.zeros(0)))
        for cls, name, col in ((0, "women", "#c44e52"), (1, "men", "#4c72b0")):
            if np.any(y == cls):
                ax.hist(p[y == cls], bins=bins, alpha=0.6, color=col, label=name, density=True)
        ax.set_title(f"{model}: {c}", fontsize=9)
        ax.set_xlabel("P(male)")
        if j == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def mean_chip_figure(result: MismatchResult) -> Figure:
    conds = [c for c in CONDITIONS if c in result.mean_chips]
    fig = Figure(figsize=(2.2 * max(len(conds), 1), 2.9))
    for j, c in enumerate(conds):
        ax = fig.add_subplot(1, len(conds), j + 1)
        ax.imshow(np.clip(result.mean_chips[c], 0, 255).astype(np.uint8))
        ax.set_title(c, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig


def examples_figure(result: MismatchResult, per_row: int = 6) -> Figure | None:
    ex = result.examples
    if not ex:
        return None
    rows = (len(ex) + per_row - 1) // per_row
    fig = Figure(figsize=(2.0 * per_row, 2.1 * rows))
    for k, e in enumerate(ex):
        both = np.concatenate([e["naive_chip"], np.full_like(e["naive_chip"][:, :3], 255),
                               e["aligned_chip"]], axis=1)
        ax = fig.add_subplot(rows, per_row, k + 1)
        ax.imshow(both)
        ax.axis("off")
        mark = "fixed" if e["fixed_by_alignment"] else "broken"
        ax.set_title(f"{e['truth']} ({mark})\nP(m) {e['p_male_naive']:.2f} → "
                     f"{e['p_male_aligned']:.2f}", fontsize=7)
    fig.tight_layout()
    return fig


def _table(rows: list[dict], pct=("accuracy", "balanced_accuracy", "macro_f1", "recall_female",
                                  "recall_male", "f1_female", "f1_male")) -> str:
    if not rows:
        return "<p>(none)</p>"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    out = ["<table><tr>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys) + "</tr>"]
    for r in rows:
        cells = []
        for k in keys:
            v = r.get(k, "")
            if isinstance(v, float):
                v = f"{v * 100:.1f}" if k in pct else f"{v:.4f}"
            cells.append(f"<td>{html.escape(str(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</table>"


def write_mismatch_report(result: MismatchResult, out: str | Path) -> dict[str, Path]:
    """Write ``mismatch.csv``, ``invariance.csv``, ``summary.md`` and ``report.html`` into
    ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_paths = write_csv(result, out)
    summary = summary_table(result)
    atomic_write(out / "summary.md", summary + "\n")
    prob_model = FLIP_MODEL if (FLIP_MODEL, "lfw-naive") in result.p_male else \
        result.rows[0]["model"]
    figs = [("Accuracy by condition", accuracy_figure(result)),
            (f"P(male) of {prob_model}, by true class", probability_figure(result, prob_model)),
            ("Mean CNN input (64×78 chip) per condition: where the face sits",
             mean_chip_figure(result)),
            ("Invariance on CelebA test faces", invariance_figure(result))]
    ex = examples_figure(result)
    if ex is not None:
        figs.append((f"{FLIP_MODEL}: LFW faces whose answer flips between the naive crop (left) "
                     "and the re-aligned crop (right)", ex))
    info = {k: v for k, v in result.info.items() if k != "lfw_unreadable"}
    info["lfw_unreadable"] = len(result.info.get("lfw_unreadable", []))
    flips = result.flips
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>FaceInspector: data-mismatch experiment</title><style>",
        "body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}",
        "table{border-collapse:collapse;font-size:12px;margin:0.5em 0}",
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}",
        "th{background:#f3f3f3}pre{background:#f7f7f7;padding:0.6em;font-size:12px}",
        "img{max-width:100%}</style></head><body>",
        "<h1>Data mismatch: gender classifiers trained on CelebA, tested on LFW</h1>",
        "<p>Conditions: " + "; ".join(f"<b>{c}</b>: {html.escape(CONDITION_TITLES[c])}"
                                      for c in CONDITIONS) + ". ",
        f"LFW: {info.get('lfw_images')} images ({info.get('lfw_men')} men, "
        f"{info.get('lfw_women')} women; MTCNN found the face in {info.get('lfw_detected')}, "
        "the rest use the mean landmarks). CelebA test: "
        f"{info.get('celeba_images')} images. Accuracy is class-balanced (mean per-class "
        "recall) and macro F1 as well as plain.</p>",
        "<h2>Summary (balanced accuracy / macro F1, %)</h2><pre>" + html.escape(summary)
        + "</pre>",
        "<h2>All metrics</h2>" + _table(result.rows),
        "<h2>Invariance</h2>" + _table(result.invariance, pct=()),
    ]
    if flips:
        parts.append(f"<p>{flips['model']} flips its answer between the naive and the "
                     f"re-aligned crop on {flips['flips']} of {flips['images']} LFW images: "
                     f"alignment fixes {flips['fixed_by_alignment']} and breaks "
                     f"{flips['broken_by_alignment']}.</p>")
    for title, fig in figs:
        parts.append(f"<h2>{html.escape(title)}</h2><img src='data:image/png;base64,{_png(fig)}'>")
    parts += [
        "<h2>Printed tables</h2><pre>" + html.escape(format_tables(result)) + "</pre>",
        "<h2>Settings and run info</h2><pre>"
        + html.escape(json.dumps({"settings": settings_dict(result), "info": info}, indent=2,
                                 default=str)) + "</pre>",
        "<p>Data: CelebA (MMLAB, CUHK; Liu et al., ICCV 2015; non-commercial research only) and "
        "LFW (UMass Amherst; Huang et al. 2007). The demo models were trained on CelebA and "
        "share its terms.</p></body></html>",
    ]
    atomic_write(out / "report.html", "\n".join(parts))
    return {"html": out / "report.html", "summary": out / "summary.md",
            "csv": csv_paths[0], "invariance_csv": csv_paths[1]}


__all__ = ["accuracy_figure", "examples_figure", "format_tables", "invariance_figure",
           "mean_chip_figure", "probability_figure", "settings_dict", "summary_table", "write_csv",
           "write_mismatch_report"]
