"""``faceinspector probe PATHS``: invariance metrics and sweep plots for photos or folders."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import device_arg, nonneg_int, out_dir_arg, positive_int, run_task


def cmd_probe(args) -> int:
    import csv

    from ..backend import Backend
    from ..backend import probe as pr
    from ..backend.files import atomic_open

    backend = Backend(device=args.device)
    models = list(args.model or [])
    for f in args.model_file or []:
        models.append(backend.load_user_model(f))
    models = models or ["dlib-gender"]
    for m in models:
        backend.model(m)  # fail early, with a clear message, on a bad model id or missing pack
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items = _faces(backend, args.paths, args.max_faces)
    if not items:
        print("error: no faces to probe", file=sys.stderr)
        return 1
    kw = dict(max_shift=args.max_shift, template=args.template, border=args.border)
    samples = run_task(pr.sample_faces(backend, [(photo, face) for _, _, photo, face in items],
                                       models, total=len(items), **kw))
    per_face_rows = []
    for n, (path, i, photo, face) in enumerate(items):
        for m in models:
            row = pr.aggregate(m, backend.model(m).labels, [samples[m][n]]).as_row()
            per_face_rows.append({"photo": str(path), "face": i, **row})
        if n < args.plots:
            _probe_plot(backend, pr, photo, face, models, args, out / f"{path.stem}_face{i}.png")
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
    with atomic_open(out / "probe_faces.csv", "w", newline="") as fh:
        keys = sorted({k for r in per_face_rows for k in r}, key=lambda k: (k != "photo", k))
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(per_face_rows)
    with atomic_open(out / "probe_summary.csv", "w", newline="") as fh:
        rows = [r.as_row() for r in results.values()]
        keys = sorted({k for r in rows for k in r}, key=lambda k: (k != "model", k))
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out / 'probe_summary.csv'}, {out / 'probe_faces.csv'} and "
          f"{min(args.plots, len(items))} plot(s) in {out}")
    return 0


def _faces(backend, paths, max_faces: int) -> list[tuple]:
    """(path, face index, photo, face) of the first ``max_faces`` faces of every photo."""
    from ..backend import photos

    items = []

    def take(item) -> None:
        if item.error:
            print(f"skipped: {item.error}", file=sys.stderr)
        elif not item.faces:
            print(f"no face found in {item.path}", file=sys.stderr)
        for i, face in enumerate(item.faces[:max_faces]):
            items.append((item.path, i, item.photo, face))

    run_task(photos.load_and_detect(backend, paths, thumb_side=16, display_side=0),
             on_item=take)
    return items


def _probe_plot(backend, pr, photo, face, models, args, path: Path) -> None:
    from ..figures import probe_figure

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



def add_parser(sub) -> None:
    pb = sub.add_parser("probe", help="invariance metrics (consistency, P(top-1 change), eKLD) "
                                      "and sweep plots for photos or folders")
    pb.add_argument("paths", nargs="+", help="photos or folders")
    pb.add_argument("--model", action="append", help="model id (repeatable; default dlib-gender)")
    pb.add_argument("--model-file", action="append", metavar="PATH",
                    help="your TorchScript/ONNX classifier (+ JSON sidecar beside it)")
    pb.add_argument("--template", help="crop template (default: each model's own)")
    pb.add_argument("--border", default="reflect", choices=["reflect", "replicate", "zeros"])
    pb.add_argument("--max-shift", type=positive_int, default=8,
                    help="random shifts up to ±N crop px")
    pb.add_argument("--max-faces", type=positive_int, default=50, help="faces per photo")
    pb.add_argument("--plots", type=nonneg_int, default=3,
                    help="write sweep plots for the first N faces")
    pb.add_argument("--out", default="probe-out", type=out_dir_arg,
                    help="folder for CSV and PNG output")
    pb.add_argument("--device", default="auto", type=device_arg)
    pb.set_defaults(func=cmd_probe)
