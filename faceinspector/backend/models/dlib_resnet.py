"""dlib's 128-D face embedder (``dlib_face_recognition_resnet_model_v1``), ported to torch.

The weights are face-api's TF.js conversion of dlib's network (``face_recognition_model`` in
@vladmandic/face-api 1.7.15); the forward pass mirrors face-api's ``faceRecognitionNet``
(``FaceRecognitionNet.ts``, ``residualLayer.ts``, ``convLayer.ts``, ``scaleLayer.ts``), batched.
Preprocessing follows dlib, not face-api: dlib subtracts the mean RGB (122.782, 117.001, 104.298)
and divides by 256 (face-api divides by 255), on a 150x150 ``get_face_chip`` with padding 0.25.

Facts from the weights (DESIGN.md "Facts checked"): filters are stored HWIO (transposed here to
OIHW), ``fc`` is [256, 128] applied as ``x @ fc`` without bias, the eight ``conv64_*`` filters are
float32, everything else uint8-quantized. With face-api's /255 the outputs equal face-api's
own TF.js run to ~1e-6; with dlib's /256 they match dlib's own embeddings to cosine >= 0.999
(the gap is the uint8 quantization). Two faces are "the same person" at distance < 0.6.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import ChipSpec, FaceApiModel

__all__ = ["DlibResNet", "DlibResNetNet", "SAME_PERSON_THRESHOLD"]

#: dlib's / face_recognition's distance threshold for "same person".
SAME_PERSON_THRESHOLD = 0.6

MODEL = "face_recognition_model"

# (name, kind) in forward order; kind "down" halves the resolution and doubles the channels.
_BLOCKS = (
    ("conv32_1", "same"), ("conv32_2", "same"), ("conv32_3", "same"),
    ("conv64_down", "down"), ("conv64_1", "same"), ("conv64_2", "same"), ("conv64_3", "same"),
    ("conv128_down", "down"), ("conv128_1", "same"), ("conv128_2", "same"),
    ("conv256_down", "down"), ("conv256_1", "same"), ("conv256_2", "same"),
    ("conv256_down_out", "down"),
)  # fmt: skip


class ConvLayer(nn.Module):
    """face-api ``convLayer``: conv (+bias), then dlib's affine ``scale`` layer, optional ReLU.

    ``(conv(x, W) + b) * s + t`` is folded into one convolution ``conv(x, W*s) + (b*s + t)``.
    """

    def __init__(self, w: Mapping[str, np.ndarray], prefix: str, stride: int, pad: int):
        super().__init__()
        filters = torch.from_numpy(w[f"{prefix}/conv/filters"]).permute(3, 2, 0, 1)  # HWIO->OIHW
        bias = torch.from_numpy(w[f"{prefix}/conv/bias"])
        scale = torch.from_numpy(w[f"{prefix}/scale/weights"])
        shift = torch.from_numpy(w[f"{prefix}/scale/biases"])
        if filters.shape[0] != bias.numel() or not (scale.shape == shift.shape == bias.shape):
            raise ValueError(f"{prefix}: inconsistent shapes in the weights")
        folded = (filters * scale.view(-1, 1, 1, 1)).contiguous(memory_format=torch.channels_last)
        self.weight = nn.Parameter(folded, requires_grad=False)
        self.bias = nn.Parameter(bias * scale + shift, requires_grad=False)
        self.stride, self.pad = stride, pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.pad)


class Residual(nn.Module):
    """face-api ``residual`` (stride 1, 'same') or ``residualDown`` (3x3/2 'valid')."""

    def __init__(self, w: Mapping[str, np.ndarray], prefix: str, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = ConvLayer(w, f"{prefix}/conv1", stride=2 if down else 1, pad=0 if down else 1)
        self.conv2 = ConvLayer(w, f"{prefix}/conv2", stride=1, pad=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x).relu_())  # in place: fresh tensors, never the input
        if not self.down:
            out += x
            return out.relu_()
        # Shortcut: 2x2 average pool ('valid'), zero channels appended; whichever branch is
        # smaller spatially (the main one in this network: 3 vs 4, 1 vs 2) is zero-padded at the
        # bottom/right, as dlib's add_prev and face-api's residualDown do.
        pooled = F.avg_pool2d(x, 2, 2)
        dc = out.shape[1] - pooled.shape[1]
        dh, dw = out.shape[2] - pooled.shape[2], out.shape[3] - pooled.shape[3]
        if dc > 0 or dh > 0 or dw > 0:
            pooled = F.pad(pooled, (0, max(dw, 0), 0, max(dh, 0), 0, max(dc, 0)))
        if dh < 0 or dw < 0:
            out = F.pad(out, (0, max(-dw, 0), 0, max(-dh, 0)))
        out += pooled
        return out.relu_()


class DlibResNetNet(nn.Module):
    """The network itself: normalised (N, 3, 150, 150) -> (N, 128) embeddings."""

    def __init__(self, w: Mapping[str, np.ndarray]):
        super().__init__()
        self.conv32_down = ConvLayer(w, "conv32_down", stride=2, pad=0)  # 7x7/2 'valid'
        self.blocks = nn.ModuleList(Residual(w, name, kind == "down") for name, kind in _BLOCKS)
        fc = torch.from_numpy(w["fc"])
        if tuple(fc.shape) != (256, 128):
            raise ValueError(f"fc has shape {tuple(fc.shape)}, expected (256, 128)")
        self.fc = nn.Parameter(fc.contiguous(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # NHWC is what face-api runs and what oneDNN's CPU convolutions are fastest on.
        x = x.contiguous(memory_format=torch.channels_last)
        out = F.max_pool2d(self.conv32_down(x).relu_(), 3, 2)  # 3x3/2 'valid'
        for block in self.blocks:
            out = block(out)
        return out.mean(dim=(2, 3)) @ self.fc


class DlibResNet(FaceApiModel):
    """dlib's ResNet face embedder: 150x150 dlib chips -> 128-D embeddings (threshold 0.6).

    Parameters
    ----------
    device : torch device.
    manifest : path of ``face_recognition_model-weights_manifest.json`` (default: the verified
        file of the ``face-api`` model pack).
    weights : the ``.bin`` shard to read instead of the one next to the manifest, or an already
        loaded ``{name: array}`` mapping (then ``manifest`` is not read).
    """

    id = "dlib-resnet"
    title = "dlib ResNet face embedder (128-D, face-api weights)"
    task = "embedding"
    dim = 128  # values per embedding (galleries are checked against it)
    labels = ()
    spec = ChipSpec(
        template="dlib-chip",
        size=(150, 150),
        padding=0.25,
        mean=(122.782, 117.001, 104.298),
        std=(256.0, 256.0, 256.0),
    )
    licence = "MIT (face-api) / CC0 (dlib weights)"
    source = (
        "@vladmandic/face-api 1.7.15 model/face_recognition_model "
        "(dlib_face_recognition_resnet_model_v1)"
    )
    threshold = SAME_PERSON_THRESHOLD
    _model = MODEL
    _net_cls = DlibResNetNet
    # saliency (issue 19): the last blocks are 4x4 and 2x2; conv128_2 is the last at 8x8
    layer_paths = {"conv32_down": "net.conv32_down",
                   **{name: f"net.blocks.{i}" for i, (name, _) in enumerate(_BLOCKS)}}
    saliency_layer = "conv128_2"
    relu_after = ("conv32_down",)

    def torch_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The torch port itself (saliency needs its gradients), whatever the engine."""
        return self.net(x)

    def modules(self) -> list[nn.Module]:
        return [self.net]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.spec.size[1], self.spec.size[0]
        if x.shape[-2:] != (h, w):
            raise ValueError(f"{self.id} expects {w}x{h} chips, got {x.shape[-1]}x{x.shape[-2]}")
        return self.run_net(x)

    def embed(self, chips: torch.Tensor | np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Chips -> (N, 128) float32 embeddings, in batches of ``batch_size``.

        ``chips``: (N, 150, 150, 3) or (150, 150, 3) uint8 RGB, or (N, 3, 150, 150) float 0..255.
        """
        if np.ndim(chips) != 4:
            return self.predict(chips).embeddings
        if len(chips) == 0:
            return np.zeros((0, 128), np.float32)
        parts = [
            self.predict(chips[i : i + batch_size]).embeddings
            for i in range(0, len(chips), batch_size)
        ]
        return np.concatenate(parts)

    @staticmethod
    def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Euclidean distance(s) between embeddings, as face_recognition compares them."""
        return np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1)
