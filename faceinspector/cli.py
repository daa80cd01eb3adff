"""Headless commands: ``faceinspector models fetch|list``, ``faceinspector detect PATHS``.

Every expected failure (missing model pack, unreadable photo, ...) is printed as one clear line
on stderr with a non-zero exit code, never as a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from pathlib import Path

from . import __version__

COMMANDS = ("models", "detect", "eval", "probe", "train", "experiment")
# backend/evaluate.py's PAIR_MODES, spelled out so --help does not import numpy
PAIR_MODES = ("balanced", "all")


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _fail(message) -> int:
    """Print ``message`` as one ``error:`` line on stderr; return the exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2


class _Throttle:
    """Paces progress lines: at most one per ``seconds``, but always the final one."""

    def __init__(self, seconds: float):
        self.seconds, self.last = seconds, 0.0

    def due(self, final: bool = False, seconds: float | None = None) -> bool:
        """Whether to print a line now (``final``: always; ``seconds`` overrides the pace);
        when it is, the pace restarts from now."""
        now = time.perf_counter()
        if final or now - self.last > (self.seconds if seconds is None else seconds):
            self.last = now
            return True
        return False


@contextlib.contextmanager
def _ctrl_c_cancels():
    """Within the block, the first Ctrl-C sets the yielded ``threading.Event`` (the run stops
    after its current step) and a second one aborts (``KeyboardInterrupt``)."""
    cancel = threading.Event()

    def on_sigint(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        print("\nstopping after this step (Ctrl-C again to abort)...", file=sys.stderr)
        cancel.set()

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, old)


def _set_threads(threads: int | None) -> None:
    """``--threads``: torch's CPU threads for this process (0 or None: leave torch's choice)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def _add_device_args(p, device: str = "auto", threads: int | None = 2) -> None:
    """``--device`` and ``--threads`` for a command that runs torch (defaults as given)."""
    p.add_argument("--device", default=device, help=f"auto, cpu, cuda, ... (default {device})")
    p.add_argument("--threads", type=int, default=threads,
                   help="torch CPU threads (0 = torch's)" if threads is not None
                   else "torch CPU threads (default: torch's choice)")


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
        print(f"{m.id:20} {m.task:12} {_human(m.size_bytes):>9}  {state:8} {m.license:10} "
              f"{m.source}")
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
    from .backend import Backend
    from .backend.evaluate import eval_folder, eval_pairs, run

    backend = Backend(device=args.device)
    t0 = time.perf_counter()
    tick = _Throttle(5)

    def progress(done, total):
        if tick.due(done == total):
            print(f"  embedded {done}/{total} images ({done / (tick.last - t0):.1f}/s)",
                  file=sys.stderr, flush=True)

    if args.what == "folder":
        gen = eval_folder(backend, args.folder, model_id=args.model, metric=args.metric,
                          min_images=args.min_images, max_people=args.max_people,
                          mode=args.pairs, max_pairs=args.max_pairs, folds=args.folds,
                          seed=args.seed)
    else:
        gen = eval_pairs(backend, args.pairs, root=args.root, model_id=args.model,
                         metric=args.metric, folds=args.folds)
    report, pairs, info = run(gen, progress)
    secs = time.perf_counter() - t0
    n_folds = len(set(p.fold for p in pairs))
    if args.what == "folder":
        print(f"folder:      {args.folder}  ({info['people']} people with >= {args.min_images} "
              f"images, {info['images']} images)")
        print(f"pairs:       {report.n_pairs} ({info['same']} same, {info['different']} "
              f"different; {info['mode']}), {n_folds} folds by person, seed {args.seed}")
    else:
        print(f"pairs file:  {args.pairs}  ({report.n_pairs} pairs, {n_folds} "
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
    models = list(args.model or [])
    for f in args.model_file or []:
        models.append(backend.load_user_model(f))
    models = models or ["dlib-gender"]
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


def cmd_train_vae(args) -> int:
    """``train vae``: the Morph pane's 64x64 VAE or DB-VAE (backend/vae.py)."""
    from .backend import vae
    from .backend.assets import cache_dir

    src = args.data
    if src != "celeba" and not Path(src).is_dir():
        return _fail(f"--data must be 'celeba' or a folder, got {src!r}")
    arch = "dbvae" if args.dbvae else "vae"
    name = "celeba64" if src == "celeba" else Path(src).resolve().name
    out = Path(args.out) if args.out else None
    resume = None
    if args.resume is not None:
        resume = Path(args.resume) if args.resume else out
        if resume is None or not resume.is_file():
            return _fail(f"nothing to resume: {resume or 'give --out or --resume PATH'}")
        out = out or resume
    out = out or cache_dir() / "vae" / f"{arch}_{name}.safetensors"
    limit = args.limit if args.limit is not None else (9000 if src == "celeba" else None)
    cmd = ["faceinspector", "train", "vae", "--data", src]
    cmd += [] if limit is None else ["--limit", str(limit)]
    cmd += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
            "--lr", f"{args.lr:g}", "--lr-schedule", args.lr_schedule,
            "--kl-weight", f"{args.kl_weight:g}",
            "--seed", str(args.seed)]
    cmd += ["--dbvae", "--negatives", str(args.negatives)] if args.dbvae else []
    cmd += {True: ["--aligned"], False: ["--photos"], None: []}[args.aligned]
    cmd += ["--no-flip"] if not args.flip else []
    cmd += ["--threads", str(args.threads)] if args.threads else []
    cmd += ["--device", args.device, "--out", str(out)]
    cmd += ["--resume"] if resume is not None else []
    cfg = vae.TrainConfig(data=src, limit=limit, epochs=args.epochs, batch_size=args.batch_size,
                          lr=args.lr, lr_schedule=args.lr_schedule, dbvae=args.dbvae,
                          kl_weight=args.kl_weight,
                          flip=args.flip, aligned=args.aligned, negatives=args.negatives,
                          device=args.device, threads=args.threads, seed=args.seed,
                          out=str(out), sample_every=0, command=" ".join(cmd))
    tick = _Throttle(args.print_every)
    with _ctrl_c_cancels() as cancel:
        print(" ".join(cmd), flush=True)
        try:
            for p in vae.train(cfg, resume=resume, cancel=cancel):
                _print_vae_event(p, tick, args.epochs)
        except (FileNotFoundError, ValueError) as exc:
            return _fail(exc)
    return 0


