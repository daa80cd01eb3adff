"""``faceinspector evaluate DATA --model M``: a classifier on a labelled set -- per class, per group
and per crop, with 95 % intervals, the worst mistakes and per-class invariance."""

from __future__ import annotations

import time
from pathlib import Path

from .common import (add_device_args, ctrl_c_cancels, nonneg_int, out_dir_arg, out_file_arg,
                     positive_int, run_task, set_threads)


def _pct(v) -> str:
    return "  –  " if v is None or v != v else f"{v * 100:5.1f}"


def _ci(ci) -> str:
    if not ci or ci[0] is None or ci[0] != ci[0]:
        return ""
    return f"[{ci[0] * 100:.1f}, {ci[1] * 100:.1f}]"


def _print_classifier(ev, m: str) -> None:
    s = ev.model_summary(m)
    print(f"\n{m}: {s['n']} labelled images (own template {s['own_template']})"
          + (f"; labels it does not know: {', '.join(s['unmatched_labels'][:5])}"
             if s["unmatched_labels"] else ""))
    print(f"  {'crop':24} {'accuracy':>20} {'balanced accuracy':>22} {'macro-F1':>20}  ECE")
    for o, r in s["by_template"].items():
        ci = r["ci95"]
        print(f"  {o:24} {_pct(r['accuracy'])} {_ci(ci.get('accuracy')):14} "
              f"{_pct(r['balanced_accuracy'])} {_ci(ci.get('balanced_accuracy')):16} "
              f"{_pct(r['macro_f1'])} {_ci(ci.get('macro_f1')):14} "
              f"{r.get('ece', float('nan')):.3f}")
    for o, r in s["by_template"].items():
        for col, g in r.get("gaps", {}).items():
            g = g.get("balanced_accuracy")
            if g:
                print(f"  {o}: by {col}, balanced accuracy {_pct(g['gap']).strip()} points "
                      f"apart ({g['best']} vs {g['worst']}) {_ci(g['ci95'])}"
                      + ("  <- excludes 0" if g["excludes_zero"] else ""))
    al = s["mistakes"].get("alignment")
    if al:
        print(f"  {al['after']} vs {al['before']}: fixes {al['fixed']['count']}, breaks "
              f"{al['broken']['count']} of {al['labelled']} images")
    inv = s.get("invariance")
    if inv and inv.get("classes"):
        parts = [f"{c} {v['ekld']:.3f}" + (f" (train {v['train_count']})"
                                           if v["train_count"] is not None else "")
                 for c, v in inv["classes"].items()]
        print(f"  eKLD per class ({inv['faces']} faces): {', '.join(parts)}")


def _print_embedder(ev, m: str) -> None:
    s = ev.model_summary(m)
    print(f"\n{m} (embedder): verification by group")
    for o, r in s["by_template"].items():
        v = r.get("verification") or {}
        print(f"  {o}: {v.get('pos', 0)} same / {v.get('neg', 0)} different pairs, "
              f"TAR@FAR=1e-3 {_pct(v.get('tar@far=0.001')).strip()} %")
        for col, res in r["slices"].items():
            for g, x in res["groups"].items():
                if "cost" in x:
                    print(f"    {col} = {g}: TAR@1e-3 {_pct(x['tar@far=0.001']).strip()} %, "
                          f"own τ {x['threshold']:.3f}, cost of the global τ "
                          f"{_pct(x['cost']).strip()} points, FAR at the global 1e-3 τ "
                          f"{x['at_global_far_1e-3']['far']:.1e}")


