"""The mismatch finder's outputs: a self-contained HTML report, a CSV of every image's
attributes, the JSON summary and the learned template file.

``write_report(report, out)`` writes into the folder ``out``:

* ``report.html``: what differs most (ranking, alarms, domain classifiers), the distributions of
  the top attributes, where the eyes sit over each set's mean image, the most extreme images,
  the learned template and, with a model and labels, the fix verified;
* ``attributes.csv``: one row per image of both sets -- set, path, every attribute, the central
  face's five points (image pixels), the embedding's distance from the reference's mean and,
  for the target with a model, the top class under each way of cropping;
* ``summary.json``: :meth:`MismatchReport.summary`;
* ``template.json`` when a template was learned (use it with ``--template FILE``).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..backend import images
from ..backend.attributes import NAMES
from ..backend.mismatch import AS_GIVEN, MismatchReport, extremes, save_learned_template, values
from ..backend.types import LANDMARK_NAMES
from ..figures import mismatch as fig
from .html import esc, figure_png, image_png, page, table, write_atomic

TOP = 6  # attributes whose distributions and extremes are shown


def _num(v, digits: int = 4) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.{digits}g}"


def csv_text(report: MismatchReport) -> str:
    """The per-image table (both sets) as CSV text."""
    buf = io.StringIO()
    w = csv.writer(buf)
    opts = list(report.target.probs)
    lm_cols = [f"{n}_{c}" for n in LANDMARK_NAMES for c in ("x", "y")]
    w.writerow(["set", "path", "width", "height", *NAMES, *lm_cols, "embedding_distance",
                *[f"top_class[{o}]" for o in opts]])
    dist = report.comparison.extra.get("embedding_distance")
    for k, t in enumerate((report.reference, report.target)):
        d = dist[k] if dist is not None else np.full(len(t), np.nan)
        top = {o: np.nan_to_num(p).argmax(1) for o, p in t.probs.items()}
        for i, path in enumerate(t.paths):
            row = [t.name, str(path), int(t.sizes[i, 0]), int(t.sizes[i, 1])]
            row += [_num(t.values[n][i], 6) for n in NAMES]
            row += [_num(v, 6) for v in t.landmarks[i].reshape(-1)]
            row.append(_num(d[i], 6))
            row += [t.labels[top[o][i]] if o in top else "" for o in opts]
            w.writerow(row)
    return buf.getvalue()


def _thumbs(table, rows) -> str:
    out = []
    for r in rows:
        try:
            px = images.downscale(images.load_photo(table.paths[r]).pixels, 96)[0]
        except images.ImageError:
            continue
        out.append(image_png(px, str(table.paths[r])))
    return "".join(out)


def _extremes_html(report: MismatchReport, names) -> str:
    parts = []
    for n in names:
        ref_v, tgt_v = values(report, n)
        cells = []
        for t, v in ((report.reference, ref_v), (report.target, tgt_v)):
            lo, hi = extremes(v)
            cells.append(f"<td><div class='thumbs'>lowest {_thumbs(t, lo)}</div>"
                         f"<div class='thumbs'>highest {_thumbs(t, hi)}</div></td>")
        parts.append(f"<tr><td>{esc(n)}</td>{''.join(cells)}</tr>")
    return ("<table><tr><th>attribute</th><th>reference</th><th>target</th></tr>"
            + "".join(parts) + "</table>")


def html_text(report: MismatchReport) -> str:
    c = report.comparison
    ref, tgt = report.reference, report.target
    body = [f"<h1>Mismatch: {esc(ref.source)} vs {esc(tgt.source)}</h1>",
            f"<p>Reference: {len(ref)} images ({len(ref.errors)} unreadable, faces found in "
            f"{int(ref.found.sum())}); target: {len(tgt)} images ({len(tgt.errors)} unreadable, "
            f"faces found in {int(tgt.found.sum())}). {report.seconds:.0f} s.</p>"]
    if c.shifts:
        top = c.shifts[0]
        body.append(f"<p><b>What differs most: {esc(top.name)}</b> ({esc(top.description)}): "
                    f"reference {_num(top.ref_mean)} ± {_num(top.ref_std)}, target "
                    f"{_num(top.tgt_mean)} ± {_num(top.tgt_std)} — {top.score:.2f} reference "
                    f"spreads apart.</p>")
    auc = c.domain_auc
    body.append(f"<p>Domain classifiers (5-fold cross-validated ROC AUC; 0.5 = the sets cannot "
                f"be told apart): attributes {_num(auc['attributes'], 3)}, face embeddings "
                f"{_num(auc['embeddings'], 3)}. {esc(c.domain_note)}</p>")
    body.append("<h2>Ranked attributes</h2>")
    body.append(f"<p class='muted'>Alarm (⚠): KS p-value × {len(c.shifts)} (Bonferroni) below "
                f"{c.alpha:g} and a shift of at least {c.min_effect:g} reference spreads. "
                "Importance: permutation importance (ROC AUC) in the attribute classifier.</p>")
    rows = [[s.name + (" ⚠" if s.alarm else ""), s.group, f"{s.score:.3f}", f"{s.ks:.3f}",
             f"{s.p_value:.2g}", _num(s.ref_mean), _num(s.ref_std), _num(s.tgt_mean),
             _num(s.tgt_std), _num(s.importance, 3), s.description] for s in c.shifts]
    body.append(table(["attribute", "group", "score", "KS", "p", "ref mean", "ref sd",
                       "target mean", "target sd", "importance", "what it is"], rows,
                      ["alarm" if s.alarm else "" for s in c.shifts]))
    body.append(figure_png(fig.ranking_figure(c)))
    if c.formats:
        body.append("<h2>File formats</h2><p class='muted'>Every model resizes its input, so "
                    "these matter through what they do to the face's geometry above.</p>")
        body.append(table(["property", "reference mean", "target mean", "score", "KS"],
                          [[s.name, _num(s.ref_mean), _num(s.tgt_mean), f"{s.score:.3f}",
                            f"{s.ks:.3f}"] for s in c.formats]))
    names = [s.name for s in c.shifts[:TOP]]
    body.append("<h2>Distributions of the top attributes</h2>")
    body.append(figure_png(fig.distributions_figure(report, names)))
    body.append("<h2>Where the eyes sit</h2>")
    body.append(figure_png(fig.eyes_figure(report)))
    body.append("<h2>The most extreme images of each set</h2>")
    body.append(_extremes_html(report, names))
    lt = report.template
    body.append("<h2>The reference's alignment template</h2>")
    if lt.template is not None:
        pts = [[n, f"{p[0]:.2f}", f"{p[1]:.2f}", f"{s[0]:.2f}", f"{s[1]:.2f}"]
               for n, p, s in zip(LANDMARK_NAMES, lt.points, lt.spread)]
        body.append(f"<p>{esc(lt.template.description)}. Saved as <code>template.json</code>: "
                    "use it with <code>--template template.json</code>, in a model's sidecar "
                    "(<code>\"template\": \"template.json\"</code>) or in the Crops and Probe "
                    "panes.</p>")
        body.append(table(["point", "x (px)", "y (px)", "sd x", "sd y"], pts))
    else:
        body.append(f"<p>No template learned: {esc(lt.reason)}.</p>")
    if report.model_id:
        body.append(f"<h2>The fix, verified: {esc(report.model_id)} on the target</h2>")
        info = report.fix_info
        unknown = info.get("unmatched_labels") or []
        body.append(f"<p>{info.get('labelled', 0)} of {info.get('images', 0)} target images "
                    f"have a label the model knows (labels: {esc(report.labels_source or 'none')}"
                    + (f"; labels it does not know: {esc(', '.join(unknown))}" if unknown else "")
                    + ").</p>")
        if any(f.n for f in report.fixes):
            best, base = report.best, report.baseline
            if best is not None and base is not None:
                body.append(f"<p><b>The fix that recovers most: {esc(best.template)}</b> — "
                            f"balanced accuracy {best.balanced_accuracy * 100:.1f} % vs "
                            f"{base.balanced_accuracy * 100:.1f} % {AS_GIVEN}.</p>")
            rows = []
            for f in report.fixes:
                ci = f.ci95.get("balanced_accuracy", [np.nan, np.nan])
                cf = f.ci95.get("macro_f1", [np.nan, np.nan])
                rows.append([f.template, f.n, f"{f.balanced_accuracy * 100:.1f}",
                             f"{ci[0] * 100:.1f}–{ci[1] * 100:.1f}", f"{f.macro_f1 * 100:.1f}",
                             f"{cf[0] * 100:.1f}–{cf[1] * 100:.1f}", f"{f.accuracy * 100:.1f}"])
            body.append(table(["crop", "n", "balanced acc. %", "95 % CI", "macro-F1 %",
                               "95 % CI", "accuracy %"], rows))
            body.append(figure_png(fig.fixes_figure(report)))
        else:
            rows = [[f.template] + [f"{f.predicted.get(k, 0) * 100:.1f}" for k in tgt.labels]
                    for f in report.fixes]
            body.append("<p>Without labels: the share of the target predicted as each class.</p>")
            body.append(table(["crop", *tgt.labels], rows))
    for t in (ref, tgt):
        if t.errors:
            body.append(f"<h2>Unreadable in the {t.name}</h2>")
            body.append(table(["file", "why"], t.errors[:200]))
        if t.note:
            body.append(f"<p class='muted'>{esc(t.name)}: {esc(t.note)}</p>")
    return page("FaceInspector mismatch report", "\n".join(body))


def write_report(report: MismatchReport, out, json_path=None) -> dict[str, Path]:
    """Write the HTML report, the CSV, the JSON summary and the learned template into ``out``;
    returns {kind: path}. ``json_path`` writes the summary there too."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": write_atomic(out / "report.html", html_text(report)),
             "csv": write_atomic(out / "attributes.csv", csv_text(report))}
    summary = json.dumps(_clean(report.summary()), indent=1, allow_nan=False)
    paths["json"] = write_atomic(out / "summary.json", summary)
    if json_path:
        paths["json_copy"] = write_atomic(Path(json_path), summary)
    if report.template.template is not None:
        paths["template"] = save_learned_template(report, out / "template.json")
    return paths


def _clean(v):
    """JSON-safe: numpy scalars to Python, NaN and infinities to null."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


__all__ = ["csv_text", "html_text", "write_report"]
