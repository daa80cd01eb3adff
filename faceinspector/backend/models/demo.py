"""The project's own demo classifiers (issue 8), trained on CelebA by ``faceinspector train demo``.

Three gender classifiers that tell the data-mismatch story (``faceinspector experiment
mismatch``):

``celeba-cnn-naive``
    a small CNN on CelebA's aligned crops, trained with horizontal flips only;
``celeba-cnn-randomcrop``
    the same network, every training sample also randomly shifted and rescaled (a random crop);
``celeba-embedding-head``
    logistic regression (or a 2-layer MLP) on the 128-D embeddings of the dlib ResNet
    (``dlib-resnet``), which brings its own alignment (the dlib chip).

The CNNs see a face through the ``celeba`` template at 64×78 pixels: exactly where CelebA's
aligned images put the eyes, nose and mouth, at the aspect ratio of CelebA's 178×218 images.
The network ends in ``flatten → dense``, like the tutorial CNNs (and dlib's own gender net), so
each dense weight is tied to a position in the chip.

Checkpoints live in ``resources/demo-models/<id>.safetensors`` with a JSON sidecar
``<id>.json`` (chip spec, labels, architecture, the training command, recorded test accuracy,
data credit). They are read with :mod:`safetensors` only: no pickle anywhere.

Data credit: the weights were trained on CelebA (MMLAB, CUHK; Liu et al., ICCV 2015), which is
for non-commercial research only; so are these checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..._paths import RESOURCES
from ..files import atomic_write
from .base import ChipSpec, FaceModel, ModelOutput

CHECKPOINT_DIR = RESOURCES / "demo-models"
LABELS = ("female", "male")
#: (width, height) of the CNN chip: the ``celeba`` template (178×218) at 0.36 scale
CNN_SIZE = (64, 78)
CNN_SPEC = ChipSpec(template="celeba", size=CNN_SIZE, padding=None,
                    mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5))
#: the dlib ResNet's own chip (dlib-chip 150 px, padding 0.25, dlib's mean and 1/256)
HEAD_SPEC = ChipSpec(template="dlib-chip", size=(150, 150), padding=0.25,
                     mean=(122.782, 117.001, 104.298), std=(256.0, 256.0, 256.0))
DATA_CREDIT = ("Trained on CelebA (MMLAB, CUHK; Liu et al., 'Deep Learning Face Attributes in the "
               "Wild', ICCV 2015), images 000001-008000 (train) and 008001-009000 (val) of the "
               "aligned set, attribute 'Male'. CelebA is for non-commercial research only, and "
               "so are these weights.")
LICENCE = "non-commercial research only (trained on CelebA)"
MAX_CHECKPOINT_BYTES = 5 * 1024 * 1024


class CheckpointError(RuntimeError):
    """A demo checkpoint is missing or does not match its sidecar; the message says how to fix
    it."""


# ---------------------------------------------------------------------------------- networks


class DemoCNN(nn.Module):
    """(N, 3, 78, 64) normalised RGB -> (N, 2) logits.

    A 5×5 stride-2 conv, then three 3×3 convs (the first two followed by 2×2 max pooling), each
    with batch norm and ReLU; then flatten → dropout → dense 64 → ReLU → dense 2. The stride-2
    stem keeps a training epoch of 8,000 images near a minute on two CPU threads. ~0.35 M
    parameters (1.4 MB as float32).
    """

    def __init__(self, size: tuple[int, int] = CNN_SIZE, widths=(16, 32, 64, 64),
                 hidden: int = 64, classes: int = 2, dropout: float = 0.3):
        super().__init__()
        self.size = tuple(size)
        w, h = (self.size[0] + 1) // 2, (self.size[1] + 1) // 2
        layers = [nn.Conv2d(3, widths[0], 5, stride=2, padding=2, bias=False),
                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        cin = widths[0]
        for i, c in enumerate(widths[1:]):
            layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                       nn.ReLU(inplace=True)]
            if i < len(widths) - 2:
                layers.append(nn.MaxPool2d(2))
                w, h = w // 2, h // 2
            cin = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                        nn.Linear(cin * w * h, hidden), nn.ReLU(inplace=True),
                                        nn.Linear(hidden, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class EmbeddingHead(nn.Module):
    """(N, D) embeddings -> (N, 2) logits: standardise, then linear (``hidden=0``) or an MLP."""

    def __init__(self, dim: int = 128, hidden: int = 0, classes: int = 2, dropout: float = 0.2):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        if hidden:
            self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True),
                                     nn.Dropout(dropout), nn.Linear(hidden, classes))
        else:
            self.net = nn.Sequential(nn.Linear(dim, classes))

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.net((emb - self.mean) / self.std)


def build_net(arch: dict) -> nn.Module:
    """The network a checkpoint's ``arch`` entry describes."""
    kind = arch.get("kind")
    kw = {k: v for k, v in arch.items() if k != "kind"}
    if kind == "cnn":
        if "size" in kw:
            kw["size"] = tuple(kw["size"])
        if "widths" in kw:
            kw["widths"] = tuple(kw["widths"])
        return DemoCNN(**kw)
    if kind == "head":
        return EmbeddingHead(**kw)
    raise CheckpointError(f"unknown architecture kind {kind!r}")


