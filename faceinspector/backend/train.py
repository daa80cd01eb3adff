"""Training the small demo classifiers (issue 8): CelebA loading, augmentation, training loops.

Data: CelebA's aligned images in ``../shared/data/celeba`` (``img_align_89x109``, the first
10,000 images downscaled by 2, and ``list_attr_celeba.txt``), the ``Male`` attribute, split
000001–008000 train, 008001–009000 val, 009001–010000 test.

How a CelebA image becomes a chip: the images are *already aligned*, so no detector runs.
:func:`celeba_face` builds a :class:`~.types.Face` whose five landmarks sit where the ``celeba``
template says MTCNN finds them in CelebA's aligned images (``align.get_template("celeba")
.targets(size=(89, 109))``), and the backend crops every chip from that face exactly as it does
for a detected face in a photo. For the CNNs' ``celeba`` chip this is (up to resampling) the image
itself at 64×78; for the embedding head it is the dlib chip (150 px, padding 0.25) around those
points. Training and evaluation therefore go through the same crop code as the app.

Long work is a generator (DESIGN.md rule 3). Every loop yields dicts with an ``"event"`` key:

* ``{"event": "load", "split", "done", "total"}`` while reading images;
* ``{"event": "embed", "split", "done", "total", "images_per_s"}`` while embedding faces;
* ``{"event": "step", "epoch", "epochs", "step", "steps", "loss", "images_per_s"}`` during
  an epoch (every ``log_every`` steps);
* ``{"event": "epoch", "epoch", "epochs", "train_loss", "val_loss", "val_accuracy",
  "images_per_s", "seconds"}`` after each epoch;
* finally ``{"event": "done", "net", "history", "best_epoch", "val_accuracy", "seconds",
  "cancelled"}``: the network holds the weights of the epoch with the best validation accuracy
  (or the last finished weights when cancelled).

``cancel`` is anything with ``is_set()`` (a :class:`threading.Event`) or a zero-argument
callable returning True to stop; it is checked between steps.
"""

from __future__ import annotations

import copy
import hashlib
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .. import _paths
from . import align
from .images import load_photo
from .models.demo import CNN_SPEC, HEAD_SPEC, LABELS, DemoCNN, EmbeddingHead
from .types import Face

#: image numbers (inclusive) of the standard split of the 10,000-image subset
SPLITS = {"train": (1, 8000), "val": (8001, 9000), "test": (9001, 10000)}
#: the fixed subset of the test split whose accuracy each checkpoint also records (and the test
#: suite reproduces): its first 200 images, 009001–009200
TEST_SUBSET = 200
ATTRIBUTE = "Male"
IMAGE_DIR = "img_align_89x109"
ATTR_FILE = "list_attr_celeba.txt"

#: the augmentations: "flip" (horizontal flips only) and "randomcrop" (flips plus a random
#: crop of every sample: shift up to ±MAX_SHIFT of the chip side, zoom in SCALE_RANGE)
AUGMENT = {"celeba-cnn-naive": "flip", "celeba-cnn-randomcrop": "randomcrop"}
MAX_SHIFT = 0.125
SCALE_RANGE = (0.85, 1.15)

CNN_MODELS = tuple(AUGMENT)
HEAD_MODEL = "celeba-embedding-head"
DEMO_MODEL_IDS = (*CNN_MODELS, HEAD_MODEL)


class DataError(FileNotFoundError):
    """The data set is not where it should be; the message says where it was looked for."""


Cancel = Callable[[], bool] | object | None


def _cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


# ---------------------------------------------------------------------------------- the data


def data_root(root: str | Path | None = None) -> Path:
    """``root``, else ``../shared/data`` beside the project."""
    return Path(root) if root is not None else _paths.SHARED_DATA


def celeba_dir(root: str | Path | None = None) -> Path:
    d = data_root(root) / "celeba"
    if not (d / IMAGE_DIR).is_dir() or not (d / ATTR_FILE).is_file():
        raise DataError(f"CelebA not found: expected {d / IMAGE_DIR} and {d / ATTR_FILE} "
                        "(see ../shared/data/README.md)")
    return d


