"""Does a VAE's reconstruction keep who the face is? dlib's ResNet on a chip and on its
reconstruction (issue 20).

Both images are upscaled *the same way* -- bilinear, by torch, from the chip's side to the
ResNet's 150x150 input (:func:`resnet_input`) -- and embedded by the torch port of dlib's
ResNet (:class:`IdentityNet`; the torch network explicitly, whatever engine the app's embedder
uses, so that training can take gradients through it). The same path serves

* the benchmark (``benchmarks/vae_quality.py``): the rank of each original's own
  reconstruction among all reconstructions by L2 distance (:func:`own_ranks`) on faces the
  model never saw (:func:`iter_lfw_faces`: one photo each of people drawn from LFW);
* the identity term of training (``TrainConfig.id_weight``), the embedding distance between
  a decoded face and the cached embedding of its training chip (:func:`embed_chips`);
* the Morph pane's distance under each end of the strip (:func:`identity_distance`), green
  under :data:`TAU`.

The chip is the VAE's tight ``vae-64`` crop (brows to chin), not dlib's own padded chip, so
the distances are larger than between two dlib chips of the same photo would be; they compare
a chip with its reconstruction, never faces across the two crops.
"""

from __future__ import annotations

import time
from collections.abc import Generator

import numpy as np
import torch
import torch.nn.functional as F

from .. import tasks
from ..lru import LRU

#: the side of the ResNet's input: chips and reconstructions are upscaled to it (bilinear)
RESNET_INPUT = 150
#: dlib's "same person" distance: the Morph pane shows a distance green under it, amber above
TAU = 0.6
_MEAN = (122.782, 117.001, 104.298)  # dlib's mean RGB; then / 256 (DlibResNet.spec)


def resnet_input(x: torch.Tensor) -> torch.Tensor:
    """float ``(N, 3, h, w)`` in [0, 1] -> the ResNet's normalised ``(N, 3, 150, 150)``
    (bilinear upscale, differentiable)."""
    if x.shape[-2:] != (RESNET_INPUT, RESNET_INPUT):
        x = F.interpolate(x, size=(RESNET_INPUT, RESNET_INPUT), mode="bilinear",
                          align_corners=False)
    mean = torch.tensor(_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * 255.0 - mean) / 256.0


class IdentityNet:
    """dlib's ResNet (the torch port) on chips in [0, 1]: ``net(x)`` -> ``(N, 128)``
    embeddings, differentiable with respect to ``x`` (its own weights are frozen)."""

    def __init__(self, device="cpu"):
        from ..models.dlib_resnet import DlibResNet

        self.model = DlibResNet(device)
        self.device = torch.device(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.torch_forward(resnet_input(x))

    def embed(self, chips, batch_size: int = 64, flip: bool = False) -> np.ndarray:
        """uint8 chips ``(N, h, w, 3)`` (or one) -> float32 ``(N, 128)``; ``flip``: of the
        mirrored chips."""
        a = np.asarray(chips)
        a = a[None] if a.ndim == 3 else a
        out = np.zeros((len(a), 128), np.float32)
        with torch.inference_mode():
            for i in range(0, len(a), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(a[i:i + batch_size])).to(self.device)
                x = x.permute(0, 3, 1, 2).float() / 255.0
                if flip:
                    x = x.flip(3)
                out[i:i + len(x)] = self(x).float().cpu().numpy()
        return out


_NETS = LRU(2)


def identity_net(device="cpu") -> IdentityNet:
    """One :class:`IdentityNet` per device, made on first use."""
    key = str(device)
    net = _NETS.get(key)
    if net is None:
        net = IdentityNet(device)
        _NETS.put(key, net)
    return net


def embed_chips(chips, device="cpu", flip: bool = False) -> np.ndarray:
    """:meth:`IdentityNet.embed` with the shared network of ``device``."""
    return identity_net(device).embed(chips, flip=flip)


def identity_distance(chips, recons, device="cpu") -> np.ndarray:
    """Per pair, the L2 distance between the embeddings of a chip and of its reconstruction
    (float32 ``(N,)``; one pair gives ``(1,)``)."""
    e = embed_chips(np.concatenate([np.asarray(chips).reshape(-1, *np.shape(chips)[-3:]),
                                    np.asarray(recons).reshape(-1, *np.shape(recons)[-3:])]),
                    device)
    n = len(e) // 2
    return np.linalg.norm(e[:n] - e[n:], axis=1)


def own_ranks(originals: np.ndarray, recons: np.ndarray) -> np.ndarray:
    """1-based rank of each original's own reconstruction among all reconstructions, by L2
    distance between embeddings (1: the closest of all; ties count against it)."""
    a, b = np.asarray(originals, np.float64), np.asarray(recons, np.float64)
    d = np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T, 0))
    own = np.diag(d)[:, None]
    return 1 + (d < own).sum(1) + ((d == own).sum(1) - 1)


def rank_summary(ranks: np.ndarray) -> dict:
    """``rank1`` (share), ``top5`` (share), ``median`` rank, ``n``."""
    r = np.asarray(ranks)
    return {"rank1": float((r == 1).mean()), "top5": float((r <= 5).mean()),
            "median": float(np.median(r)), "n": int(len(r))}


