"""``faceinspector train vae|demo``: the project's own small models."""

from __future__ import annotations

from pathlib import Path

from .common import (add_device_args, ctrl_c_cancels, fail, human, nonneg_float, nonneg_int,
                     out_dir_arg, out_file_arg, positive_float, positive_int, run_task,
                     set_threads)


def cmd_train_vae(args) -> int:
    """``train vae``: the Morph pane's 64x64 VAE or DB-VAE (backend/vae/)."""
    from ..backend import tasks, vae
    from ..backend.assets import cache_dir

    src = args.data
    if src != "celeba" and not Path(src).is_dir():
        return fail(f"--data must be 'celeba' or a folder, got {src!r}")
    if args.blocks > 8:  # vae.checkpoint.MAX_BLOCKS: a checkpoint must load again
        return fail(f"--blocks must be at most 8, got {args.blocks}")
    if args.grid and (not args.blocks or args.dbvae or args.latent_dim % (args.grid ** 2)):
        return fail(f"--grid {args.grid} needs --blocks >= 1, a plain VAE (no --dbvae) and "
                    f"--latent-dim a multiple of {args.grid ** 2}")
    arch = "dbvae" if args.dbvae else "vae"
    name = "celeba64" if src == "celeba" else Path(src).resolve().name
    out = Path(args.out) if args.out else None
    resume = None
    if args.resume is not None:
        resume = Path(args.resume) if args.resume else out
        if resume is None or not resume.is_file():
            return fail(f"nothing to resume: {resume or 'give --out or --resume PATH'}")
        out = out or resume
    out = out or cache_dir() / "vae" / f"{arch}_{name}.safetensors"
    limit = args.limit if args.limit is not None else (9000 if src == "celeba" else None)
    cmd = ["faceinspector", "train", "vae", "--data", src]
    cmd += [] if limit is None else ["--limit", str(limit)]
    cmd += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
            "--lr", f"{args.lr:g}", "--lr-schedule", args.lr_schedule,
            "--kl-weight", f"{args.kl_weight:g}",
            "--seed", str(args.seed)]
    cmd += [] if args.latent_dim == 100 else ["--latent-dim", str(args.latent_dim)]
    cmd += [] if args.filters == 12 else ["--filters", str(args.filters)]
    cmd += ["--blocks", str(args.blocks)] if args.blocks else []
    cmd += ["--grid", str(args.grid)] if args.grid else []
    cmd += ["--kl-warmup", f"{args.kl_warmup:g}"] if args.kl_warmup else []
    cmd += ["--id-weight", f"{args.id_weight:g}"] if args.id_weight else []
    cmd += ["--id-start", f"{args.id_start:g}"] if args.id_weight and args.id_start else []
    cmd += ["--dbvae", "--negatives", str(args.negatives)] if args.dbvae else []
    cmd += {True: ["--aligned"], False: ["--photos"], None: []}[args.aligned]
    cmd += ["--no-flip"] if not args.flip else []
    cmd += ["--threads", str(args.threads)] if args.threads else []
    cmd += ["--device", args.device, "--out", str(out)]
    cmd += ["--resume"] if resume is not None else []
    cfg = vae.TrainConfig(data=src, celeba=args.celeba, limit=limit, epochs=args.epochs,
                          batch_size=args.batch_size, lr=args.lr,
                          lr_schedule=args.lr_schedule, dbvae=args.dbvae,
                          kl_weight=args.kl_weight, latent_dim=args.latent_dim,
                          n_filters=args.filters, blocks=args.blocks, grid=args.grid,
                          kl_warmup=args.kl_warmup, id_weight=args.id_weight,
                          id_start=args.id_start,
                          flip=args.flip, aligned=args.aligned, negatives=args.negatives,
                          device=args.device, threads=args.threads, seed=args.seed,
                          out=str(out), sample_every=0, command=" ".join(cmd))
    with ctrl_c_cancels() as cancel:
        print(" ".join(cmd), flush=True)
        try:
            r = run_task(vae.train(cfg, resume=resume, cancel=cancel), every=args.print_every)
        except (FileNotFoundError, ValueError) as exc:
            return fail(exc)
        except tasks.Cancelled:
            print("stopped while preparing the data; nothing saved", flush=True)
            return 130
    state = "stopped" if r.cancelled else "finished"
    print(f"{state} at step {r.step} (epoch {r.epoch}/{args.epochs}) in {r.seconds:.0f} s, "
          f"{r.images_per_s:.0f} img/s", flush=True)
    if r.checkpoint:
        size = Path(r.checkpoint).stat().st_size
        print(f"wrote {r.checkpoint} ({human(size)})"
              + ("; continue with --resume" if r.cancelled else ""), flush=True)
    return 0


