"""``faceinspector eval lfw|folder``: verification accuracy of an embedder on labelled pairs."""

from __future__ import annotations

import time
from pathlib import Path

from .common import device_arg, positive_int, run_task

# backend/evaluate.py's PAIR_MODES, spelled out so --help does not import numpy
PAIR_MODES = ("balanced", "all")


def _pct(v: float) -> str:
    return f"{v * 100:.2f} %"


def _ci(ci) -> str:
    lo, hi = ci if ci is not None and len(ci) == 2 else (float("nan"), float("nan"))
    return "" if lo != lo else f" [95 % CI {lo * 100:.1f}–{hi * 100:.1f}]"


def report_lines(report, label: str = "") -> list[str]:
    """The accuracy, threshold, AUC, TAR @ FAR and fixed-threshold lines of one report."""
    tag = f" ({label})" if label else ""
    spread = f" ± {report.accuracy_std * 100:.2f} over folds" if report.cross_validated else ""
    out = [f"accuracy{tag}: {_pct(report.accuracy)}{_ci(report.accuracy_ci)}{spread} "
           f"({report.threshold_note()})"]
    if report.cross_validated:
        out.append(f"threshold:   {report.threshold:.4f} (best on all pairs; per fold "
                   f"{report.fold_thresholds.min():.3f}–{report.fold_thresholds.max():.3f})")
    else:
        out.append(f"threshold:   {report.threshold:.4f} (best on these pairs)")
    out.append(f"AUC:         {report.auc:.4f}")
    for far, tar in report.tar_at_far.items():
        if report.resolvable(far):
            out.append(f"TAR @ FAR={far:g}: {_pct(tar)}{_ci(report.tar_ci.get(far))}")
        else:
            out.append(f"TAR @ FAR={far:g}: not resolved ({report.n_different} different-person "
                       f"pairs resolve FAR >= {1 / max(report.n_different, 1):.1e} only)")
    f = report.fixed
    if f is not None:
        out.append(f"at τ = {f.threshold:g}: accuracy {_pct(f.accuracy)}"
                   f"{_ci(f.ci.get('accuracy'))}, FAR {_pct(f.far)}{_ci(f.ci.get('far'))}, "
                   f"FRR {_pct(f.frr)}{_ci(f.ci.get('frr'))}")
    return out


def cmd_eval(args) -> int:
    from ..backend import Backend
    from ..backend.evaluate import excluded_line, left_out_line, verify, verify_lfw

    backend = Backend(device=args.device)
    t0 = time.perf_counter()
    also = ("raw",) if args.raw else ()
    if args.what == "folder":
        task = verify(backend, args.folder, model_id=args.model, metric=args.metric,
                      min_images=args.min_images, max_people=args.max_people, mode=args.pairs,
                      max_pairs=args.max_pairs, folds=args.folds, seed=args.seed,
                      people=args.people, threshold=args.threshold, also=also)
    elif args.pairs is None or (Path(args.pairs).is_dir() and args.root is None):
        # an LFW folder (any layout), else the one the environment names: its pairs.txt
        task = verify_lfw(backend, args.pairs, model_id=args.model, metric=args.metric,
                          folds=args.folds, threshold=args.threshold, also=also)
    else:
        task = verify(backend, args.pairs, root=args.root, model_id=args.model,
                      metric=args.metric, folds=args.folds, threshold=args.threshold, also=also)
    v = run_task(task, every=5)
    report, info = v.report, v.info
    secs = time.perf_counter() - t0
    if v.kind == "folder":
        print(f"folder:      {args.folder}  ({info['people']} people with >= {args.min_images} "
              f"images, {info['images']} images)")
        print(f"pairs:       {report.n_pairs} ({info['same']} same, {info['different']} "
              f"different; {info['mode']}), {v.folds} folds by person, seed {args.seed}")
    else:
        print(f"pairs file:  {v.source}  ({report.n_pairs} pairs, {v.folds} "
              f"folds, {info['images']} images)")
    left = left_out_line(info) if v.kind == "folder" else ""
    if left:
        print(f"left out:    {left}")
    if report.excluded:
        print(f"excluded:    {excluded_line(report)}")
    print(f"model:       {v.chip_line()}, distance {args.metric}, device "
          f"{backend.device_name}")
    print(f"faces found: {info['detected']}/{info['images']} images "
          f"(the rest use the data set's mean landmarks); unreadable: {info['unreadable']}")
    for line in report_lines(report, "aligned" if v.extra_reports else ""):
        print(line)
    for label, extra in v.extra_reports.items():
        for line in report_lines(extra, f"{label} box crop"):
            print(line)
    print(f"time:        {secs:.0f} s ({info['images'] / secs:.1f} images/s end to end)")
    return 0


