"""Quality bars for the shipped VAE (issues 7 and 20), printed for it and for the old one.

Each checkpoint (``--checkpoint``, default the shipped one, and ``--baseline``, default the
issue-7 VAE, kept as ``resources/vae/vae_celeba64_small.safetensors``) is measured in the
same run:

1. **Identity** (issue 20) on ``--faces`` (120) LFW people the project never trains on
   (``vae.identity.iter_lfw_faces``: people drawn with seed 0, the first photo of each, its
   central MTCNN face cut to the ``vae-64`` chip as the Morph pane cuts it): each chip and its
   reconstruction, both upscaled the same way (bilinear) to 150x150, embedded by dlib's ResNet
   (the torch port); the rank of each original's own reconstruction among all reconstructions
   by L2 -- rank-1 share (target >= 50 %; chance 1/120), top-5, median rank, the median
   distance chip -> reconstruction and the share under tau. The same rank-1 in "another
   view" (both images mirrored and upscaled by PIL's bicubic filter: a reconstruction that
   only fools the exact input the identity term was trained on would not survive it), and
   on CelebA's test split (the first 120 and all 1,000 of 009001-010000).
2. **Reconstruction** MAE (pixels in [0, 1], decoding mu) on the 1,000 held-out CelebA faces
   009001-010000 (target <= 0.06; issue 7's bar was 0.08) and on the LFW faces.
3. **Morphs**: MTCNN (``Backend(device="cpu").detect``) finds a face in >= 95 % of the decoded
   frames of 50 random morph strips between held-out faces (8 frames each, ends included);
   frames upscaled to 128x128 (bicubic) on a 160x160 grey canvas.
4. **tau** for the Morph pane (``--tau``): the distance that best separates LFW's fold-1 pairs
   (300 same, 300 different people) when both photos are cut to the VAE's chip and upscaled
   like above -- the setting of the pane's distance.
5. **Training speed** (``--speed``): the in-app default (small VAE) and the shipped recipe's
   network (its design and loss terms), images/s on this machine's CPU (and CUDA when present).

Usage: ``python benchmarks/vae_quality.py [--checkpoint PATH] [--baseline PATH] [--tau]
[--speed]``. Needs CelebA and LFW (``--celeba DIR`` / ``--lfw DIR``, else
``$FACEINSPECTOR_CELEBA`` / ``$FACEINSPECTOR_LFW`` / ``$FACEINSPECTOR_DATA``, else the
development copy in ``../shared/data``) and the facenet-pytorch and face-api model packs.
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
from faceinspector.backend.vae import identity

OLD = vae.small_checkpoint_path()  # the issue-7 VAE, shipped beside the default


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


def other_view(chips: np.ndarray) -> np.ndarray:
    """The embeddings of the chips mirrored and upscaled by PIL's bicubic filter instead of
    torch's bilinear one: not the input the identity term was trained on."""
    big = np.stack([np.asarray(Image.fromarray(c[:, ::-1]).resize((150, 150), Image.BICUBIC))
                    for c in chips])
    return identity.embed_chips(big)


def identity_figures(chips: np.ndarray, recon: np.ndarray) -> dict:
    """Rank-1 etc. of each chip's own reconstruction among all, and in another view."""
    eo, er = identity.embed_chips(chips), identity.embed_chips(recon)
    out = identity.rank_summary(identity.own_ranks(eo, er))
    d = np.linalg.norm(eo - er, axis=1)
    out["dist_median"] = float(np.median(d))
    out["under_tau"] = float((d < identity.TAU).mean())
    other = identity.own_ranks(other_view(chips), other_view(recon))
    out["rank1_other"] = float((other == 1).mean())
    return out