def _print_vae_event(p: dict, tick: _Throttle, epochs: int) -> None:
    """The line(s) ``train vae`` prints for one progress dict of ``vae.train`` (paced)."""
    ph = p["phase"]
    if ph == "data" and tick.due(p["done"] == p["total"], seconds=5):
        print(f"data: {p['done']}/{p['total']}"
              + (f" (cached {p['cached']})" if "cached" in p else ""), flush=True)
    elif ph == "weights":
        w = p["weights"]
        print(f"epoch {p['epoch'] + 1}: resampling weights max/mean {w.max() / w.mean():.1f}",
              flush=True)
    elif ph == "train" and tick.due(p["batch"] == p["batches"]):
        extra = f"  BCE {p['cls']:.4f} acc {p['acc']:.3f}" if "cls" in p else ""
        print(f"epoch {p['epoch'] + 1}/{p['epochs']}  batch {p['batch']}/{p['batches']}"
              f"  step {p['step']}  loss {p['loss']:.4f}  L1 {p['l1']:.4f}"
              f"  KL {p['kl']:.1f}{extra}  {p['images_per_s']:.0f} img/s"
              f"  {p['elapsed_s']:.0f} s  [{p['device']}]", flush=True)
    elif ph == "done":
        state = "stopped" if p["cancelled"] else "finished"
        print(f"{state} at step {p['step']} (epoch {p['epoch']}/{epochs}) in "
              f"{p['seconds']:.0f} s, {p['images_per_s']:.0f} img/s", flush=True)
        if p["checkpoint"]:
            size = Path(p["checkpoint"]).stat().st_size
            print(f"wrote {p['checkpoint']} ({_human(size)})"
                  + ("; continue with --resume" if p["cancelled"] else ""), flush=True)


