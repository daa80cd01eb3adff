"""Training a VAE or DB-VAE on chips: a task (:mod:`faceinspector.backend.tasks`).

:func:`train` loads the data (unless given), builds or resumes the model, runs the epochs and
saves checkpoints; stopping it (its cancel token) ends the run after the current step with a
checkpoint, and resuming that checkpoint gives the same weights as an uninterrupted run (the
RNG states and the epoch's resampling weights are saved with it).

DB-VAE resampling (Amini et al., "Uncovering and Mitigating Algorithmic Bias through Learned
Latent Structure", AIES 2019): at the start of each epoch, the training faces are drawn with
:func:`~.resampling.resampling_weights` of their latent means, half of each batch, the other
half being non-face chips.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .. import tasks
from ..detect import pick_device
from ..files import check_writable
from .checkpoint import load_checkpoint, save_checkpoint
from .data import VAE_TEMPLATE, ChipData, iter_load_data
from .latent import encode, latent_means, reconstruct
from .model import VAE, build_model, dbvae_loss, vae_loss
from .resampling import resampling_weights

CELEBA_CREDIT = ("Trained on CelebA (Liu, Luo, Wang and Tang, 'Deep Learning Face Attributes in "
                 "the Wild', ICCV 2015; MMLAB, The Chinese University of Hong Kong). CelebA is "
                 "available for non-commercial research purposes only.")


@dataclass
class TrainConfig:
    """Everything that decides a training run (stored in the checkpoint's metadata).

    ``epochs`` is the total: resuming a checkpoint that has done 10 of them with ``epochs=15``
    runs 5 more. ``threads``: ``torch.set_num_threads`` for the run (None: leave as is).
    ``checkpoint_every``: also save every N steps (0: at the end of each epoch only).
    ``lr_schedule``: ``"constant"`` or ``"cosine"`` (from ``lr`` down to ``lr / 20`` at the last
    step of ``epochs``; a function of the position, so resuming follows the same curve).
    ``data``: ``"celeba"`` or a folder; ``celeba``: the CelebA folder for ``data="celeba"``
    (any layout :func:`~faceinspector.backend.datasets.celeba` accepts; None: where the
    environment says).
    ``blocks``: 0 for the 6.S191 network, N >= 1 for the residual design with N blocks per
    scale (:mod:`.model`); ``grid``: 8 or 16 for its spatial latent (0: flat).
    ``id_weight``: weight of the identity term, the L2 distance between
    dlib's ResNet embedding of each decoded face and that of its chip (:mod:`.identity`; 0:
    none), from ``id_start`` (a share of the run) on: a decoder that has not learnt faces yet
    meets the ResNet's gradient with textures that fool it, not with faces. ``kl_warmup``:
    the KL weight rises linearly from 0 to ``kl_weight`` over this share of the run (0:
    constant).
    """

    data: str = "celeba"
    celeba: str | None = None
    limit: int | None = 9000
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    dbvae: bool = False
    latent_dim: int = 100
    n_filters: int = 12
    blocks: int = 0
    grid: int = 0
    kl_weight: float = 5e-4
    kl_warmup: float = 0.0
    id_weight: float = 0.0
    id_start: float = 0.0
    flip: bool = True
    aligned: bool | None = None
    negatives: int = 2
    resample_bins: int = 10
    resample_smoothing: float = 1e-3
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    out: str | None = None
    sample_every: int = 100
    n_samples: int = 8
    checkpoint_every: int = 0
    command: str = ""


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : the trained model, eval mode.
    checkpoint : the file written last (``config.out``), or None.
    cancelled : the run was stopped before its last epoch (the checkpoint resumes it).
    step, epoch : the position reached (``epoch`` counts finished epochs).
    seconds, images_per_s : this run's wall time and mean speed.
    weights : DB-VAE: the last epoch's sampling probabilities, float64 ``(N,)``; else None.
    """

    model: VAE
    checkpoint: str | None
    cancelled: bool
    step: int
    epoch: int
    seconds: float
    images_per_s: float
    weights: np.ndarray | None = None


def _set_lr(opt, lr):
    for g in opt.param_groups:
        g["lr"] = lr