def _add_train_vae(trsub) -> None:
    v = trsub.add_parser("vae", help="train the 64x64 VAE or DB-VAE used by the Morph pane")
    v.add_argument("--data", required=True,
                   help="'celeba' (CelebA's aligned images 1..--limit, from --celeba) or a "
                        "folder of photos (faces detected and aligned) or of aligned face crops")
    v.add_argument("--celeba", metavar="DIR",
                   help="with --data celeba: the CelebA folder (img_align_celeba/ with its "
                        "lists, torchvision's root, or the 89x109 copy; default "
                        "$FACEINSPECTOR_CELEBA, else $FACEINSPECTOR_DATA/celeba)")
    v.add_argument("--limit", type=positive_int,
                   help="use the first N images (celeba default 9000)")
    v.add_argument("--epochs", type=positive_int, default=10,
                   help="total epochs (counting resumed ones)")
    v.add_argument("--batch-size", type=positive_int, default=64)
    v.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate")
    v.add_argument("--lr-schedule", default="cosine", choices=["cosine", "constant"],
                   help="cosine: decay to lr/20 by the last epoch")
    v.add_argument("--kl-weight", type=nonneg_float, default=5e-4)
    v.add_argument("--kl-warmup", type=nonneg_float, default=0.0,
                   help="share of the run over which the KL weight rises from 0 (default 0)")
    v.add_argument("--latent-dim", type=positive_int, default=100, help="size of z")
    v.add_argument("--filters", type=positive_int, default=12,
                   help="base filter count (the encoder's first convolution)")
    v.add_argument("--blocks", type=nonneg_int, default=0,
                   help="0: the 6.S191 network; N: the wider residual design with N blocks "
                        "per scale (the shipped model: 1, with --filters 32 --latent-dim 2048 "
                        "--grid 16)")
    v.add_argument("--grid", type=int, choices=(0, 8, 16), default=0,
                   help="with --blocks: keep the latent a GxG map (8 or 16; --latent-dim a "
                        "multiple of G*G) instead of a dense vector (0)")
    v.add_argument("--id-weight", type=nonneg_float, default=0.0,
                   help="weight of the identity term: dlib ResNet embedding distance between "
                        "each decoded face and its chip (0: none)")
    v.add_argument("--id-start", type=nonneg_float, default=0.0,
                   help="share of the run before the identity term starts (default 0)")
    v.add_argument("--dbvae", action="store_true",
                   help="train the debiasing VAE (face logit, resampling by latent density)")
    v.add_argument("--negatives", type=positive_int, default=2,
                   help="DB-VAE: background (non-face) crops per photo")
    kind = v.add_mutually_exclusive_group()
    kind.add_argument("--aligned", dest="aligned", action="store_const", const=True,
                      help="the folder holds aligned face crops (default: guess)")
    kind.add_argument("--photos", dest="aligned", action="store_const", const=False,
                      help="the folder holds photos: detect and align faces")
    v.add_argument("--no-flip", dest="flip", action="store_false",
                   help="no random horizontal flips")
    add_device_args(v, "auto", threads=None)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--out", type=out_file_arg,
                   help="checkpoint path (default: the user cache dir)")
    v.add_argument("--resume", nargs="?", const="", metavar="PATH",
                   help="continue from PATH (default: --out)")
    v.add_argument("--print-every", type=positive_float, default=10.0,
                   help="seconds between progress lines when not on a terminal")
    v.set_defaults(func=cmd_train_vae, aligned=None)


def cmd_train_demo(args) -> int:
    """``train demo``: one of the demo classifiers of issue 8 (studies/demo_training.py)."""
    from ..backend.datasets import DataError
    from ..backend.detect import pick_device
    from ..backend.models.demo import CheckpointError
    from ..studies.demo_training import train_demo
    from .common import run_task

    set_threads(args.threads)
    with ctrl_c_cancels() as cancel:
        try:
            res = run_task(train_demo(args.demo_model, args.out, epochs=args.epochs,
                                      limit=args.limit, seed=args.seed, hidden=args.hidden,
                                      root=args.data, device=pick_device(args.device),
                                      cancel=cancel))
        except (DataError, CheckpointError, KeyError) as exc:
            return fail(exc)
    t = res.training
    state = "stopped (nothing saved)" if res.cancelled else "finished"
    print(f"{state} in {t.seconds:.0f} s; best epoch {t.best_epoch} "
          f"(val accuracy {t.val_accuracy * 100:.2f} %)", flush=True)
    if res.cancelled:
        return 0
    print(f"wrote {res.weights} ({human(res.bytes)}) and {res.sidecar}", flush=True)
    a, b = res.test_accuracy, res.test_subset_accuracy
    print(f"CelebA test {a['images']}: accuracy {a['accuracy'] * 100:.2f} %, "
          f"balanced {a['balanced_accuracy'] * 100:.2f} %, macro F1 "
          f"{a['macro_f1'] * 100:.2f} %; subset {b['images']}: "
          f"{b['accuracy'] * 100:.2f} %", flush=True)
    print(f"retrain with: {res.metadata['command']}", flush=True)
    return 0


def _add_train_demo(trsub) -> None:
    # studies/demo_training.py's DEMO_MODEL_IDS, spelled out so --help does not import torch
    ids = ("celeba-cnn-naive", "celeba-cnn-randomcrop", "celeba-embedding-head")
    t = trsub.add_parser("demo", help="train a demo gender classifier on CelebA (issue 8)")
    t.add_argument("--model", dest="demo_model", required=True, choices=ids)
    t.add_argument("--epochs", type=positive_int,
                   help="default 4 (CNNs) or 40 (embedding head)")
    t.add_argument("--hidden", type=nonneg_int, default=0,
                   help="embedding head: 0 = logistic regression, N = MLP with N hidden units")
    t.add_argument("--limit", type=positive_int,
                   help="use only the first N images of each split")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--data", "--celeba", dest="data", metavar="DIR",
                   help="the CelebA folder (img_align_celeba/ with list_attr_celeba.txt, "
                        "torchvision's root, the 89x109 copy, or a folder holding celeba/; "
                        "default $FACEINSPECTOR_CELEBA, else $FACEINSPECTOR_DATA)")
    t.add_argument("--out", type=out_dir_arg,
                   help="checkpoint folder (default <model cache>/demo-models; in a checkout, "
                        "resources/demo-models replaces the shipped ones)")
    add_device_args(t, "cpu", threads=2)
    t.set_defaults(func=cmd_train_demo)



def add_parser(sub) -> None:
    tr = sub.add_parser("train", help="train the project's own small models")
    trsub = tr.add_subparsers(dest="model", required=True)  # add more models here
    _add_train_vae(trsub)
    _add_train_demo(trsub)
