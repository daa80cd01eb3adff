"""The user's own model: a TorchScript or ONNX classifier or embedder plus a JSON sidecar.

The sidecar (``model.json`` beside ``model.pt`` / ``model.onnx``, or given explicitly) says what
the model does and how it wants its input, so FaceInspector can build that crop from any
detection; its format is :mod:`faceinspector.backend.sidecar`'s (and the README's "Your own
model"). A classifier (``"task": "classification"``) returns one score per label; an embedder
(``"task": "embedding"``) one vector per face, and is offered wherever an embedder is.

Every problem (a missing or invalid sidecar, a file that is not TorchScript/ONNX, an output that
does not have one value per label, NaN outputs, "probs" outside 0..1) is a
:class:`UserModelError` with a one-line message. The sidecar may start with a UTF-8 byte-order
mark (Windows Notepad writes one). Loading prints nothing (torch's deprecation warnings about
``torch.jit.load`` are silenced here: the file format is the user's choice).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from .. import sidecar as sidecar_format
from .base import ChipSpec, FaceModel


class UserModelError(ValueError):
    """The user's model or its sidecar cannot be used; the message says why."""


#: the largest sidecar ``padding`` (fraction of the template on each side)
MAX_PADDING = sidecar_format.MAX_PADDING


def _cause(exc: BaseException, limit: int = 500) -> str:
    """A library's error as one line, whole when it fits: the cause is often at its end
    ("... Unsupported model IR version: 14, max supported IR version: 13")."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) <= limit:
        return text
    return text[:150] + " … " + text[-(limit - 155):]


def _sidecar_path(model_path: Path) -> Path:
    return sidecar_format.sidecar_path(model_path)


def read_sidecar(path: Path, model_name: str) -> dict:
    """The checked sidecar as the model needs it: name, task, labels, spec, output."""
    try:
        cfg = sidecar_format.read(path, model_name)
    except sidecar_format.SidecarError as exc:
        raise UserModelError(str(exc)) from None
    k = 255.0 / cfg["pixel_range"]  # a 0..1 (or 0..255) mean/std -> the backend's 0..255
    w, h = cfg["input_size"]
    return {
        "name": cfg["name"],
        "task": cfg["task"],
        "labels": cfg["labels"],
        "spec": ChipSpec(template=cfg["template"], size=(w, h), padding=cfg["padding"],
                         mean=tuple(m * k for m in cfg["mean"]),
                         std=tuple(v * k for v in cfg["std"])),
        "output": cfg["output"],
    }


class UserModel(FaceModel):
    """A TorchScript (``.pt``/``.pth``/``.torchscript``) or ONNX (``.onnx``) classifier or
    embedder."""

    task = "classification"
    dim: int | None = None  # an embedder's embedding size (known once loaded)

    def __init__(self, path, sidecar=None, device="cpu"):
        super().__init__(device)
        path = Path(path)
        if not path.is_file():
            raise UserModelError(f"{path} does not exist or is not a file.")
        cfg = read_sidecar(Path(sidecar) if sidecar else _sidecar_path(path), path.name)
        self.id = f"user:{cfg['name']}"
        self.task = cfg["task"]
        kind = "your embedder" if self.task == "embedding" else "your model"
        self.title = f"{cfg['name']} ({kind})"
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
            with warnings.catch_warnings():  # "torch.jit.load is deprecated": not the user's
                warnings.simplefilter("ignore")  # problem here, and never on the terminal
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
            from ..engines import session_options, threads_now

            # no spin-waiting, threads from the free cores (engines.py's policy)
            self._session = ort.InferenceSession(str(path), session_options(threads_now()),
                                                 providers=providers)
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
        if self.task == "embedding":
            if out.ndim != 2 or out.shape[0] != 2 or out.shape[1] < 2:
                raise UserModelError(
                    f"{Path(self.source).name} returns shape {tuple(out.shape)} for a batch of "
                    "2, but an embedder must return (2, D): one vector of D >= 2 values per "
                    "face.")
            self.dim = int(out.shape[1])
            self._check_values(out.float())
            return
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
        probs = self.task == "classification" and self.output == "probs"
        if probs and (out.min() < -1e-4 or out.max() > 1 + 1e-4):
            raise UserModelError(f"{name} returned values outside 0..1 ({float(out.min()):.3g} "
                                 f"to {float(out.max()):.3g}) but the sidecar says 'output': "
                                 "'probs'; use 'logits' if they are scores before softmax.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._raw(x).float()
        self._check_values(out)
        if self.task == "embedding":
            return out
        return out.softmax(dim=1) if self.output == "logits" else out


def load_user_model(path, sidecar=None, device="cpu") -> UserModel:
    """Load a user's TorchScript/ONNX model with its sidecar (raises UserModelError)."""
    return UserModel(path, sidecar=sidecar, device=device)