def _lr_at(cfg: TrainConfig, done: float) -> float:
    """Learning rate after ``done`` (0..1) of the run."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule != "cosine":
        raise ValueError("lr_schedule must be 'constant' or 'cosine'")
    lo = cfg.lr / 20
    return lo + 0.5 * (cfg.lr - lo) * (1 + math.cos(math.pi * min(max(done, 0.0), 1.0)))


@dataclass(eq=False)
class _Run:
    """One run's state: what a checkpoint saves, and the clocks."""

    cfg: TrainConfig
    data: ChipData
    device: torch.device
    chips: torch.Tensor  # uint8 (N, 3, 64, 64) on the device
    negs: torch.Tensor | None  # DB-VAE: the non-face chips, likewise
    model: VAE
    opt: torch.optim.Optimizer
    half: int  # training faces per batch
    batches: int  # per epoch
    dev_name: str
    sample_idx: torch.Tensor
    epoch: int = 0
    batch: int = 0
    step: int = 0
    history: list = field(default_factory=list)
    seconds_before: float = 0.0  # the resumed checkpoint's
    images_before: int = 0
    resumed: dict = field(default_factory=dict)  # the resumed checkpoint's state tensors
    t_start: float = 0.0
    images: int = 0
    win_t: float = 0.0  # images/s over a window of about 2 s
    win_n: int = 0
    rate: float = 0.0
    last: dict = field(default_factory=dict)  # the last step's losses
    weights: np.ndarray | None = None
    id_net: object = None  # identity term: the ResNet (IdentityNet) ...
    id_targets: torch.Tensor | None = None  # ... and each chip's embeddings (N, 2, 128)

    @property
    def n(self) -> int:
        return len(self.chips)


# ============================================================================= set-up


def _tensors(cfg: TrainConfig, data: ChipData, device: torch.device):
    """The chips (and the DB-VAE's non-face chips) as uint8 NCHW tensors on ``device``."""
    chips = torch.from_numpy(np.ascontiguousarray(data.chips)).permute(0, 3, 1, 2).contiguous()
    negs = None
    if cfg.dbvae:
        if data.negatives is None or not len(data.negatives):
            raise ValueError("the DB-VAE needs non-face chips (negatives) in the data")
        negs = torch.from_numpy(np.ascontiguousarray(data.negatives)).permute(0, 3, 1, 2)
        negs = negs.contiguous().to(device)
    return chips.to(device), negs


