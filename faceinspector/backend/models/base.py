"""What every face model in FaceInspector is: weights plus a chip spec.

A model never decides how a face is cropped; its :class:`ChipSpec` says which alignment template,
size, padding and normalisation it was trained with, and the backend builds that crop from the
same detection for every model (DESIGN.md rule 7).
"""

from __future__ import annotations

from collections.abc import Mapping
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
    #: the engine :meth:`run_net` uses: "torch" (the port), or "onnx" after :meth:`set_engine`
    engine: str = "torch"
    #: why the requested engine is not the one in use ("" when it is)
    engine_note: str = ""
    #: rows per ONNX Runtime call (None: the whole batch); chunks run in parallel lanes
    onnx_chunk: int | None = 16
    _ort = None
    _requested_engine: str | None = None

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self._ort = None
        self._requested_engine: str | None = None

    def onnx_file(self):
        """The ONNX file of this model's network (``run_net``'s input and outputs), exported
        on first use; None when the model has none (then it runs on torch)."""
        return None

    def set_engine(self, engine: str | None = None) -> str:
        """Run the network on ``engine`` ("auto", "torch", "onnx"; None: ``$FACEINSPECTOR_ENGINE``
        or "auto", see :func:`faceinspector.backend.engines.choose`); returns the engine in
        use. An ONNX file that cannot be made or does not match the port leaves torch in use
        (:attr:`engine_note` says why)."""
        from .. import engines

        self._requested_engine = engine
        self._ort, self.engine, self.engine_note = None, "torch", ""
        if engines.choose(self.id, str(self.device), engine) != "onnx":
            return self.engine
        try:
            path = self.onnx_file()
        except Exception as exc:  # noqa: BLE001 - the torch port still works
            self.engine_note = f"{self.id}: no ONNX file ({' '.join(str(exc).split())})"
            return self.engine
        if path is None:
            self.engine_note = f"{self.id}: no ONNX file; torch is used"
            return self.engine
        self._ort = engines.OrtNet(path, self.id, chunk=self.onnx_chunk)
        self.engine = "onnx"
        return self.engine

    def run_net(self, x: torch.Tensor):
        """The network on normalised chips: ``self.net(x)``, or its ONNX file through ONNX
        Runtime (same outputs, as CPU tensors)."""
        if self._ort is None:
            return self.net(x)
        outs = [torch.from_numpy(o) for o in self._ort.run(x.detach().cpu().numpy())]
        return outs[0] if len(outs) == 1 else tuple(outs)

    @classmethod
    def unavailable_reason(cls) -> str:
        """Why this model cannot be loaded right now ("" when it can)."""
        return ""

    def to(self, device) -> "FaceModel":
        self.device = torch.device(device)
        for m in self.modules():
            m.to(self.device)
        if self._requested_engine is not None or self._ort is not None:
            self.set_engine(self._requested_engine)  # CUDA: torch; back on CPU: the table
        return self

    def modules(self) -> list[torch.nn.Module]:
        """The torch modules this model owns (moved by :meth:`to`)."""
        return []

    def forward(self, x: torch.Tensor):  # pragma: no cover - abstract
        raise NotImplementedError

    # --- where the model looks (issue 19: backend/saliency.py) ------------------------------

    #: named layers for saliency and the feature-map view: display name -> dotted path of a
    #: torch module from this object (``"net.conv4"``, ``"net.blocks.3"``), input to output
    layer_paths: dict[str, str] = {}
    #: the layer Grad-CAM uses unless told otherwise ("" = the last of :meth:`layers`)
    saliency_layer: str = ""
    #: layers whose output the network passes through a ReLU before anything else reads it;
    #: saliency and feature maps take them after that ReLU (what the next layer sees)
    relu_after: tuple[str, ...] = ()

    def layers(self) -> dict[str, torch.nn.Module]:
        """{name: torch module} of :attr:`layer_paths`, input to output (empty: none known, so
        only gradient-free occlusion works)."""
        out = {}
        for name, path in self.layer_paths.items():
            obj = self
            for part in path.split("."):
                obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
            out[name] = obj
        return out

    def torch_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The torch network on normalised chips, differentiable: (N, C) class probabilities
        (classifiers) or (N, D) embeddings (embedders). Saliency runs this, never another
        engine (it needs gradients); the default is :meth:`forward`'s first tensor."""
        out = self.forward(x)
        return out[0] if isinstance(out, (tuple, list)) else out

    @torch.inference_mode()
    def predict(self, chips: torch.Tensor | np.ndarray) -> ModelOutput:
        """Predict on chips: (N, 3, h, w) float 0..255 tensor, or (N, h, w, 3) / (h, w, 3) uint8."""
        from ..engines import flush_denormals

        flush_denormals()  # subnormal activations: see engines
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
        #: the weight files the network is built from (the ONNX export is named by them)
        self._sources: list = []
        if manifest is None and weights is None:
            from .. import assets

            self._sources = [assets.path("face-api", f"model/{self._model}{suffix}")
                             for suffix in ("-weights_manifest.json", ".bin")]
        elif manifest is not None and weights is not None and not isinstance(weights, Mapping):
            self._sources = [manifest, weights]
        w = load_faceapi(self._model, manifest, weights)
        try:
            self.net = self._net_cls(w).eval().to(self.device)
        except KeyError as exc:
            raise ValueError(f"{self._model} weights lack tensor {exc}") from exc

    def onnx_file(self):
        """The port exported to ONNX (batch axis dynamic), cached in the face-api pack's
        folder under the sha256 of the weight files; None for weights given as arrays."""
        from .. import onnx_export

        if not self._sources:
            return None
        w, h = self.spec.size

        def build():
            rng = np.random.default_rng(0)
            examples = [rng.uniform(-0.5, 0.5, (n, 3, h, w)).astype(np.float32) for n in (4, 1)]
            return self.net.cpu(), examples, None

        try:
            return onnx_export.cached_export("face-api", self._model, self._sources, build,
                                             tolerance=1e-4)
        finally:
            self.net.to(self.device)