def read_attribute(root: str | Path | None = None, attribute: str = ATTRIBUTE) -> dict[str, int]:
    """{file name: 1 if the attribute is +1 else 0} from ``list_attr_celeba.txt``."""
    lines = (celeba_dir(root) / ATTR_FILE).read_text().splitlines()
    names = lines[1].split()
    col = names.index(attribute)
    out = {}
    for line in lines[2:]:
        parts = line.split()
        if len(parts) == len(names) + 1:
            out[parts[0]] = int(parts[1 + col] == "1")
    return out


def split_names(split: str, limit: int | None = None) -> list[str]:
    """File names of a split (in order), the first ``limit`` of them if given."""
    if split not in SPLITS:
        raise KeyError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    a, b = SPLITS[split]
    names = [f"{i:06d}.jpg" for i in range(a, b + 1)]
    return names[:limit] if limit else names


def celeba_face(width: int = 89, height: int = 109) -> Face:
    """The face in an aligned CelebA image of this size, without running a detector.

    Landmarks: where the ``celeba`` template puts MTCNN's five points at this size (measured by
    MTCNN on 399 of the first 400 images, DESIGN.md). Box: a square around them sized like an
    MTCNN box (used only by the ``raw`` template).
    """
    lm = align.get_template("celeba").targets((width, height)).astype(np.float32)
    iod = float(np.linalg.norm(lm[1] - lm[0]))
    cx = float(lm[:, 0].mean())
    cy = float(lm[:, 1].mean())
    half = 1.1 * iod
    return Face((cx - half, cy - 1.2 * half, cx + half, cy + 0.8 * half), 1.0, lm)


def chips_for(pixels: np.ndarray, spec, face: Face | None = None) -> np.ndarray:
    """The chip a model with ``spec`` sees of one aligned CelebA image, uint8 (h, w, 3)."""
    face = face or celeba_face(pixels.shape[1], pixels.shape[0])
    return align.make_crop(pixels, face, spec.template, size=spec.size,
                           padding=spec.padding).pixels


def batch_chips(images: np.ndarray, spec) -> np.ndarray:
    """Chips of many aligned CelebA images of one size, uint8 (N, h, w, 3), in one warp.

    The same crop matrix as :func:`chips_for` (so the same chip as the backend's crop of that
    face, up to float rounding: ±1 grey level here and there), computed in a single
    ``grid_sample`` over the batch instead of one call per image. Falls back to
    :func:`chips_for` per image when the chip shrinks the image by more than 1.5×, where the
    backend area-averages first.
    """
    n, hh, ww = images.shape[:3]
    w, h = spec.size
    m = align.crop_matrix(celeba_face(ww, hh), spec.template, (w, h), spec.padding)
    inv = align.invert_affine(m)
    if np.sqrt(abs(np.linalg.det(inv[:, :2]))) > 1.5:
        return np.stack([chips_for(img, spec) for img in images])
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                         indexing="ij")
    src = np.stack([xs, ys, np.ones_like(xs)], -1) @ inv.T  # crop pixel -> image pixel
    grid = (2 * src + 1) / np.array([ww, hh]) - 1  # pixel centres, align_corners=False
    grid_t = torch.as_tensor(grid, dtype=torch.float32)[None].expand(n, -1, -1, -1)
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    out = F.grid_sample(x, grid_t, mode="bilinear", padding_mode="reflection",
                        align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy().copy()


def iter_celeba(split: str, spec, limit: int | None = None, root=None,
                batch: int = 256) -> Iterator[tuple[list[str], np.ndarray, np.ndarray]]:
    """Batches of (names, chips uint8 (n, h, w, 3), labels int64 (n,)) of a split."""
    d = celeba_dir(root)
    attr = read_attribute(root)
    names = split_names(split, limit)
    for i in range(0, len(names), batch):
        part = names[i:i + batch]
        images = np.stack([load_photo(d / IMAGE_DIR / n).pixels for n in part])
        yield part, batch_chips(images, spec), np.array([attr[n] for n in part], np.int64)


def load_celeba(split: str, spec=CNN_SPEC, limit: int | None = None, root=None,
                progress: Callable[[int, int], None] | None = None):
    """All of a split as (chips uint8 (N, h, w, 3), labels int64 (N,), names)."""
    total = len(split_names(split, limit))
    chips, labels, names = [], [], []
    for part, c, y in iter_celeba(split, spec, limit, root):
        chips.append(c)
        labels.append(y)
        names += part
        if progress:
            progress(len(names), total)
    h, w = spec.size[1], spec.size[0]
    return (np.concatenate(chips) if chips else np.zeros((0, h, w, 3), np.uint8),
            np.concatenate(labels) if labels else np.zeros(0, np.int64), names)


# ------------------------------------------------------------------------------ augmentation


def augment_batch(x: torch.Tensor, mode: str, gen: torch.Generator | None = None,
                  max_shift: float = MAX_SHIFT, scale_range=SCALE_RANGE) -> torch.Tensor:
    """Augment a batch of chips (N, 3, h, w), any value range.

    ``"flip"``: each sample mirrored left-right with probability 1/2. ``"randomcrop"``: flips,
    then every sample is resampled from a random crop: shifted by up to ``max_shift`` of the
    chip's width / height in x and y, and zoomed by a factor in ``scale_range`` (> 1: the face
    looks larger), with mirrored borders (as the probe's default ``reflect`` border).
    ``"none"`` returns ``x``.
    """
    if mode == "none":
        return x
    if mode not in ("flip", "randomcrop"):
        raise ValueError(f"unknown augmentation {mode!r}")
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip.to(x.device).view(n, 1, 1, 1), x.flip(-1), x)
    if mode == "flip":
        return x
    s = torch.empty(n).uniform_(*scale_range, generator=gen)
    t = torch.empty(n, 2).uniform_(-2 * max_shift, 2 * max_shift, generator=gen)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / s
    theta[:, :, 2] = t
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection",
                         align_corners=False)


