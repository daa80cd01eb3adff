"""Quality bars for the shipped VAE (issue 7), printed.

1. Mean absolute reconstruction error (pixels in [0, 1], decoding mu) on the 1,000 held-out
   CelebA faces 009001-010000 -- target <= 0.08. For scale: a blank mid-grey image and the
   training set's mean face.
2. MTCNN (``Backend(device="cpu").detect``) finds a face in >= 90 % of the decoded frames of 50
   random morph strips between held-out faces (8 frames each, both ends included). The 64x64
   frames are upscaled to 128x128 (bicubic) and put on a 160x160 mid-grey canvas (16 px border)
   before detection: MTCNN's smallest face is 20 px and its boxes reach past a tight chip. The
   same is done to the real chips, for reference.
3. Training speed (images/s) of the default recipe (batch 64, Adam) on this machine's CPU with
   1 and 2 threads (and on CUDA when there is one), over steps 6-35 of a fresh run.

Usage: ``python benchmarks/vae_quality.py [--checkpoint PATH] [--strips 50] [--frames 8]``.
Needs CelebA (``--celeba DIR``, else ``$FACEINSPECTOR_CELEBA`` / ``$FACEINSPECTOR_DATA``, else
the development copy in ``../shared/data/celeba``) and the facenet-pytorch model pack.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from faceinspector.backend import datasets, tasks, vae


def detect_rate(backend, frames: np.ndarray, up: int = 128, canvas: int = 160) -> np.ndarray:
    """Per frame: did MTCNN find at least one face? (upscaled, on a grey canvas)."""
    off = (canvas - up) // 2
    found = np.zeros(len(frames), bool)
    for i, f in enumerate(frames):
        big = np.asarray(Image.fromarray(f).resize((up, up), Image.BICUBIC))
        img = np.full((canvas, canvas, 3), 128, np.uint8)
        img[off:off + up, off:off + up] = big
        found[i] = len(backend.detect(img).faces) > 0
    return found


def training_speed(data: vae.ChipData, threads: int, device: str, steps: int = 35,
                   warmup: int = 5) -> float:
    cfg = vae.TrainConfig(epochs=1, batch_size=64, threads=threads, device=device,
                          sample_every=0)
    sub = vae.ChipData(data.chips[: 64 * (steps + 1)])
    t0 = None
    run = vae.train(cfg, data=sub)
    try:
        for p in run:
            if not isinstance(p, tasks.Progress) or p.stage != "train":
                continue
            if p.info["step"] == warmup:
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            if p.info["step"] == steps:
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                return (steps - warmup) * 64 / (time.perf_counter() - t0)
    finally:
        run.close()
    raise RuntimeError("too few steps")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=str(vae.default_checkpoint_path()))
    ap.add_argument("--strips", type=int, default=50)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for evaluation")
    ap.add_argument("--no-speed", action="store_true", help="skip the training-speed part")
    ap.add_argument("--celeba", help="the CelebA folder (any layout)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "celeba"
    celeba = args.celeba or datasets.configured("celeba") or dev
    try:
        celeba = datasets.celeba(celeba, attributes=False).root
    except datasets.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    path = Path(args.checkpoint)
    model = vae.load_checkpoint(path, "cpu")
    meta = model.meta
    prog = meta.get("progress", {})
    print(f"checkpoint: {path} ({path.stat().st_size / 2**20:.1f} MiB), {meta['architecture']}, "
          f"latent {meta['latent_dim']}, {prog.get('epoch')} epochs, {prog.get('step')} steps, "
          f"{prog.get('seconds', 0) / 60:.1f} min")
    print(f"  made by: {meta.get('command')}")

    # 1. reconstruction error on the held-out faces
    held = vae.celeba_chips(9001, 10000, root=celeba)
    train = vae.celeba_chips(1, 9000, root=celeba)
    x = held.chips.astype(np.float32) / 255.0
    rec = vae.reconstruct(model, held.chips).astype(np.float32) / 255.0
    per = np.abs(rec - x).reshape(len(x), -1).mean(1)
    mae = float(per.mean())
    blank = float(np.abs(x - 0.5).mean())
    mean_face = train.chips.astype(np.float32).mean(0) / 255.0
    mean_err = float(np.abs(x - mean_face).mean())
    print(f"held-out CelebA {held.names[0][:-4]}-{held.names[-1][:-4]} ({len(x)} faces):")
    print(f"  reconstruction MAE {mae:.4f} (target <= 0.08: {'PASS' if mae <= 0.08 else 'MISS'});"
          f" per face median {np.median(per):.4f}, 90th pct {np.percentile(per, 90):.4f}")
    print(f"  for scale: blank grey image {blank:.4f}, training mean face {mean_err:.4f}")
    inner = float(np.abs(rec - x)[:, 16:54, 16:48].mean())
    print(f"  inside the face (x 16..47, y 16..53: brows to chin) {inner:.4f}; the rest (hair, "
          f"background) {(mae * 64 * 64 - inner * 38 * 32) / (64 * 64 - 38 * 32):.4f}")
    tr = train.chips[:: len(train.chips) // 1000][:1000]
    tr_mae = float(np.abs(vae.reconstruct(model, tr) / 255.0 - tr / 255.0).mean())
    print(f"  (1000 training faces: {tr_mae:.4f})")

    # 2. MTCNN on morph frames
    from faceinspector.backend import Backend

    backend = Backend(device="cpu")
    rng = np.random.default_rng(args.seed)
    pairs = [rng.choice(len(x), 2, replace=False) for _ in range(args.strips)]
    print(f"morphs: {args.strips} random held-out pairs x {args.frames} frames (ends included); "
          f"64x64 -> 128x128 bicubic on a 160x160 grey canvas for MTCNN")
    real = detect_rate(backend, held.chips[np.unique(np.concatenate(pairs))])
    print(f"  reference, the real chips of those faces: {real.mean() * 100:.1f} % "
          f"({real.sum()}/{len(real)})")
    t0 = time.perf_counter()
    rates = {}
    for mode in ("linear", "slerp"):
        frames = np.concatenate([vae.morph(model, held.chips[a], held.chips[b], args.frames,
                                           mode) for a, b in pairs])
        found = detect_rate(backend, frames).reshape(args.strips, args.frames)
        rate = found.mean()
        rates[mode] = rate
        inner = found[:, 1:-1].mean()
        verdict = "PASS" if rate >= 0.9 else "MISS"
        print(f"  {mode:6}: face found in {found.sum()}/{found.size} frames = {rate * 100:.1f} % "
              f"(target >= 90 %: {verdict}); in-between frames {inner * 100:.1f} %; strips "
              f"with every frame a face {found.all(1).sum()}/{args.strips}")
        if mode == "linear":
            out = Path(os.environ.get("VAE_QUALITY_OUT", "/tmp")) / "vae_quality_morphs.png"
            rows = [vae.strip_image(np.concatenate([held.chips[a][None], fr,
                                                    held.chips[b][None]]))
                    for (a, b), fr in zip(pairs[:6], frames.reshape(args.strips, args.frames,
                                                                    64, 64, 3))]
            sep = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
            grid = np.concatenate([r for row in rows for r in (row, sep)][:-1])
            Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2),
                                         Image.NEAREST).save(out)
            print(f"  (first 6 strips with their originals: {out})")
    print(f"  detection took {time.perf_counter() - t0:.0f} s")

    # 3. training speed
    if not args.no_speed:
        print("training speed, default recipe (batch 64, Adam, 64x64, 12-24-48-72, latent 100):")
        for th in (1, 2):
            r = training_speed(train, th, "cpu")
            print(f"  CPU, {th} thread{'s' * (th > 1)}: {r:.0f} images/s "
                  f"({9000 / r:.0f} s per 9,000-image epoch)")
        if torch.cuda.is_available():
            r = training_speed(train, None, "cuda")
            print(f"  CUDA ({torch.cuda.get_device_name()}): {r:.0f} images/s")
        else:
            print("  CUDA: not available on this machine")
        torch.set_num_threads(args.threads)
        print(f"  the shipped run averaged {prog.get('images_per_s', 0):.0f} images/s over "
              f"{prog.get('seconds', 0):.0f} s on {meta.get('device')} (a CPU shared with "
              "other jobs)")
    print(json.dumps({"mae": round(mae, 4), "mtcnn_linear": round(float(rates["linear"]), 4),
                      "mtcnn_slerp": round(float(rates["slerp"]), 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
