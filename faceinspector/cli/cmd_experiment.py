"""``faceinspector experiment mismatch``: the data-mismatch experiment with the demo models."""

from __future__ import annotations

from .common import (add_device_args, ctrl_c_cancels, fail, nonneg_int, out_dir_arg,
                     positive_float, positive_int, run_task, set_threads)


def cmd_experiment(args) -> int:
    """``experiment mismatch``: the data-mismatch experiment of issue 8."""
    from ..backend import Backend
    from ..backend.datasets import DataError
    from ..backend.models.demo import CheckpointError
    from ..studies import mismatch as mm
    from ..studies import report_html as rep

    set_threads(args.threads)
    backend = Backend(device=args.device)
    settings = mm.MismatchSettings(limit=args.limit, celeba_limit=args.celeba_limit,
                                   probe_faces=args.probe_faces,
                                   probe_samples=args.probe_samples, shift_iod=args.shift_iod,
                                   naive_fraction=args.naive_fraction,
                                   models=tuple(args.model or mm.MODELS))
    with ctrl_c_cancels() as cancel:
        try:
            result = run_task(mm.mismatch(backend, settings, root=args.data, cache=args.cache,
                                          cancel=cancel, celeba=args.celeba, lfw=args.lfw),
                              every=15)
        except (DataError, CheckpointError) as exc:
            return fail(exc)
    info = result.info
    print(f"CelebA test: {info['celeba_images']} images; LFW: {info['lfw_images']} images "
          f"({info['lfw_men']} men, {info['lfw_women']} women), face found by MTCNN in "
          f"{info['lfw_detected']}; device {info['device']}; {info['seconds']:.0f} s (CelebA "
          f"{info['celeba_seconds']:.0f} s, LFW {info['lfw_seconds']:.0f} s, invariance "
          f"{info['probe_seconds']:.0f} s)")
    print(rep.format_tables(result))
    print()
    print(rep.summary_table(result))
    if result.flips:
        f = result.flips
        print(f"\n{f['model']} flips on {f['flips']}/{f['images']} LFW images between the naive "
              f"and the re-aligned crop (alignment fixes {f['fixed_by_alignment']}, breaks "
              f"{f['broken_by_alignment']})")
    paths = rep.write_mismatch_report(result, args.out)
    print(f"wrote {paths['html']}, {paths['csv']}, {paths['invariance_csv']}")
    return 0


def add_parser(sub) -> None:
    ex = sub.add_parser("experiment", help="reproducible experiments with the demo models")
    exsub = ex.add_subparsers(dest="experiment", required=True)
    m = exsub.add_parser("mismatch", help="CelebA-trained classifiers on CelebA test, naive "
                                          "LFW crops and re-aligned LFW (table, CSV, HTML)")
    m.add_argument("--limit", type=nonneg_int, default=1000,
                   help="LFW images, half men half women (0 = all 6,913)")
    m.add_argument("--celeba-limit", type=nonneg_int, default=0,
                   help="CelebA test images (0 = 1,000)")
    m.add_argument("--probe-faces", type=nonneg_int, default=100,
                   help="CelebA test faces for the invariance metrics")
    m.add_argument("--probe-samples", type=positive_int, default=8,
                   help="pairs / 1-px shifts / transforms per face")
    m.add_argument("--shift-iod", type=positive_float, default=0.5,
                   help="largest random shift as a fraction of the inter-ocular distance")
    m.add_argument("--naive-fraction", type=positive_float, default=1.0,
                   help="naive crop: side of the centred box relative to the largest that fits")
    m.add_argument("--model", action="append",
                   help="model ids (default: the three demo models and dlib-gender)")
    m.add_argument("--data", metavar="DIR", help="a folder holding celeba/ and lfw/ (default "
                                                 "$FACEINSPECTOR_DATA)")
    m.add_argument("--celeba", metavar="DIR",
                   help="the CelebA folder: img_align_celeba/ with list_attr_celeba.txt, "
                        "torchvision's root or the 89x109 copy (default --data, else "
                        "$FACEINSPECTOR_CELEBA)")
    m.add_argument("--lfw", metavar="DIR",
                   help="the LFW folder: lfw/ or lfw-deepfunneled/ with male_names.txt and "
                        "female_names.txt beside it (default --data, else $FACEINSPECTOR_LFW)")
    m.add_argument("--out", default="mismatch-out", type=out_dir_arg,
                   help="folder for CSV and HTML")
    m.add_argument("--cache", type=out_dir_arg, help="folder for the LFW detection cache "
                                   "(default: <model cache>/experiment)")
    add_device_args(m, "auto", threads=2)
    m.set_defaults(func=cmd_experiment)