# ---------------------------------------------------------------------------------- training


def _seeded(seed: int) -> torch.Generator:
    """Seed torch's global generator (weight initialisation) and return a CPU generator
    from the same seed for the data order and augmentation."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _to_tensor(chips: np.ndarray) -> torch.Tensor:
    """uint8 (N, h, w, 3) -> uint8 (N, 3, h, w) (kept as uint8: a quarter of the memory)."""
    return torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).contiguous()


@torch.inference_mode()
def _evaluate_logits(net, x_u8: torch.Tensor, y: torch.Tensor, spec, device,
                     batch: int = 256) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``net`` on uint8 chips."""
    net.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(x_u8), batch):
        xb = spec.normalise(x_u8[i:i + batch].to(device, torch.float32))
        logits = net(xb.contiguous(memory_format=torch.channels_last))
        yb = y[i:i + batch].to(device)
        loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    n = max(len(x_u8), 1)
    return loss / n, correct / n


def train_cnn(model_id: str = "celeba-cnn-naive", *, epochs: int = 4, batch_size: int = 64,
              lr: float = 2e-3, weight_decay: float = 1e-4, augment: str | None = None,
              seed: int = 0, train_limit: int | None = None, val_limit: int | None = None,
              root=None, device: str | torch.device = "cpu", data: dict | None = None,
              cancel: Cancel = None, log_every: int = 20) -> Iterator[dict]:
    """Train a demo CNN; a generator of progress dicts (see the module docstring).

    ``data`` may give ``{"train": (chips, labels), "val": (chips, labels)}`` (uint8 chips
    (N, 78, 64, 3)) instead of reading CelebA; ``augment`` defaults to the model's own
    (``AUGMENT``). AdamW with a one-cycle learning-rate schedule.
    """
    augment = augment or AUGMENT.get(model_id, "flip")
    device = torch.device(device)
    gen = _seeded(seed)
    if data is None:
        data = {}
        for split, limit in (("train", train_limit), ("val", val_limit)):
            chips, labels, _ = [], [], []
            total = len(split_names(split, limit))
            done = 0
            for part, c, y in iter_celeba(split, CNN_SPEC, limit, root):
                chips.append(c)
                labels.append(y)
                done += len(part)
                yield {"event": "load", "split": split, "done": done, "total": total}
            data[split] = (np.concatenate(chips), np.concatenate(labels))
    xtr, ytr = _to_tensor(data["train"][0]), torch.as_tensor(data["train"][1])
    xva, yva = _to_tensor(data["val"][0]), torch.as_tensor(data["val"][1])
    h, w = xtr.shape[2], xtr.shape[3]
    net = DemoCNN(size=(w, h)).to(device).to(memory_format=torch.channels_last)
    steps = (len(xtr) + batch_size - 1) // batch_size
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(epochs * steps, 1),
                                                pct_start=0.2)
    history, best = [], (-1.0, 0, copy.deepcopy(net.state_dict()))
    t_start = time.perf_counter()
    cancelled = False
    for epoch in range(1, epochs + 1):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen)
        t0, seen, run_loss, run_n = time.perf_counter(), 0, 0.0, 0
        for step in range(steps):
            if _cancelled(cancel):
                cancelled = True
                break
            idx = perm[step * batch_size:(step + 1) * batch_size]
            xb = CNN_SPEC.normalise(xtr[idx].to(device, torch.float32))
            xb = augment_batch(xb, augment, gen).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(net(xb), ytr[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
            run_loss += loss.item() * len(idx)
            run_n += len(idx)
            if (step + 1) % log_every == 0 or step + 1 == steps:
                yield {"event": "step", "epoch": epoch, "epochs": epochs, "step": step + 1,
                       "steps": steps, "loss": run_loss / run_n,
                       "images_per_s": seen / (time.perf_counter() - t0)}
        if cancelled:
            break
        secs = time.perf_counter() - t0
        val_loss, val_acc = _evaluate_logits(net, xva, yva, CNN_SPEC, device)
        rec = {"event": "epoch", "epoch": epoch, "epochs": epochs,
               "train_loss": run_loss / max(run_n, 1), "val_loss": val_loss,
               "val_accuracy": val_acc, "images_per_s": seen / secs, "seconds": secs}
        history.append({k: v for k, v in rec.items() if k != "event"})
        if val_acc > best[0]:
            best = (val_acc, epoch, copy.deepcopy(net.state_dict()))
        yield rec
    if best[1]:
        net.load_state_dict(best[2])
    net.eval().to(memory_format=torch.contiguous_format)
    yield {"event": "done", "net": net, "history": history, "best_epoch": best[1],
           "val_accuracy": best[0] if best[1] else float("nan"),
           "seconds": time.perf_counter() - t_start, "cancelled": cancelled,
           "augment": augment, "train_images": len(xtr), "val_images": len(xva)}


# ----------------------------------------------------------------- embeddings and the head


def embedding_cache_dir(cache: str | Path | None = None) -> Path:
    """Where embeddings are cached: ``cache``, else ``<model cache>/embeddings``."""
    if cache is not None:
        return Path(cache)
    from .assets import cache_dir

    return cache_dir() / "embeddings"


def _cache_file(folder: Path, split: str, names: list[str]) -> Path:
    key = hashlib.sha256(("|".join(names) + repr(HEAD_SPEC)).encode()).hexdigest()[:10]
    return folder / f"celeba-{split}-{names[0][:6]}-{names[-1][:6]}-dlib-resnet-{key}.npy"


def celeba_embeddings(split: str, *, limit: int | None = None, root=None, cache=None,
                      embedder=None, device: str | torch.device = "cpu", batch: int = 32,
                      cancel: Cancel = None) -> Iterator[dict]:
    """128-D dlib ResNet embeddings of a CelebA split, cached as ``.npy``.

    Yields ``{"event": "embed", ...}`` progress, then ``{"event": "embeddings", "split",
    "embeddings" (N, 128) float32, "labels" (N,), "cached": bool, "path"}``; stops early (with
    no final event) when cancelled. The cache file name holds the split, the image range and a
    hash of the file names and chip spec; delete it to recompute.
    """
    names = split_names(split, limit)
    attr = read_attribute(root)
    labels = np.array([attr[n] for n in names], np.int64)
    folder = embedding_cache_dir(cache)
    path = _cache_file(folder, split, names)
    if path.is_file():
        emb = np.load(path, allow_pickle=False)
        if emb.shape == (len(names), 128):
            yield {"event": "embeddings", "split": split, "embeddings": emb, "labels": labels,
                   "cached": True, "path": str(path)}
            return
    if embedder is None:
        from .models.dlib_resnet import DlibResNet

        embedder = DlibResNet(device=device)
    d = celeba_dir(root)
    out, t0 = [], time.perf_counter()
    for i in range(0, len(names), batch):
        if _cancelled(cancel):
            return
        part = names[i:i + batch]
        chips = batch_chips(np.stack([load_photo(d / IMAGE_DIR / n).pixels for n in part]),
                            HEAD_SPEC)
        out.append(embedder.predict(chips).embeddings.astype(np.float32))
        done = i + len(part)
        yield {"event": "embed", "split": split, "done": done, "total": len(names),
               "images_per_s": done / (time.perf_counter() - t0)}
    emb = np.concatenate(out)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, emb, allow_pickle=False)
    tmp.replace(path)
    yield {"event": "embeddings", "split": split, "embeddings": emb, "labels": labels,
           "cached": False, "path": str(path)}


def train_head(*, hidden: int = 0, epochs: int = 40, batch_size: int = 256, lr: float = 1e-2,
               weight_decay: float = 1e-4, seed: int = 0, train_limit: int | None = None,
               val_limit: int | None = None, root=None, cache=None,
               device: str | torch.device = "cpu", embeddings: dict | None = None,
               embedder=None, cancel: Cancel = None, log_every: int = 10) -> Iterator[dict]:
    """Train the embedding head (logistic regression, or an MLP with ``hidden`` units).

    ``embeddings`` may give ``{"train": (emb, labels), "val": (emb, labels)}``; otherwise the
    CelebA splits are embedded (or read from the cache) first, yielding ``embed`` events.
    Features are standardised with the training set's mean and std (stored in the head).
    """
    device = torch.device(device)
    gen = _seeded(seed)
    if embeddings is None:
        embeddings = {}
        for split, limit in (("train", train_limit), ("val", val_limit)):
            for msg in celeba_embeddings(split, limit=limit, root=root, cache=cache,
                                         embedder=embedder, device=device, cancel=cancel):
                if msg["event"] == "embeddings":
                    embeddings[split] = (msg["embeddings"], msg["labels"])
                else:
                    yield msg
            if split not in embeddings:  # cancelled while embedding
                yield {"event": "done", "net": None, "history": [], "best_epoch": 0,
                       "val_accuracy": float("nan"), "seconds": 0.0, "cancelled": True}
                return
    xtr = torch.as_tensor(embeddings["train"][0], dtype=torch.float32)
    ytr = torch.as_tensor(embeddings["train"][1])
    xva = torch.as_tensor(embeddings["val"][0], dtype=torch.float32).to(device)
    yva = torch.as_tensor(embeddings["val"][1]).to(device)
    net = EmbeddingHead(dim=xtr.shape[1], hidden=hidden)
    net.mean.copy_(xtr.mean(0))
    net.std.copy_(xtr.std(0).clamp_min(1e-6))
    net.to(device)
    xtr, ytr = xtr.to(device), ytr.to(device)
    steps = (len(xtr) + batch_size - 1) // batch_size
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs * steps, 1))
    history, best = [], (-1.0, 0, copy.deepcopy(net.state_dict()))
    t_start, cancelled = time.perf_counter(), False
    for epoch in range(1, epochs + 1):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen).to(device)
        t0, run_loss, run_n = time.perf_counter(), 0.0, 0
        for step in range(steps):
            if _cancelled(cancel):
                cancelled = True
                break
            idx = perm[step * batch_size:(step + 1) * batch_size]
            loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run_loss += loss.item() * len(idx)
            run_n += len(idx)
        if cancelled:
            break
        secs = time.perf_counter() - t0
        net.eval()
        with torch.inference_mode():
            logits = net(xva)
            val_loss = float(F.cross_entropy(logits, yva))
            val_acc = float((logits.argmax(1) == yva).float().mean())
        rec = {"event": "epoch", "epoch": epoch, "epochs": epochs,
               "train_loss": run_loss / max(run_n, 1), "val_loss": val_loss,
               "val_accuracy": val_acc, "images_per_s": run_n / max(secs, 1e-9),
               "seconds": secs}
        history.append({k: v for k, v in rec.items() if k != "event"})
        if val_acc > best[0]:
            best = (val_acc, epoch, copy.deepcopy(net.state_dict()))
        if epoch % log_every == 0 or epoch == epochs:
            yield {"event": "step", "epoch": epoch, "epochs": epochs, "step": steps,
                   "steps": steps, "loss": rec["train_loss"],
                   "images_per_s": rec["images_per_s"]}
        yield rec
    if best[1]:
        net.load_state_dict(best[2])
    yield {"event": "done", "net": net.eval(), "history": history, "best_epoch": best[1],
           "val_accuracy": best[0] if best[1] else float("nan"),
           "seconds": time.perf_counter() - t_start, "cancelled": cancelled,
           "augment": "none", "train_images": len(xtr), "val_images": len(xva)}