def measure(path: Path, lfw: vae.ChipData, held: vae.ChipData, backend, pairs,
            frames: int) -> dict:
    model = vae.load_checkpoint(path, "cpu")
    meta = model.meta
    prog = meta.get("progress", {})
    print(f"\n== {path.name} ({path.stat().st_size / 2**20:.1f} MiB): {meta['architecture']}, "
          f"latent {meta['latent_dim']}, filters {meta['n_filters']}, blocks "
          f"{meta.get('blocks', 0)}; {prog.get('epoch')} epochs, {prog.get('step')} steps, "
          f"{prog.get('seconds', 0) / 60:.0f} min")
    print(f"   made by: {meta.get('command')}")
    r = {"file": path.name}
    t0 = time.perf_counter()
    rec = vae.reconstruct(model, lfw.chips)
    r["lfw"] = identity_figures(lfw.chips, rec)
    r["lfw"]["mae"] = float(np.abs(rec / 255.0 - lfw.chips / 255.0).mean())
    hrec = vae.reconstruct(model, held.chips)
    r["celeba120"] = identity_figures(held.chips[:120], hrec[:120])
    ranks = identity.own_ranks(identity.embed_chips(held.chips), identity.embed_chips(hrec))
    r["celeba1000"] = identity.rank_summary(ranks)
    r["mae"] = float(np.abs(hrec / 255.0 - held.chips / 255.0).mean())
    r["recon"] = rec
    x = lfw
    n = len(x.chips)
    lf, c1, ca = r["lfw"], r["celeba120"], r["celeba1000"]
    print(f"   identity, {n} LFW faces: rank-1 {lf['rank1'] * 100:.1f} % (target >= 50 %; "
          f"chance {100 / n:.1f} %), top-5 {lf['top5'] * 100:.1f} %, median rank "
          f"{lf['median']:g} of {n}; chip -> reconstruction distance median "
          f"{lf['dist_median']:.3f}, under tau {identity.TAU} {lf['under_tau'] * 100:.0f} %; "
          f"other view rank-1 {lf['rank1_other'] * 100:.1f} %")
    print(f"   identity, CelebA test 009001-009120: rank-1 {c1['rank1'] * 100:.1f} %, median "
          f"rank {c1['median']:g}; all 1000 test faces: rank-1 {ca['rank1'] * 100:.1f} %, "
          f"median rank {ca['median']:g} of 1000")
    print(f"   reconstruction MAE, held-out CelebA 009001-010000: {r['mae']:.4f} (target <= "
          f"0.06: {'PASS' if r['mae'] <= 0.06 else 'MISS'}); the LFW faces {lf['mae']:.4f} "
          f"({time.perf_counter() - t0:.0f} s)")
    t0 = time.perf_counter()
    for mode in ("linear", "slerp"):
        strip = np.concatenate([vae.morph(model, held.chips[a], held.chips[b], frames, mode)
                                for a, b in pairs])
        found = detect_rate(backend, strip).reshape(len(pairs), frames)
        r[f"morph_{mode}"] = float(found.mean())
        print(f"   morph frames with a face, {mode:6}: {found.sum()}/{found.size} = "
              f"{found.mean() * 100:.1f} % (target >= 95 %: "
              f"{'PASS' if found.mean() >= 0.95 else 'MISS'}); in-between "
              f"{found[:, 1:-1].mean() * 100:.1f} %")
        if mode == "linear":
            r["strips"] = strip.reshape(len(pairs), frames, *strip.shape[1:])[:6]
    print(f"   (detection {time.perf_counter() - t0:.0f} s)")
    return r


def lfw_pairs_fold1(lfw_root) -> list[tuple[str, str, bool]]:
    found = datasets.lfw(lfw_root, pairs=True)
    lines = found.pairs.read_text().split("\n")[1:601]
    out = []
    for ln in lines:
        f = ln.split()
        if len(f) == 3:
            out.append((f"{f[0]}_{int(f[1]):04d}.jpg", f"{f[0]}_{int(f[2]):04d}.jpg", True))
        elif len(f) == 4:
            out.append((f"{f[0]}_{int(f[1]):04d}.jpg", f"{f[2]}_{int(f[3]):04d}.jpg", False))
    return out


def measure_tau(backend, lfw_root) -> None:
    """The best threshold on LFW fold 1 with both photos cut to the VAE's chip."""
    from faceinspector.backend.images import load_photo

    lfw = datasets.lfw(lfw_root, pairs=True)
    pairs = lfw_pairs_fold1(lfw_root)
    names = sorted({n for a, b, _ in pairs for n in (a, b)})
    chips = {}
    for n in names:
        photo = load_photo(lfw.image(n))
        face = identity._central_face(backend.detect(photo), photo.width, photo.height)
        if face is not None:
            chips[n] = vae.chip_for_face(backend, photo, face)
    keep = [(a, b, s) for a, b, s in pairs if a in chips and b in chips]
    order = sorted(chips)
    emb = dict(zip(order, identity.embed_chips(np.stack([chips[n] for n in order]))))
    d = np.array([np.linalg.norm(emb[a] - emb[b]) for a, b, _ in keep])
    same = np.array([s for _, _, s in keep])
    taus = np.arange(0.30, 1.001, 0.01)
    acc = np.array([((d < t) == same).mean() for t in taus])
    best = taus[acc.argmax()]
    at06 = ((d < 0.6) == same).mean()
    print(f"\ntau: LFW fold 1, {len(keep)} of {len(pairs)} pairs (both faces found), both photos "
          f"on the vae-64 chip upscaled to 150x150: same-person distance median "
          f"{np.median(d[same]):.3f}, different {np.median(d[~same]):.3f}; the best threshold "
          f"{best:.2f} (accuracy {acc.max() * 100:.1f} %), dlib's 0.6: {at06 * 100:.1f} %")


def training_speed(data: vae.ChipData, threads, device: str, steps: int = 12, warmup: int = 2,
                   **kw) -> float:
    cfg = vae.TrainConfig(epochs=1, batch_size=64, threads=threads, device=device,
                          sample_every=0, **kw)
    sub = vae.ChipData(data.chips[: 64 * (steps + 1)])
    t0 = None
    run = vae.train(cfg, data=sub)
    try:
        for p in run:
            if not isinstance(p, tasks.Progress) or p.stage != "train":
                continue
            if p.info["step"] in (warmup, steps) and device.startswith("cuda"):
                torch.cuda.synchronize()
            if p.info["step"] == warmup:
                t0 = time.perf_counter()
            if p.info["step"] == steps:
                return (steps - warmup) * 64 / (time.perf_counter() - t0)
    finally:
        run.close()
    raise RuntimeError("too few steps")