# ------------------------------------------------------------------------------- checkpoints


def checkpoint_paths(model_id: str, folder: str | Path | None = None) -> tuple[Path, Path]:
    """(weights ``.safetensors``, sidecar ``.json``) of a demo model."""
    folder = Path(folder) if folder is not None else CHECKPOINT_DIR
    return folder / f"{model_id}.safetensors", folder / f"{model_id}.json"


def spec_to_dict(spec: ChipSpec) -> dict:
    return {"template": spec.template, "size": list(spec.size), "padding": spec.padding,
            "mean": list(spec.mean), "std": list(spec.std)}


def spec_from_dict(d: dict) -> ChipSpec:
    return ChipSpec(template=d["template"], size=tuple(int(v) for v in d["size"]),
                    padding=d.get("padding"), mean=tuple(float(v) for v in d["mean"]),
                    std=tuple(float(v) for v in d["std"]))


def save_checkpoint(net: nn.Module, metadata: dict, weights: str | Path,
                    sidecar: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``net``'s state as safetensors (float32) and ``metadata`` as the JSON sidecar.

    The metadata is also stored in the safetensors header (key ``faceinspector``), so the
    weights file alone says what it is.
    """
    from safetensors.torch import save

    weights = Path(weights)
    sidecar = Path(sidecar) if sidecar is not None else weights.with_suffix(".json")
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32).contiguous()
             for k, v in net.state_dict().items() if v.is_floating_point()}
    atomic_write(weights, save(state, metadata={"faceinspector": json.dumps(metadata)}))
    atomic_write(sidecar, json.dumps(metadata, indent=2) + "\n")
    return weights, sidecar


def update_sidecar(sidecar: str | Path, **entries) -> dict:
    """Add entries (e.g. recorded accuracies) to a sidecar; returns the new metadata."""
    sidecar = Path(sidecar)
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    meta.update(entries)
    atomic_write(sidecar, json.dumps(meta, indent=2) + "\n")
    return meta


def load_checkpoint(model_id: str, weights: str | Path | None = None,
                    sidecar: str | Path | None = None) -> tuple[nn.Module, dict]:
    """(network in eval mode, metadata) from safetensors + sidecar; never unpickles anything."""
    from safetensors.torch import load_file

    default_w, default_s = checkpoint_paths(model_id)
    weights = Path(weights) if weights is not None else default_w
    sidecar = Path(sidecar) if sidecar is not None else weights.with_suffix(".json")
    if not weights.is_file() or not sidecar.is_file():
        raise CheckpointError(
            f"{model_id}: checkpoint {weights.name} / {sidecar.name} not found in "
            f"{weights.parent}; retrain it with `faceinspector train demo --model {model_id}`")
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    if meta.get("model_id") != model_id:
        raise CheckpointError(f"{sidecar} is for {meta.get('model_id')!r}, not {model_id!r}")
    net = build_net(meta["arch"])
    state = load_file(str(weights))
    own = net.state_dict()
    missing = [k for k, v in own.items() if v.is_floating_point() and k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        raise CheckpointError(f"{weights.name} does not match its architecture "
                              f"(missing {missing[:3]}, unexpected {extra[:3]})")
    net.load_state_dict(state, strict=False)  # integer buffers (BN counters) are not stored
    return net.eval(), meta


# ------------------------------------------------------------------------------- the models


class _DemoModel(FaceModel):
    task = "classification"
    labels = LABELS
    licence = LICENCE
    source = "trained by FaceInspector (`faceinspector train demo`) on CelebA"

    @classmethod
    def unavailable_reason(cls) -> str:
        w, s = checkpoint_paths(cls.id)
        if not (w.is_file() and s.is_file()):
            return (f"checkpoint {w.name} not found in {w.parent}; train it with "
                    f"`faceinspector train demo --model {cls.id}`")
        return ""

    def _load(self, weights, sidecar) -> None:
        self.net, self.metadata = load_checkpoint(self.id, weights, sidecar)
        spec = spec_from_dict(self.metadata["spec"])
        if spec != self.spec:
            raise CheckpointError(f"{self.id}: the checkpoint's chip spec {spec} differs from "
                                  f"the model's {self.spec}")
        self.net.to(self.device)


class _DemoCNNModel(_DemoModel):
    spec = CNN_SPEC

    def __init__(self, device: str | torch.device = "cpu", weights=None, sidecar=None):
        super().__init__(device)
        self._load(weights, sidecar)

    def modules(self) -> list[nn.Module]:
        return [self.net]

    def layers(self) -> dict[str, nn.Module]:
        """Saliency (issue 19): each conv block's ReLU, ``block1`` ... (the last: 8x9 maps)."""
        relus = [m for m in self.net.features if isinstance(m, nn.ReLU)]
        return {f"block{i}": m for i, m in enumerate(relus, 1)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.net(x.contiguous()), dim=1)


class CelebaCnnNaive(_DemoCNNModel):
    """Small CNN on CelebA's aligned crops (celeba template, 64×78), flip augmentation only."""

    id = "celeba-cnn-naive"
    title = "CelebA gender CNN, flips only (demo, 64×78 celeba crop)"


class CelebaCnnRandomCrop(_DemoCNNModel):
    """The same CNN trained with a random crop (shift and scale) of every sample, plus flips."""

    id = "celeba-cnn-randomcrop"
    title = "CelebA gender CNN, random crops (demo, 64×78 celeba crop)"


class CelebaEmbeddingHead(_DemoModel):
    """dlib ResNet embedding (150 px dlib chip) → a small head trained on CelebA."""

    id = "celeba-embedding-head"
    title = "CelebA gender head on dlib ResNet embeddings (demo)"
    spec = HEAD_SPEC

    @classmethod
    def unavailable_reason(cls) -> str:
        reason = super().unavailable_reason()
        if reason:
            return reason
        from . import card

        c = card("dlib-resnet")
        return "" if c.available else f"needs dlib-resnet: {c.reason}"

    def __init__(self, device: str | torch.device = "cpu", weights=None, sidecar=None,
                 embedder: FaceModel | None = None):
        super().__init__(device)
        self._load(weights, sidecar)
        if embedder is None:
            from .dlib_resnet import DlibResNet

            embedder = DlibResNet(device=self.device)
        if embedder.spec != self.spec:
            raise CheckpointError(f"{self.id}: the embedder's chip spec differs from the head's")
        self.embedder = embedder

    def modules(self) -> list[nn.Module]:
        return [self.net, *self.embedder.modules()]

    def layers(self) -> dict[str, nn.Module]:
        """Saliency (issue 19): the embedder's layers (the head has no spatial ones)."""
        return self.embedder.layers()

    @property
    def saliency_layer(self) -> str:
        return self.embedder.saliency_layer

    @property
    def relu_after(self) -> tuple[str, ...]:
        return self.embedder.relu_after

    def torch_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The torch embedder and head (saliency needs gradients), whatever the engine."""
        return F.softmax(self.net(self.embedder.torch_forward(x)), dim=1)

    def forward(self, x: torch.Tensor):
        emb = self.embedder.forward(x)
        return F.softmax(self.net(emb), dim=1), emb

    def postprocess(self, out) -> ModelOutput:
        probs, emb = out
        return ModelOutput(self.id, self.labels, probs=probs.float().cpu().numpy(),
                           extra={"embeddings": emb.float().cpu().numpy()})

    @torch.inference_mode()
    def predict_embeddings(self, emb: np.ndarray | torch.Tensor) -> np.ndarray:
        """Probabilities (N, 2) from precomputed dlib ResNet embeddings (N, 128)."""
        t = torch.as_tensor(np.asarray(emb, np.float32), device=self.device)
        return F.softmax(self.net(t), dim=1).cpu().numpy()


DEMO_MODELS = {m.id: m for m in (CelebaCnnNaive, CelebaCnnRandomCrop, CelebaEmbeddingHead)}

__all__ = ["CHECKPOINT_DIR", "CNN_SIZE", "CNN_SPEC", "CelebaCnnNaive", "CelebaCnnRandomCrop",
           "CelebaEmbeddingHead", "CheckpointError", "DATA_CREDIT", "DEMO_MODELS", "DemoCNN",
           "EmbeddingHead", "HEAD_SPEC", "LABELS", "build_net", "checkpoint_paths",
           "load_checkpoint", "save_checkpoint", "spec_from_dict", "spec_to_dict",
           "update_sidecar"]
