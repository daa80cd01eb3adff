"""The classifier evaluation's outputs: a self-contained HTML report, CSV tables and the JSON
summary.

``write_report(evaluation, out)`` writes into the folder ``out``:

* ``report.html``: per model, the headline scores of every crop with 95 % intervals, per-class
  scores, the confusion matrix and the reliability diagram, every slice column (Fairness
  Indicators style, the gap between the best and the worst slice), per-class invariance against
  training-set size, the most confident mistakes and what alignment fixes and breaks (with the
  photos), and for embedders verification by group;
* ``predictions.csv``: one row per image -- path, label, identity, group columns, the measured
  attributes (face size, yaw proxy, ITA and its category), the attribute models' answers, and
  per model and crop the predicted class, its confidence and the probability of the truth;
* ``per_class.csv``, ``slices.csv`` (and ``verification.csv`` for embedders): the tables;
* ``summary.json``: :meth:`~faceinspector.backend.classify.Evaluation.summary`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..backend import images
from ..backend.classify import clean
from ..backend.classify.skin import category
from ..backend.classify.slices import MIN_GAP_N
from ..figures import evaluate as fig
from .html import esc, figure_png, image_png, page, table, write_atomic


def _pct(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.1f}"


def _ci(ci) -> str:
    if not ci or ci[0] is None or not np.isfinite(ci[0]):
        return "–"
    return f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}"


def _num(v, digits: int = 4) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:.{digits}g}"


# --------------------------------------------------------------------------------- CSV


def predictions_csv(ev) -> str:
    p = ev.pred
    buf = io.StringIO()
    w = csv.writer(buf)
    groups = list(p.groups)
    attrs = []
    for a, info in p.attribute_models.items():
        if info.has_value:
            attrs.append((a, "value"))
        if info.has_classes:
            attrs.append((a, "class"))
    keys = [(m, o) for m, me in ev.models.items() if not me.plan.embedder
            for o in me.plan.options]
    w.writerow(["path", "label", "identity", *groups, "face_found", "face_index",
                "face_size_px", "yaw_proxy", "ita_deg", "ita_category",
                *[f"{a}:{k}" for a, k in attrs],
                *[f"{c}[{m}|{o}]" for m, o in keys for c in ("prediction", "confidence",
                                                            "p_truth")]])
    tops = {k: np.nan_to_num(p.outputs[k]) for k in keys}
    for i, path in enumerate(p.paths):
        row = [str(path), p.truth[i], p.identities[i], *[p.groups[g][i] for g in groups],
               int(p.found[i]), int(p.face_index[i]), _num(p.face_size[i]), _num(p.yaw[i]),
               _num(p.ita[i]), category(p.ita[i])]
        for a, kind in attrs:
            out = p.attributes[a][i]
            if kind == "value":
                row.append(_num(float(out[0])))
            else:
                labels = p.attribute_models[a].labels
                row.append(labels[int(np.nan_to_num(out[1:]).argmax())] if p.found[i] else "")
        for m, o in keys:
            pr = tops[(m, o)][i]
            y = ev.models[m].y[i]
            row += [ev.models[m].plan.labels[int(pr.argmax())], _num(float(pr.max())),
                    _num(float(pr[y])) if y >= 0 else ""]
        w.writerow(row)
    return buf.getvalue()


def per_class_csv(ev) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "template", "class", "support", "precision", "precision_low",
                "precision_high", "recall", "recall_low", "recall_high", "f1", "f1_low",
                "f1_high", "train_count"])
    counts = ev.train_counts or {}
    for m, me in ev.models.items():
        for o, r in me.by_template.items():
            for c, v in r.get("per_class", {}).items():
                ci = v.get("ci95", {})
                w.writerow([m, o, c, v["support"], *[
                    _num(x) for k in ("precision", "recall", "f1")
                    for x in (v[k], *(ci.get(k) or [np.nan, np.nan]))], counts.get(c, "")])
    return buf.getvalue()


def slices_csv(ev) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "template", "column", "value", "n", "accuracy", "accuracy_low",
                "accuracy_high", "balanced_accuracy", "balanced_low", "balanced_high",
                "macro_f1", "macro_f1_low", "macro_f1_high"])
    for m, me in ev.models.items():
        for o, r in me.by_template.items():
            if me.plan.embedder:
                continue
            for col, sl in r.get("slices", {}).items():
                for v, s in sl.items():
                    ci = s.get("ci95", {})
                    w.writerow([m, o, col, v, s["n"], *[
                        _num(x) for k in ("accuracy", "balanced_accuracy", "macro_f1")
                        for x in (s[k], *(ci.get(k) or [np.nan, np.nan]))]])
    return buf.getvalue()


def verification_csv(ev) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "template", "column", "group", "images", "same_pairs",
                "different_pairs", "auc", "tar@far=1e-3", "tar@far=1e-2", "threshold",
                "balanced_accuracy", "balanced_accuracy_at_global", "cost", "far_at_global_1e-3",
                "far_floor"])
    for m, me in ev.models.items():
        if not me.plan.embedder:
            continue
        for o, r in me.by_template.items():
            for col, res in r.get("slices", {}).items():
                for v, g in res["groups"].items():
                    glob = g.get("at_global", {})
                    w.writerow([m, o, col, v, g["images"], g["pos"], g["neg"],
                                _num(g.get("auc")), _num(g.get("tar@far=0.001")),
                                _num(g.get("tar@far=0.01")), _num(g.get("threshold")),
                                _num(g.get("balanced_accuracy")),
                                _num(glob.get("balanced_accuracy")), _num(g.get("cost")),
                                _num(g.get("at_global_far_1e-3", {}).get("far")),
                                _num(g.get("far_floor"))])
    return buf.getvalue()


# -------------------------------------------------------------------------------- HTML


def _thumbs(examples, caption) -> str:
    out = []
    for e in examples:
        try:
            px = images.downscale(images.load_photo(e["path"]).pixels, 96)[0]
        except images.ImageError:
            continue
        out.append(f"<figure style='display:inline-block;margin:2px'>"
                   f"{image_png(px, e['path'])}<figcaption>{esc(caption(e))}</figcaption>"
                   "</figure>")
    return "<div class='thumbs'>" + "".join(out) + "</div>"


def _classifier_html(ev, m: str, s: dict) -> list[str]:
    bt = s["by_template"]
    body = [table(["crop", "n", "accuracy %", "95 % CI", "balanced acc. %", "95 % CI",
                   "macro-F1 %", "95 % CI", "ECE"],
                  [[o, r["n"], _pct(r["accuracy"]), _ci(r["ci95"].get("accuracy")),
                    _pct(r["balanced_accuracy"]), _ci(r["ci95"].get("balanced_accuracy")),
                    _pct(r["macro_f1"]), _ci(r["ci95"].get("macro_f1")),
                    _num(r.get("ece"), 3)] for o, r in bt.items()]),
            figure_png(fig.headline_figure(bt))]
    if s.get("unmatched_labels"):
        body.append(f"<p class='muted'>Labels {m} does not know (left out): "
                    f"{esc(', '.join(s['unmatched_labels']))}.</p>")
    body.append("<h3>Per class</h3>")
    counts = ev.train_counts or {}
    for o, r in bt.items():
        rows = [[c, v["support"], counts.get(c, ""), _pct(v["precision"]),
                 _ci(v["ci95"].get("precision")), _pct(v["recall"]),
                 _ci(v["ci95"].get("recall")), _pct(v["f1"]), _ci(v["ci95"].get("f1"))]
                for c, v in r["per_class"].items()]
        body.append(f"<p><b>{esc(o)}</b></p>" + table(
            ["class", "support", "training images", "precision %", "95 % CI", "recall %",
             "95 % CI", "F1 %", "95 % CI"], rows))
    own = ev.models[m].plan.own
    body.append(figure_png(fig.confusion_calibration_figure(bt, own if own in bt
                                                            else next(iter(bt)))))
    body.append("<h3>Slices</h3><p class='muted'>Each slice's scores with 95 % intervals; "
                f"the gap is between the best and the worst slice of at least {MIN_GAP_N} "
                "images (stratified bootstrap).</p>")
    for name, col in ev.columns.items():
        body.append(f"<h4>{esc(name)}</h4><p class='muted'>{esc(col.description)}</p>")
        rows = []
        for o, r in bt.items():
            for v, x in r["slices"].get(name, {}).items():
                rows.append([o, v, x["n"], _pct(x["balanced_accuracy"]),
                             _ci(x["ci95"].get("balanced_accuracy")), _pct(x["accuracy"]),
                             _pct(x["macro_f1"])])
        body.append(table(["crop", "slice", "n", "balanced acc. %", "95 % CI", "accuracy %",
                           "macro-F1 %"], rows))
        for o, r in bt.items():
            g = (r.get("gaps", {}).get(name) or {}).get("balanced_accuracy")
            if g:
                body.append(f"<p>{esc(o)}: gap {_pct(g['gap'])} points (95 % CI "
                            f"{_ci(g['ci95'])}) between <b>{esc(g['best'])}</b> and "
                            f"<b>{esc(g['worst'])}</b>"
                            + (" — <span class='alarm'>the interval excludes zero</span>"
                               if g["excludes_zero"] else "") + ".</p>")
        body.append(figure_png(fig.slices_figure(bt, name, col.order)))
    inv = s.get("invariance")
    body.append("<h3>Per-class invariance</h3>")
    if inv and inv.get("classes"):
        body.append(f"<p class='muted'>eKLD and consistency on up to {esc(inv['faces'])} faces "
                    f"(random shifts up to {inv['max_shift_px']} px, ±15°, 0.9–1.1×; Zhou et "
                    "al., ICLR 2022: invariance learned on large classes does not transfer to "
                    "small ones).</p>")
        body.append(table(["class", "faces", "training images", "eKLD", "95 % CI",
                           "consistency", "P(top-1 change, 1 px)"],
                          [[c, v["faces"], v["train_count"] if v["train_count"] is not None
                            else "–", _num(v["ekld"], 3),
                            f"{_num(v['ekld_ci95'][0], 3)}–{_num(v['ekld_ci95'][1], 3)}",
                            _num(v["consistency"], 3), _num(v["p_top1_change"], 3)]
                           for c, v in inv["classes"].items()]))
        body.append(figure_png(fig.invariance_figure(inv, m)))
    else:
        body.append("<p class='muted'>Not measured.</p>")
    body.append("<h3>Mistakes</h3>")
    for o, mk in s["mistakes"].get("confident", {}).items():
        body.append(f"<p>Most confident mistakes, {esc(o)} ({mk['count']} wrong):</p>")
        body.append(_thumbs(mk["examples"], lambda e: f"{e['truth']}→{e['prediction']} "
                                                       f"{100 * e['confidence']:.0f}%"))
    al = s["mistakes"].get("alignment")
    if al:
        for kind in ("fixed", "broken"):
            body.append(f"<p>{al[kind]['count']} images {esc(al['after'])} {kind} "
                        f"(vs {esc(al['before'])}), of {al['labelled']}:</p>")
            body.append(_thumbs(al[kind]["examples"],
                                lambda e: f"{e['truth']}: {e['before']}→{e['after']}"))
    return body


def _embedder_html(ev, m: str, s: dict) -> list[str]:
    body = []
    for o, r in s["by_template"].items():
        v = r.get("verification") or {}
        body.append(f"<h3>{esc(o)}</h3><p>All images: {v.get('pos', 0)} same-person and "
                    f"{v.get('neg', 0)} different-person pairs; AUC {_num(v.get('auc'), 4)}, "
                    f"TAR @ FAR = 1e-3 {_pct(v.get('tar@far=0.001'))} % "
                    f"({_ci(v.get('tar@far=0.001_ci95'))}).</p>")
        for col, res in r["slices"].items():
            glob = res.get("global")
            rows = [[g, x["images"], x["pos"], x["neg"], _pct(x.get("tar@far=0.001")),
                     _ci(x.get("tar@far=0.001_ci95")), _pct(x.get("tar@far=0.01")),
                     _num(x.get("threshold"), 3), _pct(x.get("balanced_accuracy")),
                     _pct((x.get("at_global") or {}).get("balanced_accuracy")),
                     _pct(x.get("cost")),
                     _num((x.get("at_global_far_1e-3") or {}).get("far"), 2),
                     _num(x.get("far_floor"), 2)]
                    for g, x in res["groups"].items()]
            body.append(f"<h4>by {esc(col)}</h4>")
            if glob:
                body.append(f"<p class='muted'>Global threshold {glob['threshold']:.3f} "
                            f"(best on all {glob['pairs']} pairs pooled); for FAR = 1e-3: "
                            f"{glob['threshold_far_1e-3']:.3f}.</p>")
            body.append(table(["group", "images", "same", "different", "TAR@1e-3 %", "95 % CI",
                               "TAR@1e-2 %", "own τ", "bal. acc. at own τ %",
                               "at global τ %", "cost (points)", "FAR at global 1e-3 τ",
                               "FAR floor (1/different)"],
                              rows))
            body.append(figure_png(fig.verification_figure(res["groups"])))
    return body


def html_text(ev) -> str:
    s = ev.summary()
    p = ev.pred
    body = [f"<h1>Evaluation: {esc(s['source'])}</h1>",
            f"<p>{len(p)} images ({len(p.errors)} unreadable, {len(ev.data.missing)} labelled "
            f"files missing), a face found in {int(p.found.sum())} (the others are cropped at "
            f"the data set's mean landmarks). Classes: {esc(', '.join(ev.data.classes[:30]))}. "
            f"{ev.seconds:.0f} s.</p>",
            "<p class='muted'>Crops: <i>as given</i> = the whole image resized to the model's "
            "input (no detector); <i>raw</i> = the MTCNN box, squared with a 20 % margin, "
            "never rotated; a template name = the face aligned to it at the model's input size "
            "(the model's own template is its training crop). Skin tone is the Individual "
            "Typology Angle of the face's skin pixels — a colour measurement that depends on "
            "the lighting and the camera, not a statement about anyone's race.</p>"]
    for m in ev.model_ids:
        ms = ev.model_summary(m)
        body.append(f"<h2>{esc(m)} ({esc(ms['task'])}, own template {esc(ms['own_template'])}"
                    f"; n = {ms['n']})</h2>")
        body += (_embedder_html(ev, m, ms) if ev.models[m].plan.embedder
                 else _classifier_html(ev, m, ms))
    if p.errors:
        body.append("<h2>Unreadable</h2>" + table(["file", "why"], p.errors[:200]))
    return page("FaceInspector evaluation", "\n".join(body))


def write_report(ev, out, json_path=None) -> dict[str, Path]:
    """Write the report's files into ``out``; returns {kind: path}. ``json_path`` writes the
    summary there too."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    summary = json.dumps(clean(ev.summary()), indent=1, allow_nan=False)
    paths = {"html": write_atomic(out / "report.html", html_text(ev)),
             "predictions": write_atomic(out / "predictions.csv", predictions_csv(ev)),
             "per_class": write_atomic(out / "per_class.csv", per_class_csv(ev)),
             "slices": write_atomic(out / "slices.csv", slices_csv(ev)),
             "json": write_atomic(out / "summary.json", summary)}
    if any(me.plan.embedder for me in ev.models.values()):
        paths["verification"] = write_atomic(out / "verification.csv", verification_csv(ev))
    if json_path:
        paths["json_copy"] = write_atomic(Path(json_path), summary)
    return paths


__all__ = ["html_text", "per_class_csv", "predictions_csv", "slices_csv", "verification_csv",
           "write_report"]