def speed(train: vae.ChipData, meta: dict) -> None:
    keys = ("latent_dim", "n_filters", "blocks", "grid", "id_weight", "kl_weight")
    big = {k: meta["train_config"][k] for k in keys if k in meta["train_config"]} \
        if "train_config" in meta else {}
    print("\ntraining speed (batch 64, Adam), images/s:")
    devices = [("cpu", th) for th in (1, 2)]
    if torch.cuda.is_available():
        devices.append(("cuda", None))
    for dev, th in devices:
        where = f"CPU, {th} thread{'s' * (th > 1)}" if dev == "cpu" else \
            f"CUDA ({torch.cuda.get_device_name()})"
        small = training_speed(train, th, dev)
        line = f"  {where}: in-app default (small VAE) {small:.0f}"
        if big.get("blocks"):
            line += f"; the shipped recipe {training_speed(train, th, dev, **big):.1f}"
        print(line, flush=True)


def save_montage(lfw, results, out: Path) -> None:
    """LFW chips over each model's reconstructions, then each model's first morph strips."""
    rows = [lfw.chips[:12]] + [r["recon"][:12] for r in results]
    grid = np.concatenate([vae.strip_image(r) for r in rows])
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2),
                                 Image.NEAREST).save(out / "vae_quality_identity.png")
    strips = [vae.strip_image(s) for r in results for s in r["strips"][:3]]
    grid = np.concatenate(strips)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2),
                                 Image.NEAREST).save(out / "vae_quality_morphs.png")
    print(f"\npictures: {out / 'vae_quality_identity.png'} (LFW chips, then each model's "
          f"reconstructions), {out / 'vae_quality_morphs.png'} (3 strips per model)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=str(vae.default_checkpoint_path()))
    ap.add_argument("--baseline", default=str(OLD),
                    help="the checkpoint to compare with ('' for none; default: issue 7's)")
    ap.add_argument("--faces", type=int, default=120, help="LFW people for the identity test")
    ap.add_argument("--strips", type=int, default=50)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for evaluation")
    ap.add_argument("--tau", action="store_true", help="also measure tau on LFW fold 1")
    ap.add_argument("--speed", action="store_true", help="also measure training speed")
    ap.add_argument("--celeba", help="the CelebA folder (any layout)")
    ap.add_argument("--lfw", help="the LFW folder (any layout)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    try:
        celeba = datasets.celeba(args.celeba or datasets.configured("celeba") or dev / "celeba",
                                 attributes=False).root
        lfw_root = args.lfw or datasets.configured("lfw") or dev / "lfw"
        datasets.lfw(lfw_root)
    except datasets.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from faceinspector.backend import Backend

    backend = Backend(device="cpu")
    lfw = tasks.run(identity.iter_lfw_faces(args.faces, args.seed, lfw_root, backend))
    held = vae.celeba_chips(9001, 10000, root=celeba)
    print(f"identity test: {lfw.description}; first: {', '.join(lfw.names[:4])}, ...")
    rng = np.random.default_rng(args.seed)
    pairs = [rng.choice(len(held.chips), 2, replace=False) for _ in range(args.strips)]
    print(f"morphs: {args.strips} random held-out CelebA pairs x {args.frames} frames")
    paths = [Path(args.checkpoint)] + ([Path(args.baseline)] if args.baseline
                                       and Path(args.baseline) != Path(args.checkpoint) else [])
    results = [measure(p, lfw, held, backend, pairs, args.frames) for p in paths]
    if len(results) == 2:
        new, old = results
        print("\n| | " + " | ".join(r["file"] for r in results) + " |\n|---|---|---|")
        for label, f in (("LFW rank-1", lambda r: f"{r['lfw']['rank1'] * 100:.1f} %"),
                         ("LFW median rank", lambda r: f"{r['lfw']['median']:g}"),
                         ("LFW rank-1, other view (mirrored, bicubic)",
                          lambda r: f"{r['lfw']['rank1_other'] * 100:.1f} %"),
                         ("CelebA test rank-1 (120)",
                          lambda r: f"{r['celeba120']['rank1'] * 100:.1f} %"),
                         ("held-out MAE", lambda r: f"{r['mae']:.4f}"),
                         ("morph frames with a face (linear)",
                          lambda r: f"{r['morph_linear'] * 100:.1f} %"),
                         ("morph frames with a face (slerp)",
                          lambda r: f"{r['morph_slerp'] * 100:.1f} %")):
            print(f"| {label} | {f(new)} | {f(old)} |")
    save_montage(lfw, results, Path(os.environ.get("VAE_QUALITY_OUT", "/tmp")))
    if args.tau:
        measure_tau(backend, lfw_root)
    if args.speed:
        speed(vae.celeba_chips(1, 1000, root=celeba), results[0] and
              vae.read_metadata(paths[0]))
    print(json.dumps([{k: v for k, v in r.items() if k not in ("recon", "strips")}
                      for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
