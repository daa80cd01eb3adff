"""The torch side of saliency (issue 19): which layers of a model can be watched, grad-cam runs,
targets, feature capture and the occluded batch. The package's modules are its public face.

**Through the torch network, always.** A model's :meth:`~.models.base.FaceModel.predict` may run
on ONNX Runtime (``backend/engines.py``); gradients need the torch port, so everything here calls
:meth:`~.models.base.FaceModel.torch_forward` on normalised chips, under the backend's lock
(hooks on a shared module would otherwise see another thread's batch).

**Watching a layer.** ``FaceModel.layers()`` names the modules (data on each model class). Two
forward hooks surround grad-cam's own: the first applies the ReLU the network applies right after
that module (``relu_after``), the last hands the rest of the network a *copy* of the output, so
the networks' in-place operations (``relu_``, ``+=``) cannot change the activations grad-cam
kept. A TorchScript ``nn.Sequential`` cannot be hooked (``register_forward_hook is not supported
on ScriptModules``), but its children can be called one by one from a plain module whose
wrappers can: :func:`net_of` does that. Any other TorchScript model, and every ONNX model, has
no reachable layers; the caller falls back to occlusion (no gradients needed).

grad-cam (``pytorch_grad_cam``) is imported on first use: it loads matplotlib's pyplot and
scikit-learn for its own helpers (~0.5 s); FaceInspector's backend never plots with them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .heatmap import patch_index

#: method -> grad-cam class name
CAM_CLASSES = {"gradcam": "GradCAM", "gradcampp": "GradCAMPlusPlus", "eigencam": "EigenCAM"}
GRADIENT_METHODS = ("gradcam", "gradcampp")


class CamUnavailable(Exception):
    """This model's layers cannot be watched (the message says why); use occlusion."""


@dataclass(frozen=True, eq=False)
class Net:
    """What saliency runs of one model: a differentiable forward on normalised chips, its named
    layers (input to output), those followed by a ReLU, the default target layer, and -- when
    there are no layers -- why."""

    forward: Callable[[torch.Tensor], torch.Tensor] | None = None  # None: model.torch_forward
    layers: dict = field(default_factory=dict)
    relu: frozenset = frozenset()
    default: str = ""
    reason: str = ""
    how: str = ""  # e.g. "TorchScript nn.Sequential, children wrapped"
    strides: dict = field(default_factory=dict)  # layer -> (sx, sy), see layer_stride()

    def run(self, model, x: torch.Tensor) -> torch.Tensor:
        """The network on normalised chips ``x``."""
        return (self.forward or model.torch_forward)(x)


