"""What every face model in FaceInspector is: weights plus a chip spec.

A model never decides how a face is cropped; its :class:`ChipSpec` says which alignment template,
size, padding and normalisation it was trained with, and the backend builds that crop from the
same detection for every model (DESIGN.md rule 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class ChipSpec:
    """How a model wants its input.

    Attributes
    ----------
    template : name of an alignment template in :mod:`faceinspector.backend.align`.
    size : (width, height) of the chip in pixels.
    padding : template padding override (None = the template's default).
    mean : per-channel value subtracted from RGB in 0..255.
    std : per-channel divisor applied after the mean (e.g. 256 for dlib, 255 for [0,1]).
    """

    template: str
    size: tuple[int, int]
    padding: float | None = None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (255.0, 255.0, 255.0)

    def normalise(self, chips: torch.Tensor) -> torch.Tensor:
        """(N, 3, h, w) float RGB in 0..255 -> the network's input."""
        mean = torch.tensor(self.mean, dtype=chips.dtype, device=chips.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=chips.dtype, device=chips.device).view(1, 3, 1, 1)
        return (chips - mean) / std


@dataclass(frozen=True, eq=False)
class ModelOutput:
    """Batched outputs of one model on N chips.

    probs : (N, C) class probabilities, or None for embedders.
    values : (N,) a regressed value such as expected age, or None.
    embeddings : (N, D) float32, or None for classifiers.
    """

    model_id: str
    labels: tuple[str, ...]
    probs: np.ndarray | None = None
    values: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


class FaceModel:
    """Base class: ``Model(device=...)`` then ``.predict(chips)`` returning a :class:`ModelOutput`.

    Subclasses set ``id``, ``title``, ``task`` ("classification", "age", "age+gender",
    "embedding"), ``spec``, ``labels`` and implement :meth:`forward`, which takes normalised
    chips and returns the raw tensor(s) (probabilities for classifiers, embeddings for embedders).
    """

    id: str = "model"
    title: str = "model"
    task: str = "classification"
    labels: tuple[str, ...] = ()
    spec: ChipSpec
    licence: str = ""
    source: str = ""

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)

    @classmethod
    def unavailable_reason(cls) -> str:
        """Why this model cannot be loaded right now ("" when it can)."""
        return ""

    def to(self, device) -> "FaceModel":
        self.device = torch.device(device)
        for m in self.modules():
            m.to(self.device)
        return self

    def modules(self) -> list[torch.nn.Module]:
        """The torch modules this model owns (moved by :meth:`to`)."""
        return []

    def forward(self, x: torch.Tensor):  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.inference_mode()
    def predict(self, chips: torch.Tensor | np.ndarray) -> ModelOutput:
        """Predict on chips: (N, 3, h, w) float 0..255 tensor, or (N, h, w, 3) / (h, w, 3) uint8."""
        x = as_chip_tensor(chips, self.device)
        return self.postprocess(self.forward(self.spec.normalise(x)))

    def postprocess(self, out) -> ModelOutput:
        if self.task == "embedding":
            return ModelOutput(self.id, self.labels, embeddings=out.float().cpu().numpy())
        return ModelOutput(self.id, self.labels, probs=out.float().cpu().numpy())


def as_chip_tensor(chips, device) -> torch.Tensor:
    """Accept uint8 HWC arrays or float NCHW tensors in 0..255; return float32 NCHW on device."""
    if isinstance(chips, np.ndarray):
        arr = chips[None] if chips.ndim == 3 else chips
        t = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)
    else:
        t = chips if chips.ndim == 4 else chips[None]
    return t.to(device=device, dtype=torch.float32).contiguous()


class FaceApiModel(FaceModel):
    """A :class:`FaceModel` whose weights are a face-api model (TF.js manifest + shards).

    Subclasses set ``_model`` (the manifest's model name) and ``_net_cls`` (a torch module built
    from the ``{name: array}`` weights).

    Parameters
    ----------
    device : torch device.
    manifest : path of the model's ``*-weights_manifest.json`` (default: the verified file of
        the ``face-api`` model pack).
    weights : the ``.bin`` shard to read instead of the one next to the manifest, or an already
        loaded ``{name: array}`` mapping (then ``manifest`` is not read).
    """

    _model = ""
    _net_cls: type[torch.nn.Module]

    def __init__(self, device="cpu", manifest=None, weights=None):
        from .tfjs import load_faceapi

        super().__init__(device)
        w = load_faceapi(self._model, manifest, weights)
        try:
            self.net = self._net_cls(w).eval().to(self.device)
        except KeyError as exc:
            raise ValueError(f"{self._model} weights lack tensor {exc}") from exc
