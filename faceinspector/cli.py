"""Headless commands: ``faceinspector models fetch|list``, ``faceinspector detect PATHS``.

Every expected failure (missing model pack, unreadable photo, ...) is printed as one clear line
on stderr with a non-zero exit code, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__

COMMANDS = ("models", "detect", "eval", "probe")


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cmd_models(args) -> int:
    from .backend import assets

    if args.action == "fetch":
        assets.fetch(args.pack or None, force=args.force)
        bad = [m for m in assets.list_models() if not m.present]
        if bad:
            for m in bad:
                print(f"error: {m.id}: {m.problem}", file=sys.stderr)
            return 1
        print(f"All model packs verified in {assets.cache_dir()}")
        return 0
    rows = assets.list_models()
    if args.json:
        print(json.dumps([m.__dict__ for m in rows], indent=2))
        return 0
    print(f"Model cache: {assets.cache_dir()}")
    print(f"{'model':20} {'task':12} {'size':>9}  {'present':8} {'licence':10} source")
    for m in rows:
        state = "yes" if m.present else "NO"
        print(f"{m.id:20} {m.task:12} {_human(m.size_bytes):>9}  {state:8} {m.license:10} {m.source}")
    missing = [m for m in rows if not m.present]
    if missing:
        print(f"\n{len(missing)} missing or corrupt; run `faceinspector models fetch`.")
    return 0


def cmd_detect(args) -> int:
    from .backend import Backend, ImageError

    backend = Backend(device=args.device, detect_max_side=args.max_side)
    paths = args.paths or [str(p) for p in __import__(
        "faceinspector.backend.assets", fromlist=["demo_photos"]).demo_photos()]
    out, failures = [], 0
    for path, photo in backend.iter_photos(paths):
        if isinstance(photo, ImageError):
            failures += 1
            print(f"skipped: {photo}", file=sys.stderr)
            continue
        det = backend.detect(photo)
        rec = {"path": str(path), "width": photo.width, "height": photo.height,
               "seconds": round(det.seconds, 3),
               "faces": [{"box": [round(v, 1) for v in f.box], "score": round(f.score, 4),
                          "landmarks": f.landmarks.round(1).tolist()} for f in det.faces]}
        out.append(rec)
        if args.crops:
            _save_crops(backend, photo, det, Path(args.crops), Path(path).stem, args.template)
        if not args.json:
            print(f"{path}: {len(det.faces)} face(s) in {det.seconds * 1000:.0f} ms "
                  f"({photo.width}x{photo.height})")
            for i, f in enumerate(det.faces):
                x1, y1, x2, y2 = f.box
                print(f"  face {i}: box ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}) "
                      f"score {f.score:.3f}")
    if args.json:
        print(json.dumps(out, indent=2))
    return 1 if failures and not out else 0


def cmd_eval(args) -> int:
    import time

    from .backend import Backend
    from .backend.evaluate import eval_pairs, run

    backend = Backend(device=args.device)
    t0 = time.perf_counter()
    last = [0.0]

    def progress(done, total):
        now = time.perf_counter()
        if now - last[0] > 5 or done == total:
            last[0] = now
            print(f"  embedded {done}/{total} images ({done / (now - t0):.1f}/s)",
                  file=sys.stderr, flush=True)

    report, pairs, info = run(eval_pairs(backend, args.pairs, root=args.root, model_id=args.model,
                                         metric=args.metric, folds=args.folds), progress)
    secs = time.perf_counter() - t0
    print(f"pairs file:  {args.pairs}  ({report.n_pairs} pairs, {len(set(p.fold for p in pairs))} "
          f"folds, {info['images']} images)")
    print(f"model:       {args.model}, distance {args.metric}, device {backend.device_name}")
    print(f"faces found: {info['detected']}/{info['images']} images "
          f"(the rest use the data set's mean landmarks); unreadable: {len(info['errors'])}")
    print(f"accuracy:    {report.accuracy * 100:.2f} % ± {report.accuracy_std * 100:.2f} "
          f"(threshold chosen on the other folds, LFW protocol)")
    print(f"threshold:   {report.threshold:.4f} (best on all pairs; per fold "
          f"{report.fold_thresholds.min():.3f}–{report.fold_thresholds.max():.3f})")
    print(f"AUC:         {report.auc:.4f}")
    for far, tar in report.tar_at_far.items():
        print(f"TAR @ FAR={far:g}: {tar * 100:.2f} %")
    print(f"time:        {secs:.0f} s ({info['images'] / secs:.1f} images/s end to end)")
    return 0


def cmd_probe(args) -> int:
    import csv

    from .backend import Backend, ImageError
    from .backend import probe as pr

    backend = Backend(device=args.device)
    models = args.model or ["dlib-gender"]
    for m in models:
        backend.model(m)  # fail early, with a clear message, on a bad model id or missing pack
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items, failures = [], 0
    for path, photo in backend.iter_photos(args.paths):
        if isinstance(photo, ImageError):
            failures += 1
            print(f"skipped: {photo}", file=sys.stderr)
            continue
        faces = backend.detect(photo).faces
        if not faces:
            print(f"no face found in {path}", file=sys.stderr)
        for i, face in enumerate(faces[: args.max_faces]):
            items.append((Path(path), i, photo, face))
    if not items:
        print("error: no faces to probe", file=sys.stderr)
        return 1
    kw = dict(max_shift=args.max_shift, template=args.template, border=args.border)
    per_face_rows = []
    samples = {m: [] for m in models}
    for n, (path, i, photo, face) in enumerate(items):
        for m in models:
            s = pr.sample_face(backend, photo, face, m, seed=n, **kw)
            samples[m].append(s)
            row = pr.aggregate(m, backend.model(m).labels, [s]).as_row()
            per_face_rows.append({"photo": str(path), "face": i, **row})
        if n < args.plots:
            _probe_plot(backend, pr, photo, face, models, args, out / f"{path.stem}_face{i}.png")
        print(f"  probed {n + 1}/{len(items)} faces", file=sys.stderr, flush=True)
    results = {m: pr.aggregate(m, backend.model(m).labels, samples[m]) for m in models}
    template = args.template or "each model's own"
    print(f"{len(items)} faces, template {template}, border {args.border}, "
          f"shifts up to ±{args.max_shift} px")
    print(f"{'model':22} {'consistency':>11} {'P(top1 chg)':>11} {'mean|Δp|':>9} {'eKLD':>8}  "
          "eKLD per predicted class")
    for m, r in results.items():
        per = ", ".join(f"{k}: {v:.4f} (n={c})" for k, (v, c) in r.ekld_per_class.items())
        print(f"{m:22} {r.consistency:11.3f} {r.p_top1_change:11.3f} {r.mean_abs_change:9.4f} "
              f"{r.ekld:8.4f}  {per}")
    with open(out / "probe_faces.csv", "w", newline="") as fh:
        keys = sorted({k for r in per_face_rows for k in r}, key=lambda k: (k != "photo", k))
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(per_face_rows)
    with open(out / "probe_summary.csv", "w", newline="") as fh:
        rows = [r.as_row() for r in results.values()]
        keys = sorted({k for r in rows for k in r}, key=lambda k: (k != "model", k))
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out / 'probe_summary.csv'}, {out / 'probe_faces.csv'} and "
          f"{min(args.plots, len(items))} plot(s) in {out}")
    return 0


def _probe_plot(backend, pr, photo, face, models, args, path: Path) -> None:
    from .plots import probe_figure

    sweeps, labels = {}, {}
    for m in models:
        labels[m] = backend.model(m).labels
        for name, (vals, probs) in pr.one_d_sweeps(backend, photo, face, m,
                                                   template=args.template,
                                                   border=args.border).items():
            sweeps.setdefault(name, (vals, {}))[1][m] = probs
    offs, grid = pr.shift_grid(backend, photo, face, models[0], radius=10,
                               template=args.template, border=args.border)
    fig = probe_figure(sweeps, labels, heat=(offs, grid, labels[models[0]]),
                       title=f"{path.stem}: {', '.join(models)}")
    fig.savefig(path, dpi=90)


def _save_crops(backend, photo, det, folder: Path, stem: str, templates: list[str]) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, face in enumerate(det.faces):
        for t in templates:
            crop = backend.crop(photo, face, t)
            Image.fromarray(crop.pixels).save(folder / f"{stem}_face{i}_{t}.png")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faceinspector",
                                description="See why a face model gets a photo wrong. "
                                            "Without a command, opens the app.")
    p.add_argument("--version", action="version", version=f"faceinspector {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("models", help="fetch or list the model packs")
    msub = m.add_subparsers(dest="action", required=True)
    f = msub.add_parser("fetch", help="obtain, verify (sha256) and cache the model packs")
    f.add_argument("pack", nargs="*", help="packs to fetch (default: all)")
    f.add_argument("--force", action="store_true", help="fetch again even if present")
    ls = msub.add_parser("list", help="show each model, its source, licence, size and presence")
    ls.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)

    d = sub.add_parser("detect", help="detect faces (MTCNN, 5 landmarks) in photos or folders")
    d.add_argument("paths", nargs="*", help="photos or folders (default: the demo photos)")
    d.add_argument("--json", action="store_true", help="print JSON instead of text")
    d.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    d.add_argument("--max-side", type=int, default=1024,
                   help="pyramid levels larger than this are skipped (0 = full resolution)")
    d.add_argument("--crops", metavar="DIR", help="save each face's crops into DIR")
    d.add_argument("--template", action="append", default=None,
                   help="template(s) for --crops (default: raw and dlib-chip)")
    d.set_defaults(func=cmd_detect)
    e = sub.add_parser("eval", help="verification accuracy on labelled pairs")
    esub = e.add_subparsers(dest="what", required=True)
    lfw = esub.add_parser("lfw", help="LFW protocol on a pairs file (10-fold style CV threshold)")
    lfw.add_argument("pairs", help="pairs file in the LFW format")
    lfw.add_argument("--root", help="image folder (default: lfw-deepfunneled beside the file)")
    lfw.add_argument("--model", default="dlib-resnet", help="embedder model id")
    lfw.add_argument("--metric", default="l2", choices=["l2", "sq-l2", "cosine"])
    lfw.add_argument("--folds", type=int, help="use only the first N folds")
    lfw.add_argument("--device", default="auto")
    e.set_defaults(func=cmd_eval)

    pb = sub.add_parser("probe", help="invariance metrics (consistency, P(top-1 change), eKLD) "
                                      "and sweep plots for photos or folders")
    pb.add_argument("paths", nargs="+", help="photos or folders")
    pb.add_argument("--model", action="append", help="model id (repeatable; default dlib-gender)")
    pb.add_argument("--template", help="crop template (default: each model's own)")
    pb.add_argument("--border", default="reflect", choices=["reflect", "replicate", "zeros"])
    pb.add_argument("--max-shift", type=int, default=8, help="random shifts up to ±N crop px")
    pb.add_argument("--max-faces", type=int, default=50, help="faces per photo")
    pb.add_argument("--plots", type=int, default=3, help="write sweep plots for the first N faces")
    pb.add_argument("--out", default="probe-out", help="folder for CSV and PNG output")
    pb.add_argument("--device", default="auto")
    pb.set_defaults(func=cmd_probe)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "detect" and args.template is None:
        args.template = ["raw", "dlib-chip"]
    from .backend.assets import AssetError
    from .backend.images import ImageError

    try:
        return args.func(args)
    except (AssetError, ImageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
