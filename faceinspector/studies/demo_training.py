"""Training the demo classifiers (issue 8): augmentation, training loops and checkpoints.

The networks are :mod:`faceinspector.backend.models.demo`'s, the data and chips
:mod:`.celeba`'s; ``faceinspector train demo`` runs :func:`train_demo`. Each long function is
a task (:mod:`faceinspector.backend.tasks`) yielding ``tasks.Progress``:

* stage ``"load"`` (CNNs) or ``"embed"`` (head) while CelebA's train and val splits are read or
  embedded, counted over both, ``info={"split"}``;
* stage ``"train"`` (``done`` / ``total`` in steps), ``info={"epoch", "step", "loss",
  "images_per_s"}``, and a ``tasks.note`` per epoch whose ``info`` is the epoch's record in
  :attr:`TrainResult.history`;
* stage ``"evaluate"`` while :func:`train_demo` scores the saved model on CelebA's test split.

:func:`train_cnn` and :func:`train_head` return a :class:`TrainResult`; cancelled between
steps, one with ``cancelled=True`` and the best weights so far. Cancelled while the data is
read or embedded, they raise ``tasks.Cancelled``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..backend import tasks
from ..backend.models.demo import CNN_SPEC, LABELS, DemoCNN, EmbeddingHead
from .celeba import TEST_SUBSET, celeba_embeddings, load_celeba, split_names
from .metrics import evaluate_model

#: the augmentations: "flip" (horizontal flips only) and "randomcrop" (flips plus a random
#: crop of every sample: shift up to ±MAX_SHIFT of the chip side, zoom in SCALE_RANGE)
AUGMENT = {"celeba-cnn-naive": "flip", "celeba-cnn-randomcrop": "randomcrop"}
MAX_SHIFT = 0.125
SCALE_RANGE = (0.85, 1.15)

CNN_MODELS = tuple(AUGMENT)
HEAD_MODEL = "celeba-embedding-head"
DEMO_MODEL_IDS = (*CNN_MODELS, HEAD_MODEL)

@dataclass(frozen=True, eq=False)
class TrainResult:
    """What :func:`train_cnn` and :func:`train_head` return.

    Attributes
    ----------
    net : the network (CPU or ``device``, eval mode) with the weights of the epoch with the
        best validation accuracy (the best so far when cancelled).
    history : one record per finished epoch (the ``info`` of its note).
    best_epoch : that epoch (0: no epoch finished, ``net`` holds the initial weights).
    val_accuracy : its validation accuracy (NaN when no epoch finished).
    seconds : time spent training.
    cancelled : True when stopped by the cancel token.
    augment : the augmentation used ("flip", "randomcrop" or "none").
    train_images, val_images : how many samples each set had.
    """

    net: torch.nn.Module
    history: tuple[dict, ...]
    best_epoch: int
    val_accuracy: float
    seconds: float
    cancelled: bool
    augment: str
    train_images: int
    val_images: int


Task = Generator[tasks.Progress, None, TrainResult]

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


def _both_splits(make, train_limit, val_limit):
    """Task: ``make(split, limit)``'s task for train then val, as one stage counted over both;
    returns {split: result}."""
    n_train = len(split_names("train", train_limit))
    total = n_train + len(split_names("val", val_limit))
    out = {}
    for split, limit, offset in (("train", train_limit, 0), ("val", val_limit, n_train)):
        out[split] = yield from tasks.relay(make(split, limit), offset=offset, total=total)
    return out


def _step_progress(epoch, epochs, step, steps, loss, images_per_s) -> tasks.Progress:
    return tasks.Progress((epoch - 1) * steps + step, epochs * steps, f"epoch {epoch}/{epochs}",
                          "train", {"epoch": epoch, "step": step, "loss": loss,
                                    "images_per_s": images_per_s})


def _epoch_note(rec: dict) -> tasks.Progress:
    return tasks.note(f"epoch {rec['epoch']}/{rec['epochs']}: train loss "
                      f"{rec['train_loss']:.4f}, val loss {rec['val_loss']:.4f}, val accuracy "
                      f"{rec['val_accuracy'] * 100:.2f} %, {rec['seconds']:.0f} s", **rec)


def train_cnn(model_id: str = "celeba-cnn-naive", *, epochs: int = 4, batch_size: int = 64,
              lr: float = 2e-3, weight_decay: float = 1e-4, augment: str | None = None,
              seed: int = 0, train_limit: int | None = None, val_limit: int | None = None,
              root=None, device: str | torch.device = "cpu", data: dict | None = None,
              cancel: tasks.CancelToken | None = None, log_every: int = 20) -> Task:
    """Task: train a demo CNN (AdamW, one-cycle schedule); returns a :class:`TrainResult`.

    ``data`` may give ``{"train": (chips, labels), "val": (chips, labels)}`` (uint8 chips
    (N, 78, 64, 3)) instead of reading CelebA; ``augment`` defaults to the model's own
    (``AUGMENT``). A ``"train"`` progress every ``log_every`` steps and at each epoch's end.
    """
    augment = augment or AUGMENT.get(model_id, "flip")
    device = torch.device(device)
    gen = _seeded(seed)
    if data is None:
        loaded = yield from _both_splits(
            lambda split, limit: load_celeba(split, CNN_SPEC, limit, root, cancel),
            train_limit, val_limit)
        data = {k: v[:2] for k, v in loaded.items()}
    xtr, ytr = _to_tensor(data["train"][0]), torch.as_tensor(data["train"][1])
    xva, yva = _to_tensor(data["val"][0]), torch.as_tensor(data["val"][1])
    h, w = xtr.shape[2], xtr.shape[3]
    net = DemoCNN(size=(w, h)).to(device).to(memory_format=torch.channels_last)
    steps = (len(xtr) + batch_size - 1) // batch_size
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    total = max(epochs * steps, 1)
    # 20 % warm-up; torch divides by zero when that is exactly one step (5 steps in all)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total,
                                                pct_start=0.2 if total != 5 else 0.4)
    history, best = [], (-1.0, 0, copy.deepcopy(net.state_dict()))
    t_start, cancelled = time.perf_counter(), False
    for epoch in range(1, epochs + 1):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen)
        t0, run_loss, run_n = time.perf_counter(), 0.0, 0
        for step in range(steps):
            if tasks.is_cancelled(cancel):
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
            run_loss += loss.item() * len(idx)
            run_n += len(idx)
            if (step + 1) % log_every == 0 or step + 1 == steps:
                yield _step_progress(epoch, epochs, step + 1, steps, run_loss / run_n,
                                     run_n / (time.perf_counter() - t0))
        if cancelled:
            break
        secs = time.perf_counter() - t0
        val_loss, val_acc = _evaluate_logits(net, xva, yva, CNN_SPEC, device)
        rec = {"epoch": epoch, "epochs": epochs, "train_loss": run_loss / max(run_n, 1),
               "val_loss": val_loss, "val_accuracy": val_acc, "images_per_s": run_n / secs,
               "seconds": secs}
        history.append(rec)
        if val_acc > best[0]:
            best = (val_acc, epoch, copy.deepcopy(net.state_dict()))
        yield _epoch_note(rec)
    if best[1]:
        net.load_state_dict(best[2])
    net.eval().to(memory_format=torch.contiguous_format)
    return TrainResult(net, tuple(history), best[1], best[0] if best[1] else float("nan"),
                       time.perf_counter() - t_start, cancelled, augment, len(xtr), len(xva))


def train_head(*, hidden: int = 0, epochs: int = 40, batch_size: int = 256, lr: float = 1e-2,
               weight_decay: float = 1e-4, seed: int = 0, train_limit: int | None = None,
               val_limit: int | None = None, root=None, cache=None,
               device: str | torch.device = "cpu", embeddings: dict | None = None,
               embedder=None, cancel: tasks.CancelToken | None = None,
               log_every: int = 10) -> Task:
    """Task: train the embedding head (logistic regression, or an MLP with ``hidden`` units).

    ``embeddings`` may give ``{"train": (emb, labels), "val": (emb, labels)}``; otherwise the
    CelebA splits are embedded (or read from the cache) first (stage ``"embed"``). Features
    are standardised with the training set's mean and std (stored in the head). A ``"train"``
    progress every ``log_every`` epochs; returns a :class:`TrainResult`.
    """
    device = torch.device(device)
    gen = _seeded(seed)
    if embeddings is None:
        got = yield from _both_splits(
            lambda split, limit: celeba_embeddings(split, limit=limit, root=root, cache=cache,
                                                   embedder=embedder, device=device,
                                                   cancel=cancel),
            train_limit, val_limit)
        embeddings = {k: (e.embeddings, e.labels) for k, e in got.items()}
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
            if tasks.is_cancelled(cancel):
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
        rec = {"epoch": epoch, "epochs": epochs, "train_loss": run_loss / max(run_n, 1),
               "val_loss": val_loss, "val_accuracy": val_acc,
               "images_per_s": run_n / max(secs, 1e-9), "seconds": secs}
        history.append(rec)
        if val_acc > best[0]:
            best = (val_acc, epoch, copy.deepcopy(net.state_dict()))
        if epoch % log_every == 0 or epoch == epochs:
            yield _step_progress(epoch, epochs, steps, steps, rec["train_loss"],
                                 rec["images_per_s"])
        yield _epoch_note(rec)
    if best[1]:
        net.load_state_dict(best[2])
    return TrainResult(net.eval(), tuple(history), best[1],
                       best[0] if best[1] else float("nan"), time.perf_counter() - t_start,
                       cancelled, "none", len(xtr), len(xva))


# ------------------------------------------------------------------------------ checkpoints


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


@dataclass(frozen=True, eq=False)
class DemoResult:
    """What :func:`train_demo` returns.

    Attributes
    ----------
    model_id : the demo model trained.
    training : the training run (``training.cancelled``: stopped early, nothing saved).
    weights, sidecar : the files written (None when cancelled).
    bytes : size of the weights file.
    test_accuracy, test_subset_accuracy : the recorded CelebA test scores (n, images,
        accuracy, balanced_accuracy, macro_f1), None when cancelled.
    metadata : the final sidecar, None when cancelled.
    """

    model_id: str
    training: TrainResult
    weights: Path | None = None
    sidecar: Path | None = None
    bytes: int = 0
    test_accuracy: dict | None = None
    test_subset_accuracy: dict | None = None
    metadata: dict | None = None

    @property
    def cancelled(self) -> bool:
        return self.training.cancelled


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


def _training_record(model_id: str, res: TrainResult, hidden: int) -> tuple[dict, str, dict]:
    """(arch, augmentation text, hyper-parameters) of a finished run, for the sidecar."""
    from ..backend.models import demo

    if model_id == HEAD_MODEL:
        return ({"kind": "head", "dim": int(res.net.mean.numel()), "hidden": hidden},
                "none (embeddings of the un-augmented dlib chips)",
                {"optimizer": "AdamW", "lr": 1e-2, "weight_decay": 1e-4, "batch_size": 256,
                 "schedule": "cosine"})
    augment = {"flip": "horizontal flip (p = 0.5) only",
               "randomcrop": f"horizontal flip (p = 0.5) and a random crop of every sample: "
                             f"shift up to ±{MAX_SHIFT:g} of the chip side in x and y, zoom "
                             f"{SCALE_RANGE[0]:g}–{SCALE_RANGE[1]:g}, mirrored borders"
               }[res.augment]
    return ({"kind": "cnn", "size": list(demo.CNN_SIZE), "widths": [16, 32, 64, 64],
             "hidden": 64}, augment,
            {"optimizer": "AdamW", "lr": 2e-3, "weight_decay": 1e-4, "batch_size": 64,
             "schedule": "one-cycle"})


def train_demo(model_id: str, out: str | Path | None = None, *, epochs: int | None = None,
               limit: int | None = None, seed: int = 0, hidden: int = 0, root=None,
               cache=None, device: str | torch.device = "cpu",
               cancel: tasks.CancelToken | None = None, command: str | None = None
               ) -> Generator[tasks.Progress, None, DemoResult]:
    """Task: train one demo model, save it (safetensors + JSON sidecar), reload it from disk as
    the app will and record its CelebA test accuracy in the sidecar.

    Yields the training's progress, then stage ``"evaluate"`` (the test split, then its fixed
    subset); returns a :class:`DemoResult`. ``limit`` uses only the first ``limit`` images of
    each split (for quick checks). Cancelled during training: nothing is saved and the result
    says so. Once saved, the evaluation runs to the end so the sidecar is complete. ``out``:
    the checkpoint folder, by default ``<model cache>/demo-models`` (never the installed
    package; in a checkout, ``resources/demo-models`` replaces the shipped ones). ``root``: the
    CelebA folder (any layout :func:`datasets.celeba` accepts).
    """
    from datetime import datetime, timezone

    from ..backend.models import demo

    if model_id not in DEMO_MODEL_IDS:
        raise KeyError(f"unknown demo model {model_id!r}; known: {', '.join(DEMO_MODEL_IDS)}")
    if out is None:
        from ..backend.assets import cache_dir

        out = cache_dir() / "demo-models"
    out = Path(out)
    is_head = model_id == HEAD_MODEL
    epochs = epochs or (40 if is_head else 4)
    if is_head:
        res = yield from train_head(hidden=hidden, epochs=epochs, seed=seed, train_limit=limit,
                                    val_limit=limit, root=root, cache=cache, device=device,
                                    cancel=cancel)
    else:
        res = yield from train_cnn(model_id, epochs=epochs, seed=seed, train_limit=limit,
                                   val_limit=limit, root=root, device=device, cancel=cancel)
    if res.cancelled:
        return DemoResult(model_id, res)
    net = res.net.cpu()
    cls = demo.DEMO_MODELS[model_id]
    arch, augment, hyper = _training_record(model_id, res, hidden)
    meta = {
        "model_id": model_id, "title": cls.title, "task": "classification",
        "labels": list(LABELS), "spec": demo.spec_to_dict(cls.spec), "arch": arch,
        "augmentation": augment,
        "preprocessing": PREPROCESSING[HEAD_MODEL if is_head else "cnn"],
        "command": command or demo_command(model_id, epochs, limit, seed, hidden or None),
        "training": {"epochs": epochs, "seed": seed, **hyper,
                     "train_images": res.train_images, "val_images": res.val_images,
                     "best_epoch": res.best_epoch, "val_accuracy": res.val_accuracy,
                     "seconds": round(res.seconds, 1), "device": str(device),
                     "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                     "history": list(res.history)},
        "data": demo.DATA_CREDIT, "licence": demo.LICENCE,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
    weights, sidecar = demo.checkpoint_paths(model_id, out)
    demo.save_checkpoint(net, meta, weights, sidecar)
    model = cls(device=device, weights=weights, sidecar=sidecar)
    n_full = len(split_names("test", limit))
    n_sub = min(TEST_SUBSET, limit or TEST_SUBSET)
    full = yield from tasks.relay(evaluate_model(model, "test", limit, root),
                                  total=n_full + n_sub)
    sub = yield from tasks.relay(evaluate_model(model, "test", n_sub, root), offset=n_full,
                                 total=n_full + n_sub)
    keep = ("n", "images", "accuracy", "balanced_accuracy", "macro_f1")
    meta = demo.update_sidecar(sidecar, test_accuracy={k: full[k] for k in keep},
                               test_subset_accuracy={k: sub[k] for k in keep})
    demo.save_checkpoint(net, meta, weights, sidecar)  # the header carries the final metadata
    return DemoResult(model_id, res, weights, sidecar, weights.stat().st_size,
                      meta["test_accuracy"], meta["test_subset_accuracy"], meta)


__all__ = ["AUGMENT", "CNN_MODELS", "DEMO_MODEL_IDS", "HEAD_MODEL", "LABELS", "MAX_SHIFT",
           "PREPROCESSING", "SCALE_RANGE", "DemoResult", "TrainResult", "augment_batch",
           "demo_command", "train_cnn", "train_demo", "train_head"]