# ----------------------------------------------------------------------------- evaluation


def class_metrics(y_true, y_pred, classes: int = 2) -> dict:
    """Accuracy, class-balanced accuracy (mean per-class recall), macro F1 and per-class
    recall / F1 of integer predictions."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    out = {"n": int(len(y_true)),
           "accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan")}
    recalls, f1s = [], []
    for c in range(classes):
        tp = int(((y_pred == c) & (y_true == c)).sum())
        fn = int(((y_pred != c) & (y_true == c)).sum())
        fp = int(((y_pred == c) & (y_true != c)).sum())
        rec = tp / (tp + fn) if tp + fn else float("nan")
        prec = tp / (tp + fp) if tp + fp else 0.0
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        recalls.append(rec)
        f1s.append(f1)
        out[f"recall_{c}"] = rec
        out[f"f1_{c}"] = f1
        out[f"precision_{c}"] = prec
    out["balanced_accuracy"] = float(np.nanmean(recalls)) if len(y_true) else float("nan")
    out["macro_f1"] = float(np.nanmean(f1s)) if len(y_true) else float("nan")
    return out


def evaluate_model(model, split: str = "test", limit: int | None = None, root=None,
                   batch: int = 64) -> dict:
    """A :class:`~.models.base.FaceModel` on a CelebA split, chips built as in training.

    Returns :func:`class_metrics` plus ``"images"`` (the range evaluated).
    """
    preds, labels, names = [], [], []
    for part, chips, y in iter_celeba(split, model.spec, limit, root, batch=batch):
        preds.append(model.predict(chips).probs.argmax(1))
        labels.append(y)
        names += part
    out = class_metrics(np.concatenate(labels), np.concatenate(preds))
    out["images"] = f"{names[0][:6]}-{names[-1][:6]}"
    return out


#: how the training chips were made (recorded in each sidecar)
PREPROCESSING = {
    "cnn": "CelebA aligned 89x109 images, no detector: the celeba-template chip (64x78) around "
           "the landmarks the celeba template assigns to an aligned image (celeba_face), i.e. "
           "the image itself resized; normalised (x - 127.5) / 127.5",
    HEAD_MODEL: "CelebA aligned 89x109 images, no detector: the dlib chip (150 px, padding "
                "0.25) around the landmarks the celeba template assigns to an aligned image "
                "(celeba_face) -> dlib ResNet (dlib-resnet) 128-D embedding, cached as .npy -> "
                "standardised with the training mean/std (stored in the head)",
}


def demo_command(model_id: str, epochs: int, limit: int | None = None, seed: int = 0,
                 hidden: int | None = None) -> str:
    """The command line that retrains a demo model (recorded in its sidecar)."""
    cmd = f"faceinspector train demo --model {model_id} --epochs {epochs}"
    if hidden:
        cmd += f" --hidden {hidden}"
    if seed:
        cmd += f" --seed {seed}"
    if limit:
        cmd += f" --limit {limit}"
    return cmd


def train_demo(model_id: str, out: str | Path | None = None, *, epochs: int | None = None,
               limit: int | None = None, seed: int = 0, hidden: int = 0, root=None,
               cache=None, device: str | torch.device = "cpu", cancel: Cancel = None,
               command: str | None = None) -> Iterator[dict]:
    """Train one demo model, save it (safetensors + JSON sidecar), reload it from disk as the
    app will and record its CelebA test accuracy in the sidecar.

    Yields the training events, then ``{"event": "saved", "weights", "sidecar", "bytes"}`` and
    ``{"event": "evaluated", "test_accuracy", "test_subset_accuracy", "metadata"}``. ``limit``
    uses only the first ``limit`` images of each split (for quick checks). Nothing is saved
    when cancelled.
    """
    from datetime import datetime, timezone

    from .models import demo

    if model_id not in DEMO_MODEL_IDS:
        raise KeyError(f"unknown demo model {model_id!r}; known: {', '.join(DEMO_MODEL_IDS)}")
    out = Path(out) if out is not None else demo.CHECKPOINT_DIR
    is_head = model_id == HEAD_MODEL
    epochs = epochs or (40 if is_head else 4)
    if is_head:
        gen = train_head(hidden=hidden, epochs=epochs, seed=seed, train_limit=limit,
                         val_limit=limit, root=root, cache=cache, device=device, cancel=cancel)
    else:
        gen = train_cnn(model_id, epochs=epochs, seed=seed, train_limit=limit, val_limit=limit,
                        root=root, device=device, cancel=cancel)
    done = None
    for msg in gen:
        if msg["event"] == "done":
            done = msg
        yield msg
    if done is None or done["cancelled"] or done["net"] is None:
        return
    net = done["net"].cpu()
    cls = demo.DEMO_MODELS[model_id]
    if is_head:
        arch = {"kind": "head", "dim": int(net.mean.numel()), "hidden": hidden}
        augment = "none (embeddings of the un-augmented dlib chips)"
        hyper = {"optimizer": "AdamW", "lr": 1e-2, "weight_decay": 1e-4, "batch_size": 256,
                 "schedule": "cosine"}
    else:
        arch = {"kind": "cnn", "size": list(demo.CNN_SIZE), "widths": [16, 32, 64, 64],
                "hidden": 64}
        augment = {"flip": "horizontal flip (p = 0.5) only",
                   "randomcrop": f"horizontal flip (p = 0.5) and a random crop of every sample: "
                                 f"shift up to ±{MAX_SHIFT:g} of the chip side in x and y, zoom "
                                 f"{SCALE_RANGE[0]:g}–{SCALE_RANGE[1]:g}, mirrored borders"
                   }[done["augment"]]
        hyper = {"optimizer": "AdamW", "lr": 2e-3, "weight_decay": 1e-4, "batch_size": 64,
                 "schedule": "one-cycle"}
    meta = {
        "model_id": model_id, "title": cls.title, "task": "classification",
        "labels": list(LABELS), "spec": demo.spec_to_dict(cls.spec), "arch": arch,
        "augmentation": augment,
        "preprocessing": PREPROCESSING[HEAD_MODEL if is_head else "cnn"],
        "command": command or demo_command(model_id, epochs, limit, seed, hidden or None),
        "training": {"epochs": epochs, "seed": seed, **hyper,
                     "train_images": done["train_images"], "val_images": done["val_images"],
                     "best_epoch": done["best_epoch"], "val_accuracy": done["val_accuracy"],
                     "seconds": round(done["seconds"], 1), "device": str(device),
                     "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                     "history": done["history"]},
        "data": demo.DATA_CREDIT, "licence": demo.LICENCE,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
    weights, sidecar = demo.checkpoint_paths(model_id, out)
    demo.save_checkpoint(net, meta, weights, sidecar)
    yield {"event": "saved", "weights": weights, "sidecar": sidecar,
           "bytes": weights.stat().st_size}
    model = cls(device=device, weights=weights, sidecar=sidecar)
    full = evaluate_model(model, "test", limit, root)
    sub = evaluate_model(model, "test", min(TEST_SUBSET, limit or TEST_SUBSET), root)
    keep = ("n", "images", "accuracy", "balanced_accuracy", "macro_f1")
    meta = demo.update_sidecar(sidecar, test_accuracy={k: full[k] for k in keep},
                               test_subset_accuracy={k: sub[k] for k in keep})
    demo.save_checkpoint(net, meta, weights, sidecar)  # the header carries the final metadata
    yield {"event": "evaluated", "test_accuracy": meta["test_accuracy"],
           "test_subset_accuracy": meta["test_subset_accuracy"], "metadata": meta}


def drain(gen: Iterator[dict], on_event: Callable[[dict], None] | None = None) -> dict:
    """Run a training generator to the end; return its ``done`` event."""
    last = None
    for msg in gen:
        if on_event:
            on_event(msg)
        if msg["event"] == "done":
            last = msg
    if last is None:
        raise RuntimeError("the training generator ended without a 'done' event")
    return last


__all__ = ["AUGMENT", "CNN_MODELS", "DEMO_MODEL_IDS", "DataError", "HEAD_MODEL", "LABELS",
           "SPLITS", "TEST_SUBSET", "augment_batch", "celeba_dir", "celeba_embeddings",
           "batch_chips", "celeba_face", "chips_for", "class_metrics", "data_root", "demo_command",
           "drain", "embedding_cache_dir", "evaluate_model", "iter_celeba", "load_celeba",
           "read_attribute", "split_names", "train_cnn", "train_demo", "train_head"]