def _start(cfg: TrainConfig, data: ChipData, device: torch.device, resume,
           id_targets: np.ndarray | None = None) -> _Run:
    """A new run, or the run in checkpoint ``resume`` continued (RNG states included)."""
    chips, negs = _tensors(cfg, data, device)
    torch.manual_seed(cfg.seed)
    model = build_model("dbvae" if cfg.dbvae else "vae", cfg.latent_dim,
                        cfg.n_filters, cfg.blocks, cfg.grid).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    half = cfg.batch_size // 2 if cfg.dbvae else cfg.batch_size
    n = len(chips)
    dev_name = (f"CUDA ({torch.cuda.get_device_name(device)})" if device.type == "cuda"
                else f"CPU ({torch.get_num_threads()} threads)")
    run = _Run(cfg, data, device, chips, negs, model, opt, half, max(1, n // half), dev_name,
               torch.linspace(0, n - 1, min(cfg.n_samples, n)).long())
    if id_targets is not None:
        from .identity import identity_net

        run.id_net = identity_net(device)
        run.id_targets = torch.from_numpy(id_targets).to(device)
    if resume:
        _resume(run, resume)
    run.history.append({"command": cfg.command, "from_step": run.step,
                        "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    run.t_start = run.win_t = time.perf_counter()
    if "rng_cpu" in run.resumed:  # the same noise and flips as an uninterrupted run
        torch.set_rng_state(run.resumed["rng_cpu"])
    if "rng_cuda" in run.resumed and device.type == "cuda":
        torch.cuda.set_rng_state(run.resumed["rng_cuda"], device)
    model.train()
    return run


def _resume(run: _Run, path) -> None:
    """Load the weights, optimizer state, position and history of checkpoint ``path``."""
    old, saved = load_checkpoint(path, run.device, with_state=True)
    if old.config() != run.model.config():
        raise ValueError(f"cannot resume {path}: it is {old.config()}, this run is "
                         f"{run.model.config()}")
    run.model.load_state_dict(old.state_dict())
    if saved["optimizer"] is not None:
        run.opt.load_state_dict(saved["optimizer"])
    _set_lr(run.opt, run.cfg.lr)
    run.resumed = saved["tensors"]
    prog = old.meta.get("progress", {})
    run.epoch, run.batch, run.step = prog.get("epoch", 0), prog.get("batch", 0), prog.get("step", 0)
    run.seconds_before = prog.get("seconds", 0.0)
    run.images_before = prog.get("images", 0)
    run.history = list(old.meta.get("history", []))


# ============================================================================= epochs


def _epoch_weights(run: _Run) -> np.ndarray:
    """DB-VAE: this epoch's sampling probabilities (a mid-epoch resume reuses the saved ones)."""
    saved = run.resumed.pop("resample_weights", None)
    if run.batch > 0 and saved is not None and len(saved) == run.n:
        return saved.double().numpy()
    mu = latent_means(run.model, run.data.chips)
    weights = resampling_weights(mu, run.cfg.resample_bins, run.cfg.resample_smoothing)
    run.model.train()
    return weights


def _epoch(run: _Run, cancel: tasks.CancelToken | None) -> Generator:
    """Task: the rest of the current epoch; returns True when ``cancel`` stopped it."""
    cfg = run.cfg
    rng = np.random.default_rng([cfg.seed, run.epoch])
    neg_order = None
    if cfg.dbvae:
        w = run.weights = _epoch_weights(run)
        yield tasks.Progress(run.epoch, cfg.epochs, f"epoch {run.epoch + 1}: resampling "
                             f"weights max/mean {w.max() / w.mean():.1f}", "weights",
                             {"epoch": run.epoch, "weights": w, "names": run.data.names,
                              "chips": run.data.chips})
        order = rng.choice(run.n, size=run.batches * run.half, p=w)
        neg_order = rng.integers(0, len(run.negs), size=run.batches * run.half)
    else:
        order = rng.permutation(run.n)
    while run.batch < run.batches:
        if tasks.is_cancelled(cancel):
            return True
        info = _step(run, order, neg_order)
        yield tasks.Progress(run.epoch * run.batches + run.batch, cfg.epochs * run.batches,
                             f"epoch {run.epoch + 1}/{cfg.epochs}", "train", info)
        if cfg.out and cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0:
            yield _save(run, cfg.out)
    run.epoch += 1
    run.batch = 0
    yield tasks.note(_epoch_line(run))
    if cfg.out and run.epoch < cfg.epochs:
        yield _save(run, cfg.out)
    return False


def _epoch_line(run: _Run) -> str:
    last = run.last
    extra = f"  BCE {last['cls']:.4f} acc {last['acc']:.3f}" if "cls" in last else ""
    losses = (f"  loss {last['loss']:.4f}  L1 {last['l1']:.4f}  KL {last['kl']:.1f}{extra}"
              if last else "")
    if "id" in last:
        losses += f"  ID {last['id']:.4f}"
    return (f"epoch {run.epoch}/{run.cfg.epochs}  step {run.step}{losses}  {run.rate:.0f} img/s"
            f"  {time.perf_counter() - run.t_start:.0f} s  [{run.dev_name}]")


# =============================================================================== steps


def _batch(run: _Run, order, neg_order):
    """The next batch: float chips in [0, 1], the face labels, the faces' indices."""
    cfg, dev, half, b = run.cfg, run.device, run.half, run.batch
    idx = torch.from_numpy(order[b * half:(b + 1) * half]).to(dev)
    x = run.chips[idx]
    y = None
    if cfg.dbvae:
        nidx = torch.from_numpy(neg_order[b * half:(b + 1) * half]).to(dev)
        x = torch.cat([x, run.negs[nidx]])
        y = torch.cat([torch.ones(half, device=dev), torch.zeros(half, device=dev)])
    x = x.float().div_(255.0)
    return x, y, idx


def _kl_weight_at(cfg: TrainConfig, done: float) -> float:
    if cfg.kl_warmup > 0:
        return cfg.kl_weight * min(1.0, max(done, 0.0) / cfg.kl_warmup)
    return cfg.kl_weight


def _losses(run: _Run, x: torch.Tensor, y: torch.Tensor | None, kl_weight: float,
            target: torch.Tensor | None = None) -> dict:
    """The step's terms; ``target``: the identity embeddings of the faces (the first
    ``len(target)`` images of the batch)."""
    cfg = run.cfg
    out = run.model(x)
    if cfg.dbvae:
        terms = dbvae_loss(x, out["recon"], out["mu"], out["logvar"], out["logit"], y,
                           kl_weight)
    else:
        total, l1, kl = vae_loss(x, out["recon"], out["mu"], out["logvar"], kl_weight)
        terms = {"loss": total.mean(), "l1": l1.mean(), "kl": kl.mean()}
    if target is not None:
        emb = run.id_net(out["recon"][:len(target)])
        dist = (emb - target).pow(2).sum(1).add(1e-8).sqrt().mean()
        terms["id"] = dist
        terms["loss"] = terms["loss"] + cfg.id_weight * dist * len(target) / len(x)
    return terms


def _step(run: _Run, order, neg_order) -> dict:
    """One optimizer step; returns the step's ``info`` (losses, speed, maybe samples)."""
    cfg = run.cfg
    x, y, idx = _batch(run, order, neg_order)
    done = (run.epoch * run.batches + run.batch) / (cfg.epochs * run.batches)
    lr = _lr_at(cfg, done)
    _set_lr(run.opt, lr)
    flip = torch.zeros(len(x), dtype=torch.bool, device=run.device)
    if cfg.flip:
        flip = torch.rand(len(x), device=run.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    target = None
    if run.id_targets is not None and done >= cfg.id_start:
        target = run.id_targets[idx, flip[:len(idx)].long()]
    terms = _losses(run, x, y, _kl_weight_at(cfg, done), target)
    run.opt.zero_grad(set_to_none=True)
    terms["loss"].backward()
    run.opt.step()
    run.step += 1
    run.batch += 1
    run.images += len(x)
    run.win_n += len(x)
    now = time.perf_counter()
    if now - run.win_t >= 2.0 or run.rate == 0.0:
        run.rate = run.win_n / max(now - run.win_t, 1e-9)
        run.win_t, run.win_n = now, 0
    run.last = {k: float(v.detach()) for k, v in terms.items()}
    info = {**run.last, "images_per_s": run.rate, "step": run.step, "epoch": run.epoch,
            "epochs": cfg.epochs, "batch": run.batch, "batches": run.batches, "lr": lr,
            "elapsed_s": now - run.t_start, "device": run.dev_name}
    if cfg.sample_every and (run.step % cfg.sample_every == 0 or run.step == 1):
        orig = run.data.chips[run.sample_idx.numpy()]
        info["samples"] = {"original": orig, "reconstruction": reconstruct(run.model, orig)}
        run.model.train()
        run.win_t = time.perf_counter() - (now - run.win_t)  # do not count sampling time
    return info


# ========================================================================== checkpoint


def _save(run: _Run, path, final: bool = False) -> tasks.Progress:
    """Write the run to ``path`` (``final``: with the latent statistics of the training
    faces); returns the ``"checkpoint"`` progress to yield."""
    cfg, data = run.cfg, run.data
    seconds = run.seconds_before + time.perf_counter() - run.t_start
    images = run.images_before + run.images
    meta = {
        "data": {"source": cfg.data, "description": data.description, "count": run.n,
                 "negatives": 0 if run.negs is None else len(run.negs)},
        "credit": CELEBA_CREDIT if cfg.data == "celeba" else "",
        "template": {"name": VAE_TEMPLATE.name, "size": list(VAE_TEMPLATE.size),
                     "points": VAE_TEMPLATE.points.tolist()},
        "loss": {"kl_weight": cfg.kl_weight, "reconstruction": "L1 (mean over pixels)",
                 **({"kl_warmup": cfg.kl_warmup} if cfg.kl_warmup else {}),
                 **({"identity": {"weight": cfg.id_weight, "start": cfg.id_start,
                                  "distance": "L2 between dlib "
                                  "ResNet embeddings (torch port), chips upscaled bilinearly "
                                  "to 150x150"}} if cfg.id_weight else {}),
                 **({"classification": "BCE on z0"} if cfg.dbvae else {})},
        "train_config": {k: v for k, v in asdict(cfg).items() if k != "command"},
        "command": run.history[0]["command"] if len(run.history) == 1 else cfg.command,
        "history": run.history[:-1] + [{**run.history[-1], "to_step": run.step}],
        "progress": {"epoch": run.epoch, "batch": run.batch, "step": run.step,
                     "seconds": seconds, "images": images,
                     "images_per_s": round(images / seconds, 1) if seconds else 0},
        "last_losses": {k: run.last[k] for k in ("loss", "l1", "kl", "id", "cls", "acc")
                        if k in run.last},
        "device": run.dev_name,
        "torch": torch.__version__,
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if final:
        mu = encode(run.model, data.chips[:: max(1, run.n // 2000)])[0]
        meta["latent_mean"] = mu.mean(0).round(5).tolist()
        meta["latent_std"] = mu.std(0).round(5).tolist()
        run.model.train()
    state = {"rng_cpu": torch.get_rng_state()}
    if run.device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(run.device)
    if run.weights is not None:
        state["resample_weights"] = torch.from_numpy(run.weights)
    save_checkpoint(path, run.model, meta, run.opt, state=state)
    run.model.meta = meta
    return tasks.Progress(run.step, 0, f"saved {path}", "checkpoint",
                          {"path": str(path), "step": run.step})


def _finish(run: _Run, cancelled: bool) -> Generator:
    """Task: the last checkpoint (if ``config.out``); returns the :class:`TrainResult`."""
    cfg = run.cfg
    run.model.eval()
    path = None
    if cfg.out:
        yield _save(run, cfg.out, final=not cancelled)
        path = str(cfg.out)
    secs = time.perf_counter() - run.t_start
    if not cfg.out:
        run.model.meta = {**run.model.config(),
                          "progress": {"epoch": run.epoch, "batch": run.batch, "step": run.step}}
    return TrainResult(run.model.eval(), path, cancelled, run.step, run.epoch, secs,
                       run.images / secs if secs else 0.0, run.weights)


# ================================================================================ task


def train(config: TrainConfig, *, data: ChipData | None = None, resume=None,
          cancel: tasks.CancelToken | None = None, backend=None) -> Generator:
    """Task: train a VAE or DB-VAE; returns a :class:`TrainResult`.

    Parameters
    ----------
    config : :class:`TrainConfig`.
    data : chips to train on (default: :func:`~.data.iter_load_data` on ``config.data``).
    resume : a checkpoint path to continue from (model, optimizer, epoch and batch position,
        RNG states; the architecture must match).
    cancel : checked between steps: when set, the run saves a checkpoint (if ``config.out``)
        and returns with ``cancelled=True``; while the data are loading, it raises
        :class:`tasks.Cancelled` instead.
    backend : the :class:`~faceinspector.backend.Backend` that detects faces in a folder of
        photos (default: a new one).

    Yields
    ------
    :class:`tasks.Progress` by ``stage``:

    * ``"data"``: files read of all (loading and caching chips);
    * ``"embed"`` (``id_weight > 0``, unless cached): chips embedded for the identity term;
    * ``"weights"`` (DB-VAE, each epoch): ``info`` has ``epoch``, ``weights`` (float64
      ``(N,)`` sampling probabilities of the training faces), their ``names`` and ``chips``
      (the training chips themselves, not a copy: read, don't modify);
    * ``"train"`` (each step; ``done`` / ``total`` = steps into / of all ``epochs``): ``info``
      has ``loss``, ``l1``, ``kl`` (``id`` with the identity term; ``cls``, ``acc`` for the
      DB-VAE), ``images_per_s``
      (over the last ~2 s), ``step``, ``epoch`` (0-based), ``epochs``, ``batch``, ``batches``,
      ``lr``, ``elapsed_s``, ``device``; every ``sample_every`` steps also ``samples =
      {"original", "reconstruction"}`` (uint8 ``(k, 64, 64, 3)``);
    * ``"checkpoint"``: ``info`` has ``path`` and ``step``;
    * a :func:`tasks.note` at the end of each epoch (its losses and speed).
    """
    cfg = config
    if cfg.out:  # before minutes of data loading and training: can the checkpoint be written?
        check_writable(cfg.out, "checkpoint")
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    device = pick_device(cfg.device)
    if data is None:
        data = yield from iter_load_data(cfg.data, cfg.limit, aligned=cfg.aligned,
                                         negatives=cfg.negatives if cfg.dbvae else 0,
                                         backend=backend, seed=cfg.seed, cancel=cancel,
                                         celeba=cfg.celeba)
    targets = None
    if cfg.id_weight:
        from .identity import iter_identity_targets

        targets = yield from iter_identity_targets(data.chips, device, cancel=cancel)
    run = _start(cfg, data, device, resume, targets)
    cancelled = False
    while run.epoch < cfg.epochs and not cancelled:
        cancelled = yield from _epoch(run, cancel)
    return (yield from _finish(run, cancelled))


__all__ = ["CELEBA_CREDIT", "TrainConfig", "TrainResult", "train"]