def _add_train_vae(trsub) -> None:
    v = trsub.add_parser("vae", help="train the 64x64 VAE or DB-VAE used by the Morph pane")
    v.add_argument("--data", required=True,
                   help="'celeba' (../shared/data/celeba, images 1..--limit) or a folder of "
                        "photos (faces detected and aligned) or of aligned face crops")
    v.add_argument("--limit", type=int, help="use the first N images (celeba default 9000)")
    v.add_argument("--epochs", type=int, default=10, help="total epochs (counting resumed ones)")
    v.add_argument("--batch-size", type=int, default=64)
    v.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    v.add_argument("--lr-schedule", default="cosine", choices=["cosine", "constant"],
                   help="cosine: decay to lr/20 by the last epoch")
    v.add_argument("--kl-weight", type=float, default=5e-4)
    v.add_argument("--dbvae", action="store_true",
                   help="train the debiasing VAE (face logit, resampling by latent density)")
    v.add_argument("--negatives", type=int, default=2,
                   help="DB-VAE: background (non-face) crops per photo")
    kind = v.add_mutually_exclusive_group()
    kind.add_argument("--aligned", dest="aligned", action="store_const", const=True,
                      help="the folder holds aligned face crops (default: guess)")
    kind.add_argument("--photos", dest="aligned", action="store_const", const=False,
                      help="the folder holds photos: detect and align faces")
    v.add_argument("--no-flip", dest="flip", action="store_false",
                   help="no random horizontal flips")
    _add_device_args(v, "auto", threads=None)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--out", help="checkpoint path (default: the user cache dir)")
    v.add_argument("--resume", nargs="?", const="", metavar="PATH",
                   help="continue from PATH (default: --out)")
    v.add_argument("--print-every", type=float, default=10.0, help="seconds between lines")
    v.set_defaults(func=cmd_train_vae, aligned=None)


def cmd_train_demo(args) -> int:
    """``train demo``: one of the demo classifiers of issue 8 (backend/train.py)."""
    from .backend import train as tr
    from .backend.detect import pick_device
    from .backend.models.demo import CheckpointError

    _set_threads(args.threads)
    tick = _Throttle(10)
    with _ctrl_c_cancels() as cancel:
        try:
            for ev in tr.train_demo(args.demo_model, args.out, epochs=args.epochs,
                                    limit=args.limit, seed=args.seed, hidden=args.hidden,
                                    root=args.data, device=pick_device(args.device),
                                    cancel=cancel):
                _print_demo_event(ev, tick)
        except (tr.DataError, CheckpointError, KeyError) as exc:
            return _fail(exc)
    return 0


def _print_demo_event(ev: dict, tick: _Throttle) -> None:
    """The line(s) ``train demo`` prints for one event of ``train_demo`` (progress paced)."""
    kind = ev["event"]
    if kind in ("load", "embed") and tick.due(ev["done"] == ev["total"]):
        rate = f" ({ev['images_per_s']:.1f} img/s)" if "images_per_s" in ev else ""
        print(f"{kind} {ev['split']}: {ev['done']}/{ev['total']}{rate}", flush=True)
    elif kind == "step" and tick.due(ev["step"] == ev["steps"]):
        print(f"epoch {ev['epoch']}/{ev['epochs']} step {ev['step']}/{ev['steps']} "
              f"loss {ev['loss']:.4f} {ev['images_per_s']:.0f} img/s", flush=True)
    elif kind == "epoch":
        print(f"epoch {ev['epoch']}/{ev['epochs']}: train loss {ev['train_loss']:.4f}, "
              f"val loss {ev['val_loss']:.4f}, val accuracy "
              f"{ev['val_accuracy'] * 100:.2f} %, {ev['seconds']:.0f} s", flush=True)
    elif kind == "done":
        state = "stopped (nothing saved)" if ev["cancelled"] else "finished"
        print(f"{state} in {ev['seconds']:.0f} s; best epoch {ev['best_epoch']} "
              f"(val accuracy {ev['val_accuracy'] * 100:.2f} %)", flush=True)
    elif kind == "saved":
        print(f"wrote {ev['weights']} ({_human(ev['bytes'])}) and {ev['sidecar']}", flush=True)
    elif kind == "evaluated":
        a, b = ev["test_accuracy"], ev["test_subset_accuracy"]
        print(f"CelebA test {a['images']}: accuracy {a['accuracy'] * 100:.2f} %, "
              f"balanced {a['balanced_accuracy'] * 100:.2f} %, macro F1 "
              f"{a['macro_f1'] * 100:.2f} %; subset {b['images']}: "
              f"{b['accuracy'] * 100:.2f} %", flush=True)
        print(f"retrain with: {ev['metadata']['command']}")


