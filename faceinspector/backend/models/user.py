"""The user's own classifier: a TorchScript or ONNX file plus a small JSON sidecar.

The sidecar (``model.json`` beside ``model.pt`` / ``model.onnx``, or given explicitly) says how
the model wants its input, so FaceInspector can build that crop from any detection::

    {
      "name": "my-gender-cnn",          # optional, default: the file's stem
      "labels": ["female", "male"],     # required: one per output
      "input_size": [64, 64],           # required: width, height (or one int)
      "template": "celeba",             # optional, default "dlib-chip"; or a template
                                        # file (*.json, relative to this sidecar)
      "padding": null,                  # optional template padding override, 0..2
      "mean": [0.485, 0.456, 0.406],    # optional, on 0..1 RGB unless "pixel_range": 255
      "std":  [0.229, 0.224, 0.225],    # optional
      "pixel_range": 1,                 # 1: the model expects RGB/255 before mean/std; 255: raw
      "output": "logits"                # "logits" (softmax applied) or "probs"
    }

Every problem (a missing or invalid sidecar, a file that is not TorchScript/ONNX, an output that
does not have one value per label, NaN outputs, "probs" outside 0..1) is a
:class:`UserModelError` with a one-line message. The sidecar may start with a UTF-8 byte-order
mark (Windows Notepad writes one).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from .. import align
from .base import ChipSpec, FaceModel


class UserModelError(ValueError):
    """The user's model or its sidecar cannot be used; the message says why."""


#: the largest sidecar ``padding`` (fraction of the template on each side)
MAX_PADDING = 2.0


