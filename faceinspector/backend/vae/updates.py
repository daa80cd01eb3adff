"""A training run as a paced stream of :class:`TrainUpdate` values (the Morph pane's view).

:func:`train_updates` runs :func:`~.training.train` and turns its progress into at most a few
updates a second, each carrying the loss points since the one before, so a GUI redraws its
curves a few times a second however fast the steps are. It is a task like any other
(:mod:`faceinspector.backend.tasks`): the updates are its partial results and the final
``"done"`` update its return value. Importing this module does not import torch.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np

from .. import tasks
from .resampling import Resampling, summarize_weights

#: the loss terms a run may report (``id``: with the identity term; ``cls`` and ``acc``:
#: DB-VAE only)
LOSS_KEYS = ("loss", "l1", "kl", "id", "cls", "acc")


@dataclass(frozen=True, eq=False)
class TrainUpdate:
    """A training run's progress as the Morph pane's Training tab shows it.

    ``steps`` and ``losses`` hold the points since the previous update."""

    phase: str  # "data", "train", "weights", "checkpoint", "done"
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    losses: dict = field(default_factory=dict)  # name -> (len(steps),) float
    step: int = 0
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    images_per_s: float = 0.0
    device: str = ""
    elapsed_s: float = 0.0
    done: int = 0  # data phase: files read ...
    total: int = 0  # ... of
    samples: tuple | None = None  # (originals, reconstructions), uint8 (k, 64, 64, 3) each
    weights: np.ndarray | None = None  # DB-VAE: sampling probability per training face
    resampling: Resampling | None = None  # DB-VAE: the faces the weights favour, summary
    checkpoint: str = ""
    cancelled: bool = False
    seconds: float = 0.0


class _Pacer:
    """Collects the steps' losses and makes the updates, at most one per ``interval_s``
    (sample images and checkpoints are sent at once)."""

    def __init__(self, interval_s: float, originals: np.ndarray | None) -> None:
        self.interval_s = interval_s
        self.originals = originals  # the sample faces, reconstructed by the final model
        self.steps: list[int] = []
        self.points: dict[str, list[float]] = {k: [] for k in LOSS_KEYS}
        self.latest: dict = {}
        self.last_emit = 0.0

    def flush(self, **extra) -> TrainUpdate:
        """The points collected so far as one ``"train"`` update."""
        self.last_emit = time.perf_counter()
        info = self.latest
        out = TrainUpdate(
            "train", np.asarray(self.steps, np.int64),
            {k: np.asarray(v, np.float64) for k, v in self.points.items() if v},
            **{k: info[k] for k in ("step", "epoch", "epochs", "batch", "batches", "device")
               if k in info},
            images_per_s=float(info.get("images_per_s", 0.0)),
            elapsed_s=float(info.get("elapsed_s", 0.0)), **extra)
        self.steps.clear()
        for v in self.points.values():
            v.clear()
        return out

    def pending(self) -> Generator:
        """The update for the points not sent yet, if any."""
        if self.steps:
            yield self.flush()

    def feed(self, p: tasks.Progress) -> Generator:
        """The updates (zero or more) for one progress value of the run."""
        info = p.info or {}
        if p.stage == "data":
            yield TrainUpdate("data", done=int(p.done), total=int(p.total))
        elif p.stage == "train":
            self.latest = info
            self.steps.append(int(info["step"]))
            for k in LOSS_KEYS:
                if k in info:
                    self.points[k].append(float(info[k]))
            samples = info.get("samples")
            if samples is not None:
                self.originals = np.asarray(samples["original"])
                yield self.flush(samples=(self.originals,
                                          np.asarray(samples["reconstruction"])))
            elif time.perf_counter() - self.last_emit >= self.interval_s:
                yield self.flush()
        elif p.stage == "weights":
            w = np.asarray(info["weights"], np.float64)
            epoch = int(info.get("epoch", 0))
            yield TrainUpdate("weights", epoch=epoch, weights=w,
                              resampling=summarize_weights(w, info.get("chips"),
                                                           info.get("names") or (), epoch))
        elif p.stage == "checkpoint":
            yield from self.pending()
            yield TrainUpdate("checkpoint", step=int(info.get("step", 0)),
                              checkpoint=str(info.get("path", "")))

    def done(self, result) -> TrainUpdate:
        """The ``"done"`` update for the run's :class:`~.training.TrainResult`."""
        final = None
        if self.originals is not None:
            from .latent import reconstruct

            final = (self.originals, reconstruct(result.model, self.originals))
        return TrainUpdate("done", samples=final, step=result.step, epoch=result.epoch,
                           images_per_s=float(result.images_per_s),
                           checkpoint=str(result.checkpoint or ""),
                           cancelled=bool(result.cancelled), seconds=float(result.seconds))


def train_updates(config, resume=None, *, stop: tasks.CancelToken | None = None,
                  cancel: tasks.CancelToken | None = None, backend=None,
                  interval_s: float = 0.25, samples: np.ndarray | None = None) -> Generator:
    """Task: run :func:`~.training.train`, yielding :class:`TrainUpdate` values (at most one
    ``"train"`` update per ``interval_s``) and returning the ``"done"`` update.

    Parameters
    ----------
    config : a :class:`~.training.TrainConfig` or a dict of its fields.
    resume : a checkpoint to continue.
    stop : ends the run gracefully (the Stop button): it saves a checkpoint to resume later and
        the ``"done"`` update has ``cancelled=True`` (also when stopped while loading data).
    cancel : aborts (the app closing): :class:`tasks.Cancelled` at the next step, no checkpoint.
    backend : detects the faces of a folder of photos.
    samples : faces to show reconstructed by the final model when the run yields none of its
        own (a resumed run stopped before its first sample step).

    The trained model stays here; the ``"done"`` update carries the checkpoint path.
    """
    from .training import TrainConfig, train

    cfg = config if isinstance(config, TrainConfig) else TrainConfig(**config)
    pacer = _Pacer(interval_s, samples)
    run = train(cfg, resume=resume, cancel=stop, backend=backend)
    try:
        while True:
            tasks.check(cancel)
            try:
                p = next(run)
            except StopIteration as end:
                result = end.value
                break
            if isinstance(p, tasks.Progress):
                yield from pacer.feed(p)
    except tasks.Cancelled:
        if tasks.is_cancelled(cancel):
            raise
        return TrainUpdate("done", cancelled=True)  # stopped while the data were loading
    finally:
        run.close()
    yield from pacer.pending()
    return pacer.done(result)


__all__ = ["LOSS_KEYS", "TrainUpdate", "train_updates"]