def _add_train_demo(trsub) -> None:
    # the ids of backend/train.py's DEMO_MODEL_IDS, spelled out so --help does not import torch
    ids = ("celeba-cnn-naive", "celeba-cnn-randomcrop", "celeba-embedding-head")
    t = trsub.add_parser("demo", help="train a demo gender classifier on CelebA (issue 8)")
    t.add_argument("--model", dest="demo_model", required=True, choices=ids)
    t.add_argument("--epochs", type=int, help="default 4 (CNNs) or 40 (embedding head)")
    t.add_argument("--hidden", type=int, default=0,
                   help="embedding head: 0 = logistic regression, N = MLP with N hidden units")
    t.add_argument("--limit", type=int, help="use only the first N images of each split")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--data", help="data folder (default ../shared/data)")
    t.add_argument("--out", help="checkpoint folder (default resources/demo-models)")
    _add_device_args(t, "cpu", threads=2)
    t.set_defaults(func=cmd_train_demo)


def cmd_experiment(args) -> int:
    """``experiment mismatch``: the data-mismatch experiment of issue 8."""
    from .backend import Backend
    from .backend import experiment as ex
    from .backend.models.demo import CheckpointError
    from .backend.train import DataError
    from .report_html import write_mismatch_report

    _set_threads(args.threads)
    backend = Backend(device=args.device)
    settings = ex.MismatchSettings(limit=args.limit, celeba_limit=args.celeba_limit,
                                   probe_faces=args.probe_faces,
                                   probe_samples=args.probe_samples, shift_iod=args.shift_iod,
                                   naive_fraction=args.naive_fraction,
                                   models=tuple(args.model or ex.MODELS))
    t0, tick, stage, result = time.perf_counter(), _Throttle(15), "", None
    try:
        for ev in ex.mismatch(backend, settings, root=args.data, cache=args.cache):
            if ev["event"] == "progress" and tick.due(ev["stage"] != stage
                                                      or ev["done"] == ev["total"]):
                stage = ev["stage"]
                print(f"  {stage}: {ev['done']}/{ev['total']} ({tick.last - t0:.0f} s)",
                      file=sys.stderr, flush=True)
            elif ev["event"] == "result":
                result = ev["result"]
    except (DataError, CheckpointError) as exc:
        return _fail(exc)
    info = result.info
    print(f"CelebA test: {info['celeba_images']} images; LFW: {info['lfw_images']} images "
          f"({info['lfw_men']} men, {info['lfw_women']} women), face found by MTCNN in "
          f"{info['lfw_detected']}; device {info['device']}; {info['seconds']:.0f} s (CelebA "
          f"{info['celeba_seconds']:.0f} s, LFW {info['lfw_seconds']:.0f} s, invariance "
          f"{info['probe_seconds']:.0f} s)")
    print(ex.format_tables(result))
    print()
    print(ex.summary_table(result))
    if result.flips:
        f = result.flips
        print(f"\n{f['model']} flips on {f['flips']}/{f['images']} LFW images between the naive "
              f"and the re-aligned crop (alignment fixes {f['fixed_by_alignment']}, breaks "
              f"{f['broken_by_alignment']})")
    paths = write_mismatch_report(result, args.out)
    print(f"wrote {paths['html']}, {paths['csv']}, {paths['invariance_csv']}")
    return 0