def _cause(exc: BaseException, limit: int = 500) -> str:
    """A library's error as one line, whole when it fits: the cause is often at its end
    ("... Unsupported model IR version: 14, max supported IR version: 13")."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) <= limit:
        return text
    return text[:150] + " … " + text[-(limit - 155):]


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _sidecar_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def read_sidecar(path: Path, model_name: str) -> dict:
    if not path.is_file():
        raise UserModelError(
            f"{model_name} needs a JSON sidecar {path.name} next to it (labels, input_size, "
            f"template, mean/std); none was found.")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM is fine
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserModelError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(cfg, dict):
        raise UserModelError(f"{path.name} must hold a JSON object.")
    labels = cfg.get("labels")
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
        raise UserModelError(f"{path.name}: 'labels' must be a non-empty list of strings.")
    size = cfg.get("input_size")
    if isinstance(size, int):
        size = [size, size]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and 8 <= v <= 1024
                                                            for v in size)):
        raise UserModelError(f"{path.name}: 'input_size' must be [width, height] in 8..1024.")
    template = cfg.get("template", "dlib-chip")
    if not isinstance(template, str):
        raise UserModelError(f"{path.name}: 'template' must be a template name (one of "
                             f"{', '.join(align.TEMPLATES)}), not {type(template).__name__}.")
    if align.is_template_file(template):  # a template file, relative to the sidecar
        t = Path(template).expanduser()
        template = str(t if t.is_absolute() else path.parent / t)
    try:
        align.get_template(template)
    except KeyError as exc:
        raise UserModelError(f"{path.name}: {exc.args[0]}") from exc
    except align.TemplateError as exc:
        raise UserModelError(f"{path.name}: 'template': {exc}") from exc
    padding = cfg.get("padding")
    if padding is not None and not (_number(padding) and 0 <= padding <= MAX_PADDING):
        raise UserModelError(f"{path.name}: 'padding' must be null or a number from 0 to "
                             f"{MAX_PADDING:g}, got {padding!r}.")
    rng = cfg.get("pixel_range", 1)
    if rng not in (1, 255):
        raise UserModelError(f"{path.name}: 'pixel_range' must be 1 or 255.")
    mean = cfg.get("mean", [0.0, 0.0, 0.0])
    std = cfg.get("std", [1.0, 1.0, 1.0])
    for key, val in (("mean", mean), ("std", std)):
        if not (isinstance(val, list) and len(val) == 3 and all(_number(v) for v in val)):
            raise UserModelError(f"{path.name}: '{key}' must be a list of 3 finite numbers.")
    if any(v == 0 for v in std):
        raise UserModelError(f"{path.name}: 'std' must not contain 0.")
    output = cfg.get("output", "logits")
    if output not in ("logits", "probs"):
        raise UserModelError(f"{path.name}: 'output' must be 'logits' or 'probs'.")
    k = 255.0 / rng  # convert a 0..1 (or 0..255) mean/std to the 0..255 pixels the backend uses
    return {
        "name": str(cfg.get("name") or model_name.rsplit(".", 1)[0]),
        "labels": tuple(labels),
        "spec": ChipSpec(template=template, size=(size[0], size[1]),
                         padding=None if padding is None else float(padding),
                         mean=tuple(float(m) * k for m in mean),
                         std=tuple(float(s) * k for s in std)),
        "output": output,
    }


class UserModel(FaceModel):
    """A TorchScript (``.pt``/``.pth``/``.torchscript``) or ONNX (``.onnx``) classifier."""

    task = "classification"

    def __init__(self, path, sidecar=None, device="cpu"):
        super().__init__(device)
        path = Path(path)
        if not path.is_file():
            raise UserModelError(f"{path} does not exist or is not a file.")
        cfg = read_sidecar(Path(sidecar) if sidecar else _sidecar_path(path), path.name)
        self.id = f"user:{cfg['name']}"
        self.title = f"{cfg['name']} (your model)"
        self.labels = cfg["labels"]
        self.spec = cfg["spec"]
        self.output = cfg["output"]
        self.source = str(path)
        self._module = None
        self._session = None
        if path.suffix.lower() == ".onnx":
            self._load_onnx(path)
        else:
            self._load_torchscript(path)
        self._check_output()

    def _load_torchscript(self, path: Path) -> None:
        try:
            self._module = torch.jit.load(str(path), map_location=self.device).eval()
        except Exception as exc:  # torch raises many types for a file that is not TorchScript
            raise UserModelError(
                f"{path.name} is not a TorchScript model (torch.jit.load failed: "
                f"{_cause(exc)}). "
                "Save it with torch.jit.script/trace(...).save() or export ONNX.") from exc

    def _load_onnx(self, path: Path) -> None:
        try:
            import onnxruntime as ort

            providers = ["CPUExecutionProvider"]
            if (self.device.type == "cuda"
                    and "CUDAExecutionProvider" in ort.get_available_providers()):
                providers.insert(0, "CUDAExecutionProvider")
            self._session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:
            raise UserModelError(f"{path.name} is not a valid ONNX model: "
                                 f"{_cause(exc)}") from exc
        self._input = self._session.get_inputs()[0].name

    def modules(self):
        return [self._module] if self._module is not None else []

    def _raw(self, x: torch.Tensor) -> torch.Tensor:
        if self._module is not None:
            out = self._module(x)
        else:
            feed = {self._input: x.detach().cpu().numpy().astype(np.float32)}
            arr = self._session.run(None, feed)
            out = torch.from_numpy(np.asarray(arr[0]))
        if isinstance(out, dict):
            if len(out) != 1:
                raise UserModelError(
                    f"{Path(self.source).name} returns a dict ({', '.join(map(str, out))}); "
                    "it must return the scores as one tensor (or a tuple starting with it).")
            out = next(iter(out.values()))
        if isinstance(out, (tuple, list)) and out:
            out = out[0]
        if not torch.is_tensor(out):
            raise UserModelError(f"{Path(self.source).name} returns {type(out).__name__}, not "
                                 "a tensor of scores.")
        return out

    def _check_output(self) -> None:
        w, h = self.spec.size
        try:
            with torch.inference_mode():
                out = self._raw(torch.zeros((2, 3, h, w), device=self.device))
        except Exception as exc:
            raise UserModelError(
                f"{Path(self.source).name} failed on a (2, 3, {h}, {w}) input — does "
                f"'input_size' in the sidecar match the model? ({_cause(exc)})"
            ) from exc
        if tuple(out.shape) != (2, len(self.labels)):
            raise UserModelError(
                f"{Path(self.source).name} returns shape {tuple(out.shape)} for a batch of 2, but "
                f"the sidecar lists {len(self.labels)} labels: expected (2, {len(self.labels)}).")
        self._check_values(out.float())

    def _check_values(self, out: torch.Tensor) -> None:
        """NaN/inf, or "probs" outside 0..1, are an error, never a number on screen."""
        name = Path(self.source).name
        if not torch.isfinite(out).all():
            raise UserModelError(f"{name} returned NaN or infinite scores; check the model and "
                                 "the sidecar's 'mean' / 'std'.")
        if self.output == "probs" and (out.min() < -1e-4 or out.max() > 1 + 1e-4):
            raise UserModelError(f"{name} returned values outside 0..1 ({float(out.min()):.3g} "
                                 f"to {float(out.max()):.3g}) but the sidecar says 'output': "
                                 "'probs'; use 'logits' if they are scores before softmax.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._raw(x).float()
        self._check_values(out)
        return out.softmax(dim=1) if self.output == "logits" else out


def load_user_model(path, sidecar=None, device="cpu") -> UserModel:
    """Load a user's TorchScript/ONNX classifier with its sidecar (raises UserModelError)."""
    return UserModel(path, sidecar=sidecar, device=device)