class _Tap(nn.Module):
    """A plain module around one scripted child, so its output can be hooked."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


class _Unrolled(nn.Module):
    """A scripted ``nn.Sequential`` run child by child through :class:`_Tap` wrappers."""

    def __init__(self, script: nn.Module):
        super().__init__()
        self.taps = nn.ModuleList(_Tap(child) for child in script.children())
        self.names = [name for name, _ in script.named_children()]

    def forward(self, x):
        for tap in self.taps:
            x = tap(x)
        return x


_NETS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # FaceModel -> Net


def _is_script(m) -> bool:
    return isinstance(m, torch.jit.ScriptModule)


def _unrolled_net(model, script) -> Net:
    """:class:`Net` of a model whose network is one scripted ``nn.Sequential``."""
    unrolled = _Unrolled(script).to(model.device)
    task, output = getattr(model, "task", ""), getattr(model, "output", "probs")

    def forward(x):
        out = unrolled(x).float()
        return out if task == "embedding" or output != "logits" else out.softmax(dim=1)

    shapes: dict[int, tuple] = {}
    hooks = [tap.register_forward_hook(
        lambda m, i, o, k=k: shapes.__setitem__(k, tuple(o.shape) if torch.is_tensor(o) else ()))
        for k, tap in enumerate(unrolled.taps)]
    w, h = model.spec.size
    try:
        with torch.inference_mode():
            unrolled(torch.zeros((1, 3, h, w), device=model.device))
    except Exception as exc:  # noqa: BLE001 - a stack that cannot be run child by child
        return Net(reason="its TorchScript nn.Sequential cannot be run "
                   f"child by child ({' '.join(str(exc).split())[:160]})")
    finally:
        for hk in hooks:
            hk.remove()
    layers = {unrolled.names[k]: tap for k, tap in enumerate(unrolled.taps)
              if len(shapes.get(k, ())) == 4 and shapes[k][2] * shapes[k][3] > 1}
    if not layers:
        return Net(reason="its TorchScript nn.Sequential has no layer with "
                   "spatial (N, C, H, W) output larger than 1x1")
    return Net(forward, layers, frozenset(), list(layers)[-1],
               how="TorchScript nn.Sequential: each scripted child wrapped in a plain module")


def net_of(model) -> Net:
    """The :class:`Net` of a loaded :class:`~.models.base.FaceModel` (cached per model)."""
    hit = _NETS.get(model)
    if hit is not None:
        return hit
    try:
        layers = dict(model.layers())
    except (AttributeError, IndexError, TypeError) as exc:
        layers, bad = {}, f"its layer list does not resolve ({exc})"
    else:
        bad = ""
    if layers:
        default = model.saliency_layer or list(layers)[-1]
        if default not in layers:
            default = list(layers)[-1]
        net = Net(None, layers, frozenset(model.relu_after), default)
    else:
        mods = [m for m in model.modules() if m is not None]
        script = mods[0] if len(mods) == 1 and _is_script(mods[0]) else None
        if bad:
            net = Net(reason=bad)
        elif script is not None and getattr(script, "original_name", "") == "Sequential" \
                and len(list(script.children())) > 1:
            net = _unrolled_net(model, script)
        elif script is not None:
            net = Net(reason="TorchScript modules cannot be hooked "
                      "(register_forward_hook is not supported on ScriptModules) and this one "
                      "is not an nn.Sequential stack whose children could be")
        elif not mods:
            net = Net(reason="it has no torch network (ONNX runs without "
                      "gradients or reachable layers)")
        else:
            net = Net(reason="it names no layers")
    _NETS[model] = net
    return net


# ------------------------------------------------------------------------------- targets


class ClassScore:
    """A class's score for grad-cam: its log-probability centred over the classes (the logit up
    to softmax's free shift: ``l_c - mean_j l_j``), which does not saturate as a probability
    does. ``index=None``: the top class of the forward pass (kept in :attr:`index`)."""

    def __init__(self, index: int | None = None):
        self.index = index

    def __call__(self, out: torch.Tensor) -> torch.Tensor:
        if self.index is None:
            self.index = int(out.detach().argmax())
        logp = torch.log(out.float().clamp_min(torch.finfo(torch.float32).tiny))
        return logp[self.index] - logp.mean()


class CosineTo:
    """Cosine similarity of the embedding to a fixed one (grad-cam's
    ``SimilarityToConceptTarget``); ``sign=-1``: dissimilarity, which regions push it away."""

    def __init__(self, reference, sign: float = 1.0):
        self.reference = torch.as_tensor(np.asarray(reference, np.float32))
        self.sign = float(sign)

    def __call__(self, out: torch.Tensor) -> torch.Tensor:
        ref = self.reference.to(out.device)
        return self.sign * torch.nn.functional.cosine_similarity(out.float(), ref, dim=0)


# ----------------------------------------------------------------------------- grad-cam


class _Scorer(nn.Module):
    """spec.normalise + the torch network: what grad-cam calls, on (N, 3, h, w) 0..255."""

    def __init__(self, model, net: Net):
        super().__init__()
        self._spec, self._forward = model.spec, net.forward or model.torch_forward
        # grad-cam reads the device off the first parameter
        self.anchor = nn.Parameter(torch.zeros(1, device=model.device), requires_grad=False)

    def forward(self, x):
        return self._forward(self._spec.normalise(x))


def principal_maps(activations: np.ndarray) -> np.ndarray:
    """EigenCAM's projection: each ``(C, h, w)`` activation's positions projected on their
    first principal component (centred over the positions), ``(N, h, w)`` float32, its sign
    fixed (an SVD's is arbitrary) so the map is positive where the layer is more active on
    average. Computed with torch's LAPACK: numpy's OpenBLAS threads spin-wait and took up to
    1.3 s instead of 1 ms on the shared 2-core machine."""
    a = torch.from_numpy(np.nan_to_num(np.asarray(activations, np.float64)))
    n, c, h, w = a.shape
    x = a.reshape(n, c, h * w).transpose(1, 2)
    x = x - x.mean(dim=1, keepdim=True)
    vh = torch.linalg.svd(x, full_matrices=False)[2]
    proj = (x @ vh[:, 0, :, None])[..., 0]
    mean = a.reshape(n, c, h * w).mean(1)
    mean = mean - mean.mean(dim=1, keepdim=True)
    sign = torch.where((proj * mean).sum(1, keepdim=True) < 0, -1.0, 1.0)
    return (proj * sign).reshape(n, h, w).float().numpy()


def _signed_eigencam():
    from pytorch_grad_cam import EigenCAM

    class SignedEigenCAM(EigenCAM):
        """grad-cam's EigenCAM with :func:`principal_maps` as its projection."""

        def get_cam_image(self, input_tensor, target_layer, targets, activations, grads,
                          eigen_smooth):
            return principal_maps(activations)

    return SignedEigenCAM


def cam_class(method: str):
    """The grad-cam class of ``method`` (imports grad-cam)."""
    if method == "eigencam":
        return _signed_eigencam()
    import pytorch_grad_cam

    return getattr(pytorch_grad_cam, CAM_CLASSES[method])


class _PassRectified(torch.overrides.TorchFunctionMode):
    """While active, the network's own ReLU on :attr:`target` -- the copy of a ``relu_after``
    layer's output, rectified already by our hook -- passes it through unchanged. The values are
    the same; the gradient is not masked where they are 0, so grad-cam gets the gradient with
    respect to the post-ReLU activation that textbook Grad-CAM uses (a functional ReLU offers no
    module to hook after it). Only the first ReLU applied to that very tensor is skipped."""

    def __init__(self):
        super().__init__()
        self.target = None
        import torch.nn.functional as F

        self.relus = {F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_,
                      getattr(F, "relu_", F.relu)}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if self.target is not None and args and args[0] is self.target and func in self.relus:
            self.target = None
            return args[0]
        return func(*args, **(kwargs or {}))


def run_cam(model, net: Net, method: str, chips: torch.Tensor, target, layer: str):
    """One map over one chip: ``(h, w)`` float32 in [0, 1] and the model's output row.

    ``chips``: (1, 3, h, w) float 0..255 on the model's device; ``target``: a callable on the
    output row (:class:`ClassScore`, :class:`CosineTo`). Raises :class:`CamUnavailable` when no
    gradient reaches the layer or the layer is not run."""
    cls = cam_class(method)
    module = net.layers[layer]
    grads = method in GRADIENT_METHODS
    seen: list = []
    rectified = _PassRectified()
    relu = layer in net.relu

    def protect(mod, inp, out):
        if grads and not out.requires_grad:
            raise CamUnavailable(f"no gradient reaches layer {layer!r}")
        seen.append(tuple(out.shape))
        copy = out.clone()
        if relu:
            rectified.target = copy
        return copy

    handles = []
    if relu:  # grad-cam's hooks (registered next) see the activation after the ReLU
        handles.append(module.register_forward_hook(lambda m, i, o: torch.relu(o)))
    cam = cls(_Scorer(model, net), [module])  # registers grad-cam's hooks
    handles.append(module.register_forward_hook(protect))
    try:
        with (torch.enable_grad() if grads else torch.no_grad()), rectified:
            x = chips.detach().float().clone().requires_grad_(grads)
            try:
                heat = cam(input_tensor=x, targets=[target])
            except CamUnavailable:
                raise
            except Exception as exc:
                if not seen:
                    raise CamUnavailable(f"layer {layer!r} is not run by the torch network "
                                         f"({type(exc).__name__})") from exc
                raise
        out = cam.outputs.detach()[0]
    finally:
        for h in handles:
            h.remove()
        cam.activations_and_grads.release()
    if len(seen) != 1:
        raise CamUnavailable(f"layer {layer!r} ran {len(seen)} times in one forward pass")
    return np.ascontiguousarray(heat[0], np.float32), out


class _Stop(Exception):
    pass


def capture(model, net: Net, chips: torch.Tensor, layer: str) -> np.ndarray:
    """The layer's output for one chip, float32 ``(C, fh, fw)`` (after its ReLU when the network
    applies one); the forward pass stops there."""
    module = net.layers[layer]
    got: dict = {}

    def hook(mod, inp, out):
        a = torch.relu(out) if layer in net.relu else out
        got["a"] = a.detach()[0].float().cpu().numpy().copy()
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        with torch.inference_mode():
            net.run(model, model.spec.normalise(chips.float()))
    except _Stop:
        pass
    finally:
        handle.remove()
    if "a" not in got:
        raise CamUnavailable(f"layer {layer!r} is not run by the torch network")
    a = got["a"]
    if a.ndim != 3:
        raise ValueError(f"layer {layer!r} has output shape {a.shape}, not (C, H, W)")
    return a


def layer_stride(model, net: Net, layer: str, shape) -> tuple[float, float]:
    """Crop px per feature px of ``layer`` (whose maps are ``shape = (C, fh, fw)`` for the
    model's chip): measured from how the map grows when the input grows by 64 px (a valid
    convolution's map is smaller than input / stride, so ``w / fw`` would be off), else
    ``w / fw`` when the network only takes its own size. Cached per layer."""
    hit = net.strides.get(layer)
    if hit is not None:
        return hit
    w, h = model.spec.size
    fh, fw = int(shape[1]), int(shape[2])
    stride = (w / fw, h / fh)
    try:
        zeros = torch.zeros((1, 3, h + 64, w + 64), device=model.device)
        big = capture(model, net, zeros, layer)
        if big.shape[2] > fw and big.shape[1] > fh:
            stride = (64 / (big.shape[2] - fw), 64 / (big.shape[1] - fh))
    except Exception:  # noqa: BLE001 - a network that checks its input size
        pass
    net.strides[layer] = stride
    return stride


# ---------------------------------------------------------------------------- occlusion


def occluded(chip: torch.Tensor, grid: tuple[int, int], fill="mean") -> torch.Tensor:
    """The chip (row 0) and one copy per patch of a ``grid = (gx, gy)`` tiling with that patch
    filled: ``(1 + gx * gy, 3, h, w)``. ``fill``: "mean" (the chip's mean colour) or a grey
    level 0..255."""
    _, c, h, w = chip.shape
    n = int(grid[0]) * int(grid[1])
    idx = torch.from_numpy(patch_index((w, h), grid)).to(chip.device)
    masks = idx[None] == torch.arange(n, device=chip.device)[:, None, None]  # (n, h, w)
    if isinstance(fill, str):
        if fill != "mean":
            raise ValueError(f"fill must be 'mean' or a grey level 0..255, got {fill!r}")
        value = chip.float().mean(dim=(2, 3)).view(1, c, 1, 1)
    else:
        value = torch.full((1, c, 1, 1), float(fill), device=chip.device)
    patched = torch.where(masks[:, None], value, chip.float())
    return torch.cat([chip.float(), patched])


__all__ = ["CAM_CLASSES", "GRADIENT_METHODS", "CamUnavailable", "ClassScore", "CosineTo", "Net",
           "cam_class", "capture", "layer_stride", "net_of", "occluded", "principal_maps",
           "run_cam"]