def cmd_evaluate(args) -> int:
    from ..backend import Backend
    from ..backend.classify import DEFAULT_OPTIONS, evaluate_classifier
    from ..reports.evaluate import write_report

    set_threads(args.threads)
    backend = Backend(device=args.device)
    models = list(args.model or [])
    for f in args.model_file or []:
        models.append(backend.load_user_model(f))
    if not models:
        raise ValueError("give a model: --model ID (see `faceinspector models list`) or "
                         "--model-file PATH")
    t0 = time.perf_counter()
    with ctrl_c_cancels() as cancel:
        ev = run_task(evaluate_classifier(
            backend, args.data, models, options=args.template or DEFAULT_OPTIONS,
            groups=args.group, attribute=args.attribute, images=args.images, limit=args.limit,
            balanced=args.balanced, attribute_models=args.slice_model or (),
            skin=not args.no_skin, n_boot=args.bootstrap, invariance=args.invariance,
            train_counts=args.train_labels, seed=args.seed, cancel=cancel), every=10)
    p = ev.pred
    print(f"{ev.data.source}: {len(p)} images ({len(p.errors)} unreadable, "
          f"{len(ev.data.missing)} labelled files missing), a face found in "
          f"{int(p.found.sum())}; {p.cached} from the face cache; {ev.seconds:.0f} s")
    for m in ev.model_ids:
        (_print_embedder if ev.models[m].plan.embedder else _print_classifier)(ev, m)
    paths = write_report(ev, Path(args.out), args.json)
    print(f"\nwrote {', '.join(str(v) for v in paths.values())} "
          f"({time.perf_counter() - t0:.0f} s)")
    return 0


def add_parser(sub) -> None:
    e = sub.add_parser("evaluate", help="a classifier on a labelled set: per class, per group, "
                                        "per crop, with 95 %% intervals and the worst mistakes")
    e.add_argument("data", help="labelled images: class sub-folders, a CSV path,label[,groups], "
                                "an LFW folder with male_names.txt / female_names.txt, or "
                                "CelebA's list_attr_celeba.txt (with --attribute)")
    e.add_argument("--model", action="append", metavar="M",
                   help="a model id (repeat for several): bundled or demo")
    e.add_argument("--model-file", action="append", metavar="PATH",
                   help="your TorchScript/ONNX model (+ JSON sidecar); repeatable")
    e.add_argument("--template", action="append", metavar="T",
                   help="a crop to compare (repeatable): 'as-given' (the whole image resized), "
                        "'raw' (the box), 'own' (the model's template), a template name or a "
                        "template file (default: raw and own)")
    e.add_argument("--group", action="append", metavar="COL",
                   help="a group column of the CSV to slice by (repeatable; default: all)")
    e.add_argument("--slice-model", action="append", metavar="M",
                   help="slice by another model's answer too: dlib-age (age bucket), "
                        "dlib-gender, faceapi-agegender, faceapi-expression")
    e.add_argument("--attribute", help="CelebA attribute to evaluate (default Male)")
    e.add_argument("--images", metavar="DIR", help="where CelebA's images are (default: found "
                                                   "beside the attribute list)")
    e.add_argument("--limit", type=positive_int, help="at most N images (a seeded sample)")
    e.add_argument("--balanced", action="store_true",
                   help="with --limit: N // classes images of each class (as `experiment "
                        "mismatch --limit N` picks LFW)")
    e.add_argument("--train-labels", metavar="PATH",
                   help="the training set's labels (any layout above) or a CSV class,count: "
                        "per-class invariance is shown against the class sizes")
    e.add_argument("--invariance", type=nonneg_int, default=30,
                   help="faces per class for per-class invariance (0: off; default 30)")
    e.add_argument("--no-skin", action="store_true", help="do not measure skin tone (ITA)")
    e.add_argument("--bootstrap", type=nonneg_int, default=1000,
                   help="bootstrap resamples for the 95 %% intervals (default 1000)")
    e.add_argument("--seed", type=nonneg_int, default=0, help="sampling and bootstrap seed")
    e.add_argument("--out", default="evaluation", type=out_dir_arg,
                   help="folder for report.html, the CSVs and summary.json (default evaluation)")
    e.add_argument("--json", metavar="FILE", type=out_file_arg,
                   help="also write the JSON summary to FILE")
    add_device_args(e, "auto", threads=None)
    e.set_defaults(func=cmd_evaluate)
