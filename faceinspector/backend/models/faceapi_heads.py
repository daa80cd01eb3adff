"""face-api's age/gender and expression networks, ported to torch.

Weights: ``age_gender_model`` and ``face_expression_model`` of @vladmandic/face-api 1.7.15
(TF.js, uint8-quantized). The forward passes mirror the JS source, batched:

- :class:`FaceApiAgeGender`: ``TinyXception(2)`` (``src/xception/TinyXception.ts``), a 7x7/2
  average pool, then ``fc/age`` (512 -> 1, the age in years) and ``fc/gender`` (512 -> 2,
  softmax) as in ``src/ageGenderNet/AgeGenderNet.ts``. face-api reads ``probMale = gender[0]``,
  so the network's column 0 is *male*; :meth:`FaceApiAgeGender.predict` returns probabilities
  in this module's label order ``("female", "male")``.
- :class:`FaceApiExpression`: ``FaceFeatureExtractor`` (four ``denseBlock4``, then a 7x7/2
  average pool; ``src/faceFeatureExtractor/``), ``fc`` 256 -> 7, softmax
  (``src/faceExpressionNet/``), labels in ``FACE_EXPRESSION_LABELS`` order.

Preprocessing (``NetInput.toBatchTensor(112, true)`` + ``ops/normalize``): RGB minus
(122.782, 117.001, 104.298), divided by 255, at 112x112. The crop face-api feeds is *not*
rotated: after 68-point landmarks it cuts the axis-aligned ``alignedRect`` (the landmarks'
bounding box grown by 20 % of its width/height, 10 % a side; ``FaceLandmarks.alignMinBbox``),
otherwise the detector box; ``padToSquare`` centres it on black and a bilinear resize makes it
112x112, i.e. a square of side ``max(w, h) * 1.2`` around the box. Hence template ``"raw"``
with margin 0.2 (``ChipSpec.padding`` is the raw template's margin), fed our detector's box.

TensorFlow's ``'same'`` padding puts the odd pixel at the bottom/right for stride 2 (and pools
ignore it), which ``_same_pads`` reproduces; torch's symmetric padding would shift every map.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import ChipSpec, FaceApiModel, ModelOutput

__all__ = ["FaceApiAgeGender", "FaceApiExpression", "EXPRESSION_LABELS", "FACEAPI_SPEC"]

EXPRESSION_LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")

#: face-api's input for both heads (``normalize(x, meanRgb).div(255)`` at 112x112).
FACEAPI_SPEC = ChipSpec(
    template="raw",
    size=(112, 112),
    padding=0.2,
    mean=(122.782, 117.001, 104.298),
    std=(255.0, 255.0, 255.0),
)


def _same_pads(x: torch.Tensor, k: int, s: int) -> tuple[int, int, int, int]:
    """TensorFlow 'same' padding (left, right, top, bottom) for a k x k window, stride s."""
    pads = []
    for n in (x.shape[3], x.shape[2]):  # F.pad order: W then H
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


def _conv_same(x, weight, bias, k: int, stride: int, groups: int = 1) -> torch.Tensor:
    """``tf.conv2d(..., 'same')``: symmetric padding inside the conv, else an explicit pad
    with the extra pixel at the bottom/right, as TensorFlow does."""
    left, right, top, bottom = _same_pads(x, k, stride)
    if left == right and top == bottom:
        return F.conv2d(x, weight, bias, stride, (top, left), groups=groups)
    return F.conv2d(F.pad(x, (left, right, top, bottom)), weight, bias, stride, groups=groups)


def _param(t: np.ndarray | torch.Tensor) -> nn.Parameter:
    return nn.Parameter(torch.as_tensor(t, dtype=torch.float32).contiguous(), requires_grad=False)


class Conv(nn.Module):
    """``tf.conv2d(x, filters, stride, 'same') + bias``; filters stored HWIO."""

    def __init__(self, w: Mapping[str, np.ndarray], prefix: str, stride: int):
        super().__init__()
        filters = torch.from_numpy(w[f"{prefix}/filters"]).permute(3, 2, 0, 1)  # HWIO -> OIHW
        self.weight, self.bias = _param(filters), _param(w[f"{prefix}/bias"])
        self.k, self.stride = filters.shape[-1], stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _conv_same(x, self.weight, self.bias, self.k, self.stride)


class SeparableConv(nn.Module):
    """face-api ``depthwiseSeparableConv``: ``tf.separableConv2d(..., 'same') + bias``."""

    def __init__(self, w: Mapping[str, np.ndarray], prefix: str, stride: int = 1):
        super().__init__()
        dw = torch.from_numpy(w[f"{prefix}/depthwise_filter"])  # [3, 3, C, 1]
        pw = torch.from_numpy(w[f"{prefix}/pointwise_filter"])  # [1, 1, C, C_out]
        if dw.shape[3] != 1 or pw.shape[2] != dw.shape[2]:
            raise ValueError(f"{prefix}: unexpected separable conv shapes")
        self.depthwise = _param(dw.permute(2, 3, 0, 1))  # [C, 1, 3, 3]
        self.pointwise = _param(pw.permute(3, 2, 0, 1))  # [C_out, C, 1, 1]
        self.bias = _param(w[f"{prefix}/bias"])
        self.k, self.stride = dw.shape[0], stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _conv_same(x, self.depthwise, None, self.k, self.stride, groups=x.shape[1])
        return F.conv2d(x, self.pointwise, self.bias)


def _max_pool_same(x: torch.Tensor) -> torch.Tensor:
    """``tf.maxPool(x, [3, 3], [2, 2], 'same')`` (padding never wins the max)."""
    return F.max_pool2d(F.pad(x, _same_pads(x, 3, 2), value=float("-inf")), 3, 2)


# --- TinyXception (age/gender) -------------------------------------------------------------


class ReductionBlock(nn.Module):
    def __init__(self, w, prefix: str, activate_input: bool = True):
        super().__init__()
        self.activate_input = activate_input
        self.separable_conv0 = SeparableConv(w, f"{prefix}/separable_conv0")
        self.separable_conv1 = SeparableConv(w, f"{prefix}/separable_conv1")
        self.expansion_conv = Conv(w, f"{prefix}/expansion_conv", stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(x) if self.activate_input else x
        out = self.separable_conv0(out)
        out = self.separable_conv1(F.relu(out))
        out = _max_pool_same(out)
        return out + self.expansion_conv(x)


class MainBlock(nn.Module):
    def __init__(self, w, prefix: str):
        super().__init__()
        self.convs = nn.ModuleList(
            SeparableConv(w, f"{prefix}/separable_conv{i}") for i in range(3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for conv in self.convs:
            out = conv(F.relu(out))
        return out + x


class TinyXception(nn.Module):
    """face-api ``TinyXception(numMainBlocks)``: normalised (N,3,112,112) -> (N,512,7,7)."""

    def __init__(self, w, num_main_blocks: int = 2):
        super().__init__()
        self.conv_in = Conv(w, "entry_flow/conv_in", stride=2)
        self.reduction_block_0 = ReductionBlock(w, "entry_flow/reduction_block_0", False)
        self.reduction_block_1 = ReductionBlock(w, "entry_flow/reduction_block_1")
        self.middle_flow = nn.ModuleList(
            MainBlock(w, f"middle_flow/main_block_{i}") for i in range(num_main_blocks)
        )
        self.exit_reduction_block = ReductionBlock(w, "exit_flow/reduction_block")
        self.exit_separable_conv = SeparableConv(w, "exit_flow/separable_conv")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv_in(x))
        out = self.reduction_block_0(out)
        out = self.reduction_block_1(out)
        for block in self.middle_flow:
            out = block(out)
        out = self.exit_reduction_block(out)
        return F.relu(self.exit_separable_conv(out))


class AgeGenderNet(nn.Module):
    """(N,3,112,112) -> (age (N,), gender logits (N,2) in face-api's order: male, female)."""

    def __init__(self, w):
        super().__init__()
        self.features = TinyXception(w, 2)
        self.fc_age_w, self.fc_age_b = _param(w["fc/age/weights"]), _param(w["fc/age/bias"])
        self.fc_gender_w = _param(w["fc/gender/weights"])
        self.fc_gender_b = _param(w["fc/gender/bias"])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = F.avg_pool2d(self.features(x), 7, 2).flatten(1)  # 7x7/2 'valid' -> (N, 512)
        age = (pooled @ self.fc_age_w + self.fc_age_b)[:, 0]
        gender = pooled @ self.fc_gender_w + self.fc_gender_b
        return age, gender


# --- FaceFeatureExtractor (expressions) ----------------------------------------------------


class DenseBlock4(nn.Module):
    """face-api ``denseBlock4`` (scale down by 2; the first block starts with a plain conv)."""

    def __init__(self, w, prefix: str, first: bool = False):
        super().__init__()
        conv0 = Conv if first else SeparableConv
        self.conv0 = conv0(w, f"{prefix}/conv0", 2)
        self.conv1 = SeparableConv(w, f"{prefix}/conv1")
        self.conv2 = SeparableConv(w, f"{prefix}/conv2")
        self.conv3 = SeparableConv(w, f"{prefix}/conv3")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = F.relu(self.conv0(x))
        out2 = self.conv1(out1)
        out3 = self.conv2(F.relu(out1 + out2))
        out4 = self.conv3(F.relu(out1 + out2 + out3))
        return F.relu(out1 + out2 + out3 + out4)


class ExpressionNet(nn.Module):
    """(N,3,112,112) -> expression logits (N,7)."""

    def __init__(self, w):
        super().__init__()
        self.dense = nn.ModuleList(DenseBlock4(w, f"dense{i}", first=(i == 0)) for i in range(4))
        self.fc_w, self.fc_b = _param(w["fc/weights"]), _param(w["fc/bias"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.dense:
            x = block(x)
        pooled = F.avg_pool2d(x, 7, 2).flatten(1)  # (N, 256)
        return pooled @ self.fc_w + self.fc_b


# --- FaceModel wrappers --------------------------------------------------------------------


class _FaceApiHead(FaceApiModel):
    spec = FACEAPI_SPEC
    licence = "MIT (face-api)"

    def modules(self) -> list[nn.Module]:
        return [self.net]

    def _check_size(self, x: torch.Tensor) -> None:
        w, h = self.spec.size
        if x.shape[-2:] != (h, w):
            raise ValueError(f"{self.id} expects {w}x{h} chips, got {x.shape[-1]}x{x.shape[-2]}")


class FaceApiAgeGender(_FaceApiHead):
    """face-api's age and gender net: probs (N, 2) in ("female", "male") order, values = age."""

    id = "faceapi-agegender"
    title = "face-api age and gender (TinyXception, 112x112)"
    task = "age+gender"
    labels = ("female", "male")
    source = "@vladmandic/face-api 1.7.15 model/age_gender_model"
    _model = "age_gender_model"
    _net_cls = AgeGenderNet
    # saliency (issue 19): TinyXception's blocks; the last is 7x7, right before pooling
    layer_paths = {n: f"net.features.{n}" for n in (
        "conv_in", "reduction_block_0", "reduction_block_1")}
    layer_paths.update({f"main_block_{i}": f"net.features.middle_flow.{i}" for i in range(2)})
    layer_paths.update({n: f"net.features.{n}" for n in (
        "exit_reduction_block", "exit_separable_conv")})
    relu_after = ("conv_in", "exit_separable_conv")

    def torch_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The torch port's gender probabilities (saliency needs gradients), any engine."""
        self._check_size(x)
        return torch.softmax(self.net(x)[1], dim=1)[:, [1, 0]]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_size(x)
        age, gender_logits = self.run_net(x)
        probs = torch.softmax(gender_logits, dim=1)[:, [1, 0]]  # face-api: [male, female]
        return probs, age

    def postprocess(self, out) -> ModelOutput:
        probs, age = out
        return ModelOutput(
            self.id,
            self.labels,
            probs=probs.float().cpu().numpy(),
            values=age.float().cpu().numpy(),
        )


class FaceApiExpression(_FaceApiHead):
    """face-api's expression net: probs (N, 7) over :data:`EXPRESSION_LABELS`."""

    id = "faceapi-expression"
    title = "face-api facial expression (dense blocks, 112x112)"
    task = "classification"
    labels = EXPRESSION_LABELS
    source = "@vladmandic/face-api 1.7.15 model/face_expression_model"
    _model = "face_expression_model"
    _net_cls = ExpressionNet
    # saliency (issue 19): the four dense blocks (56, 28, 14, 7 px)
    layer_paths = {f"dense{i}": f"net.dense.{i}" for i in range(4)}

    def torch_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The torch port's probabilities (saliency needs gradients), whatever the engine."""
        self._check_size(x)
        return torch.softmax(self.net(x), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_size(x)
        return torch.softmax(self.run_net(x), dim=1)