def threshold_arg(text: str) -> float:
    """``--threshold``: a distance >= 0, or ``dlib`` for dlib's 0.6."""
    import argparse

    if text.strip().lower() == "dlib":
        return 0.6
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a distance (e.g. 0.6) or 'dlib', not "
                                         f"{text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"a threshold is a distance >= 0, not {text}")
    return value


def _common(p) -> None:
    p.add_argument("--threshold", type=threshold_arg, metavar="TAU",
                   help="also report accuracy, FAR and FRR at this fixed threshold (a distance; "
                        "'dlib' = 0.6, dlib's own), honest even with one fold")
    p.add_argument("--raw", action="store_true",
                   help="also verify the raw box crops of the same faces (raw vs aligned)")
    p.add_argument("--device", default="auto", type=device_arg)


def add_parser(sub) -> None:
    e = sub.add_parser("eval", help="verification accuracy on labelled pairs")
    esub = e.add_subparsers(dest="what", required=True)
    lfw = esub.add_parser("lfw", help="LFW protocol on a pairs file (10-fold style CV threshold)")
    lfw.add_argument("pairs", nargs="?",
                     help="a pairs file in the LFW format (any number of folds), or an LFW "
                          "folder holding pairs.txt (default: $FACEINSPECTOR_LFW, else "
                          "$FACEINSPECTOR_DATA/lfw)")
    lfw.add_argument("--root", help="image folder (default: lfw-deepfunneled/, lfw/, … beside "
                                    "the pairs file)")
    lfw.add_argument("--model", default="dlib-resnet", help="embedder model id")
    lfw.add_argument("--metric", default="l2", choices=["l2", "sq-l2", "cosine"])
    lfw.add_argument("--folds", type=positive_int, help="use only the first N folds")
    _common(lfw)
    fo = esub.add_parser("folder", help="verification on a folder with one sub-folder per "
                                        "person (same pipeline and report as 'eval lfw')")
    fo.add_argument("folder", help="folder of person sub-folders")
    fo.add_argument("--min-images", type=positive_int, default=2,
                    help="use people with at least N images (default 2)")
    fo.add_argument("--max-people", type=positive_int,
                    help="use only the first N such people (by name)")
    fo.add_argument("--pairs", default="balanced", choices=PAIR_MODES,
                    help="balanced: every same-person pair + as many random different-person "
                         "pairs; all: every pair within a fold")
    fo.add_argument("--max-pairs", type=positive_int, default=50_000,
                    help="sample down to at most N pairs (default 50000)")
    fo.add_argument("--folds", type=positive_int, default=10,
                    help="deal the people into N folds; each fold's threshold is chosen on the "
                         "others (default 10)")
    fo.add_argument("--seed", type=int, default=0, help="for the people split and sampling")
    fo.add_argument("--people", metavar="PEOPLE_TXT",
                    help="LFW's people.txt: use its folds of people instead of a random split")
    fo.add_argument("--model", default="dlib-resnet", help="embedder model id")
    fo.add_argument("--metric", default="l2", choices=["l2", "sq-l2", "cosine"])
    _common(fo)
    e.set_defaults(func=cmd_eval)