def iter_identity_targets(chips: np.ndarray, device="cpu", cache: bool = True,
                          cancel: tasks.CancelToken | None = None,
                          batch_size: int = 64) -> Generator:
    """Task: the embeddings training compares decoded faces with -- of every chip and of its
    mirror image, float32 ``(N, 2, 128)`` -- computed once and cached beside the training
    chips (keyed on the chips' bytes), so a run only sends the decoded faces through the
    ResNet (forward and backward)."""
    import hashlib

    from .data import _cache_file, _load_cache, _save_cache

    a = np.ascontiguousarray(chips)
    key = {"kind": "idtargets", "chips": hashlib.sha1(a.tobytes()).hexdigest(),
           "shape": list(a.shape), "net": "dlib-resnet", "input": RESNET_INPUT, "v": 1}
    cfile = _cache_file(key)
    if cache and (hit := _load_cache(cfile)) is not None and len(hit["targets"]) == len(a):
        yield tasks.note(f"identity targets from the cache {cfile}")
        return hit["targets"]
    net = identity_net(device)
    out = np.zeros((len(a), 2, 128), np.float32)
    t0 = time.perf_counter()
    for i in range(0, len(a), batch_size):
        tasks.check(cancel)
        part = a[i:i + batch_size]
        out[i:i + len(part), 0] = net.embed(part, batch_size)
        out[i:i + len(part), 1] = net.embed(part, batch_size, flip=True)
        yield tasks.Progress(i + len(part), len(a), "identity targets (dlib ResNet)", "embed",
                             {"seconds": time.perf_counter() - t0})
    if cache:
        _save_cache(cfile, targets=out)
        yield tasks.note(f"cached the identity targets in {cfile}")
    return out


# ========================================================================= LFW faces


def lfw_people(root=None) -> list[str]:
    """LFW's people (sorted folder names) of the copy at ``root`` (or where the environment
    says)."""
    from .. import datasets

    images = datasets.lfw(root).images
    return sorted(p.name for p in images.iterdir()
                  if p.is_dir() and (p / f"{p.name}_0001.jpg").is_file())


def lfw_test_people(n: int = 120, seed: int = 0, root=None) -> list[str]:
    """The people whose faces :func:`iter_lfw_faces` draws, in its order (more than ``n``
    when some photos have no usable face; use its names for the exact set)."""
    people = lfw_people(root)
    order = np.random.default_rng(seed).permutation(len(people))
    return [people[i] for i in order[: min(len(people), 2 * n)]]


def _central_face(det, w: int, h: int):
    faces = [f for f in det.faces if f.score >= 0.9]
    if not faces:
        return None
    return min(faces, key=lambda f: ((f.box[0] + f.box[2]) / 2 - w / 2) ** 2
               + ((f.box[1] + f.box[3]) / 2 - h / 2) ** 2)


def iter_lfw_faces(n: int = 120, seed: int = 0, root=None, backend=None, cache: bool = True,
                   cancel: tasks.CancelToken | None = None) -> Generator:
    """Task: ``n`` LFW people drawn with ``seed``, the first photo of each, its central face
    (MTCNN, score >= 0.9) cut to the VAE's chip as the Morph pane cuts it
    (:func:`~.data.chip_for_face`). Returns a :class:`~.data.ChipData` whose names are the
    photos' file names (``Name_0001.jpg``). Cached like the training chips."""
    from .. import datasets
    from ..images import load_photo
    from .data import ChipData, VAE_TEMPLATE, _cache_file, _load_cache, _save_cache, chip_for_face

    lfw = datasets.lfw(root)
    people = lfw_test_people(n, seed, root)
    key = {"kind": "lfw-identity", "root": str(lfw.images.resolve()), "n": n, "seed": seed,
           "people": len(lfw_people(root)), "template": VAE_TEMPLATE.points.tolist(), "v": 1}
    cfile = _cache_file(key)
    if cache and (hit := _load_cache(cfile)) is not None:
        return ChipData(hit["chips"], [str(s) for s in hit["names"]],
                        description=str(hit["description"]))
    if backend is None:
        from ..facade import Backend

        backend = Backend()
    chips, names = [], []
    t0 = time.perf_counter()
    for person in people:
        if len(chips) == n:
            break
        tasks.check(cancel)
        name = f"{person}_0001.jpg"
        photo = load_photo(lfw.image(name))
        face = _central_face(backend.detect(photo), photo.width, photo.height)
        if face is None:
            continue
        chips.append(chip_for_face(backend, photo, face))
        names.append(name)
        yield tasks.Progress(len(chips), n, "LFW faces", "data",
                             {"seconds": time.perf_counter() - t0})
    desc = (f"{len(chips)} LFW people drawn with seed {seed} from {lfw.images}, the first photo "
            "of each, its central MTCNN face (score >= 0.9) on the vae-64 template")
    data = ChipData(np.stack(chips), names, description=desc)
    if cache:
        _save_cache(cfile, chips=data.chips, names=np.array(names), description=np.array(desc))
    return data


def lfw_faces(n: int = 120, seed: int = 0, root=None, backend=None, cache: bool = True):
    """:func:`iter_lfw_faces` run here."""
    return tasks.run(iter_lfw_faces(n, seed, root, backend, cache))


__all__ = ["RESNET_INPUT", "TAU", "IdentityNet", "embed_chips", "identity_distance",
           "identity_net", "iter_identity_targets", "iter_lfw_faces", "lfw_faces", "lfw_people",
           "lfw_test_people", "own_ranks", "rank_summary", "resnet_input"]