def _add_experiment(sub) -> None:
    ex = sub.add_parser("experiment", help="reproducible experiments with the demo models")
    exsub = ex.add_subparsers(dest="experiment", required=True)
    m = exsub.add_parser("mismatch", help="CelebA-trained classifiers on CelebA test, naive "
                                          "LFW crops and re-aligned LFW (table, CSV, HTML)")
    m.add_argument("--limit", type=int, default=1000,
                   help="LFW images, half men half women (0 = all 6,913)")
    m.add_argument("--celeba-limit", type=int, default=0, help="CelebA test images (0 = 1,000)")
    m.add_argument("--probe-faces", type=int, default=100,
                   help="CelebA test faces for the invariance metrics")
    m.add_argument("--probe-samples", type=int, default=8,
                   help="pairs / 1-px shifts / transforms per face")
    m.add_argument("--shift-iod", type=float, default=0.5,
                   help="largest random shift as a fraction of the inter-ocular distance")
    m.add_argument("--naive-fraction", type=float, default=1.0,
                   help="naive crop: side of the centred box relative to the largest that fits")
    m.add_argument("--model", action="append",
                   help="model ids (default: the three demo models and dlib-gender)")
    m.add_argument("--data", help="data folder (default ../shared/data)")
    m.add_argument("--out", default="mismatch-out", help="folder for CSV and HTML")
    m.add_argument("--cache", help="folder for the LFW detection cache "
                                   "(default: <model cache>/experiment)")
    _add_device_args(m, "auto", threads=2)
    m.set_defaults(func=cmd_experiment)


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
    fo = esub.add_parser("folder", help="verification on a folder with one sub-folder per "
                                        "person (same pipeline and report as 'eval lfw')")
    fo.add_argument("folder", help="folder of person sub-folders")
    fo.add_argument("--min-images", type=int, default=2,
                    help="use people with at least N images (default 2)")
    fo.add_argument("--max-people", type=int, help="use only the first N such people (by name)")
    fo.add_argument("--pairs", default="balanced", choices=PAIR_MODES,
                    help="balanced: every same-person pair + as many random different-person "
                         "pairs; all: every pair within a fold")
    fo.add_argument("--max-pairs", type=int, default=50_000,
                    help="sample down to at most N pairs (default 50000)")
    fo.add_argument("--folds", type=int, default=10,
                    help="deal the people into N folds; each fold's threshold is chosen on the "
                         "others (default 10)")
    fo.add_argument("--seed", type=int, default=0, help="for the people split and sampling")
    fo.add_argument("--model", default="dlib-resnet", help="embedder model id")
    fo.add_argument("--metric", default="l2", choices=["l2", "sq-l2", "cosine"])
    fo.add_argument("--device", default="auto")
    e.set_defaults(func=cmd_eval)

    pb = sub.add_parser("probe", help="invariance metrics (consistency, P(top-1 change), eKLD) "
                                      "and sweep plots for photos or folders")
    pb.add_argument("paths", nargs="+", help="photos or folders")
    pb.add_argument("--model", action="append", help="model id (repeatable; default dlib-gender)")
    pb.add_argument("--model-file", action="append", metavar="PATH",
                    help="your TorchScript/ONNX classifier (+ JSON sidecar beside it)")
    pb.add_argument("--template", help="crop template (default: each model's own)")
    pb.add_argument("--border", default="reflect", choices=["reflect", "replicate", "zeros"])
    pb.add_argument("--max-shift", type=int, default=8, help="random shifts up to ±N crop px")
    pb.add_argument("--max-faces", type=int, default=50, help="faces per photo")
    pb.add_argument("--plots", type=int, default=3, help="write sweep plots for the first N faces")
    pb.add_argument("--out", default="probe-out", help="folder for CSV and PNG output")
    pb.add_argument("--device", default="auto")
    pb.set_defaults(func=cmd_probe)
    tr = sub.add_parser("train", help="train the project's own small models")
    trsub = tr.add_subparsers(dest="model", required=True)  # add more models here
    _add_train_vae(trsub)
    _add_train_demo(trsub)
    _add_experiment(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "detect" and args.template is None:
        args.template = ["raw", "dlib-chip"]
    from .backend.assets import AssetError
    from .backend.images import ImageError

    try:
        return args.func(args)
    except (AssetError, ImageError, ValueError, KeyError) as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        return 130
