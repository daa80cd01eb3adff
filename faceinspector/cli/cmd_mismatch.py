"""``faceinspector mismatch REFERENCE TARGET``: what differs between a model's training data
and the photos it fails on, the training set's template, and the fix verified."""

from __future__ import annotations

import time
from pathlib import Path

from .common import (add_device_args, ctrl_c_cancels, nonneg_int, positive_int, run_task,
                     set_threads)


def _pct(v) -> str:
    return "–" if v is None or v != v else f"{v * 100:.1f} %"


def cmd_mismatch(args) -> int:
    from ..backend import Backend
    from ..backend.mismatch import AS_GIVEN, find_mismatch
    from ..reports.mismatch import write_report

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    set_threads(args.threads)
    backend = Backend(device=args.device)
    model = args.model
    if args.model_file:
        model = backend.load_user_model(args.model_file)
    t0 = time.perf_counter()
    with ctrl_c_cancels() as cancel:
        report = run_task(find_mismatch(
            backend, args.reference, args.target, model=model, labels=args.labels,
            limit=args.limit, embedder=None if args.no_embeddings else "dlib-resnet",
            n_boot=args.bootstrap, cancel=cancel), every=10)
    c = report.comparison
    ref, tgt = report.reference, report.target
    print(f"reference: {ref.source}  ({len(ref)} images, {len(ref.errors)} unreadable, faces "
          f"found in {int(ref.found.sum())}; {ref.cached} from the face cache)")
    print(f"target:    {tgt.source}  ({len(tgt)} images, {len(tgt.errors)} unreadable, faces "
          f"found in {int(tgt.found.sum())}; {tgt.cached} from the face cache)")
    print(f"\n{'attribute':22} {'group':10} {'score':>8} {'KS':>6}  alarm")
    for s in c.shifts[:args.top]:
        print(f"{s.name:22} {s.group:10} {s.score:8.3f} {s.ks:6.3f}  {'YES' if s.alarm else ''}")
    if len(c.shifts) > args.top:
        print(f"... {len(c.shifts) - args.top} more in the report")
    for s in c.formats:
        if s.score >= c.min_effect:
            print(f"format: {s.name} differs (reference {s.ref_mean:.4g}, target "
                  f"{s.tgt_mean:.4g}); models resize, so see the geometry above")
    auc = c.domain_auc
    print(f"domain classifier AUC: attributes {_auc(auc['attributes'])}, embeddings "
          f"{_auc(auc['embeddings'])} (0.5 = the sets cannot be told apart)")
    lt = report.template
    print(f"template: {lt.template.description}" if lt.template is not None
          else f"template: none learned ({lt.reason})")
    if report.fixes:
        n = max(f.n for f in report.fixes)
        if n:
            print(f"\n{report.model_id} on {n} labelled target images "
                  f"(balanced accuracy, macro-F1, 95 % CI of the balanced accuracy):")
            for f in report.fixes:
                lo, hi = f.ci95.get("balanced_accuracy", [float("nan")] * 2)
                print(f"  {f.template:28} {_pct(f.balanced_accuracy):>8} {_pct(f.macro_f1):>8}"
                      f"   [{_pct(lo)}, {_pct(hi)}]")
            best, base = report.best, report.baseline
            if best is not None and base is not None:
                print(f"the fix that recovers most: {best.template} "
                      f"({_pct(base.balanced_accuracy)} {AS_GIVEN} -> "
                      f"{_pct(best.balanced_accuracy)})")
        else:
            print(f"\n{report.model_id}: no labelled target images, so no accuracy; the "
                  "report shows the predicted classes per crop")
    paths = write_report(report, out, args.json)
    print(f"\nwrote {', '.join(str(p) for p in paths.values())} "
          f"({time.perf_counter() - t0:.0f} s)")
    return 0


def _auc(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def add_parser(sub) -> None:
    m = sub.add_parser("mismatch", help="compare a model's training data with the photos it "
                                        "fails on: what differs, the training set's template, "
                                        "the fix verified")
    m.add_argument("reference", help="the training data (or a sample): a folder (recursive) or "
                                     "a CSV/text file of image paths")
    m.add_argument("target", help="the photos the model fails on: a folder or a CSV of paths")
    m.add_argument("--model", help="a model id to verify the fix with (e.g. celeba-cnn-naive)")
    m.add_argument("--model-file", metavar="PATH",
                   help="your TorchScript/ONNX classifier (+ JSON sidecar) instead of --model")
    m.add_argument("--labels", metavar="PATH",
                   help="labels of the target: a CSV path,label; an LFW folder with "
                        "male_names.txt / female_names.txt; or class sub-folders")
    m.add_argument("--limit", type=positive_int, help="at most N images of each collection")
    m.add_argument("--out", default="mismatch-report", help="folder for report.html, "
                   "attributes.csv, summary.json and template.json (default mismatch-report)")
    m.add_argument("--json", metavar="FILE", help="also write the JSON summary to FILE")
    m.add_argument("--top", type=positive_int, default=12, help="attributes printed (default 12)")
    m.add_argument("--bootstrap", type=nonneg_int, default=1000,
                   help="bootstrap resamples for the 95 %% intervals (default 1000)")
    m.add_argument("--no-embeddings", action="store_true",
                   help="skip the face embeddings (faster; no embedding domain check)")
    add_device_args(m, "auto", threads=None)
    m.set_defaults(func=cmd_mismatch)
