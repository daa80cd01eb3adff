"""The JSON sidecar that tells FaceInspector how a user's TorchScript / ONNX model wants its input.

``model.json`` beside ``model.pt`` / ``model.onnx`` (same stem; or a file given explicitly)::

    {
      "name": "my-gender-cnn",          # optional, default: the model file's stem
      "task": "classification",         # optional: "classification" (default) or "embedding"
      "labels": ["female", "male"],     # classification: one per output (embedding: none)
      "input_size": [64, 64],           # required: width, height (or one int), 8..1024
      "template": "celeba",             # optional, default "dlib-chip"; or a template file
                                        # (*.json, relative to this sidecar)
      "padding": null,                  # optional template padding override, 0..2
      "mean": [0.485, 0.456, 0.406],    # optional, on 0..1 RGB unless "pixel_range": 255
      "std":  [0.229, 0.224, 0.225],    # optional
      "pixel_range": 1,                 # 1: the model expects RGB/255 before mean/std; 255: raw
      "output": "logits"                # classification: "logits" (softmax applied) or "probs"
    }

An embedder (``"task": "embedding"``) returns one vector per face, ``(N, D)``; it then appears
in the Triplets, Verification and Gallery panes' embedder choices.

:func:`validate` checks every field and returns the normalised values (it raises
:class:`SidecarError`, a ``ValueError``, with one line naming the file and the field);
:func:`write` validates and writes a sidecar atomically (the app's sidecar form uses it);
:func:`read` reads one. No torch and no Qt here: the GUI calls these on its io lane.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from . import align
from .files import atomic_write

TASKS = ("classification", "embedding")
OUTPUTS = ("logits", "probs")
#: the largest ``padding`` (fraction of the template on each side)
MAX_PADDING = 2.0
#: input normalisations people use, as (mean, std, pixel_range): x -> (x/range - mean) / std
NORMALISATIONS: dict[str, tuple[list[float], list[float], int]] = {
    "0..1 (RGB / 255)": ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], 1),
    "ImageNet mean / std": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 1),
    "-1..1 ((RGB / 255 - 0.5) / 0.5)": ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], 1),
    "0..255 (raw pixels)": ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], 255),
}


class SidecarError(ValueError):
    """A sidecar cannot be used; the message (one line) names the file and the field."""


def sidecar_path(model_path) -> Path:
    """Where the sidecar of ``model_path`` is looked for: the same name with ``.json``."""
    return Path(model_path).with_suffix(".json")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validate(cfg, where: str = "sidecar", base: Path | None = None,
             model_name: str = "model") -> dict:
    """The checked and normalised sidecar ``cfg`` (a dict as read from JSON).

    ``where``: the name used in messages (the file's name); ``base``: the folder a relative
    template file is resolved against; ``model_name``: the default ``name``. Returns a dict
    with every field filled in: name, task, labels (tuple), input_size [w, h], template (a
    name or an absolute template-file path), padding, mean, std, pixel_range, output.
    """
    if not isinstance(cfg, dict):
        raise SidecarError(f"{where} must hold a JSON object.")
    task = cfg.get("task", "classification")
    if task not in TASKS:
        raise SidecarError(f"{where}: 'task' must be one of {', '.join(TASKS)}, got {task!r}.")
    labels = cfg.get("labels")
    if task == "classification":
        if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
            raise SidecarError(f"{where}: 'labels' must be a non-empty list of strings.")
    elif labels not in (None, []) and not (isinstance(labels, list)
                                           and all(isinstance(x, str) for x in labels)):
        raise SidecarError(f"{where}: 'labels' of an embedder must be a list of strings or "
                           "left out.")
    size = cfg.get("input_size")
    if isinstance(size, int) and not isinstance(size, bool):
        size = [size, size]
    if not (isinstance(size, list) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= 1024
                    for v in size)):
        raise SidecarError(f"{where}: 'input_size' must be [width, height] in 8..1024.")
    template = cfg.get("template", "dlib-chip")
    if not isinstance(template, str):
        raise SidecarError(f"{where}: 'template' must be a template name (one of "
                           f"{', '.join(align.TEMPLATES)}), not {type(template).__name__}.")
    if align.is_template_file(template):  # a template file, relative to the sidecar
        t = Path(template).expanduser()
        template = str(t if t.is_absolute() or base is None else Path(base) / t)
    try:
        align.get_template(template)
    except KeyError as exc:
        raise SidecarError(f"{where}: {exc.args[0]}") from None
    except align.TemplateError as exc:
        raise SidecarError(f"{where}: 'template': {exc}") from None
    padding = cfg.get("padding")
    if padding is not None and not (_number(padding) and 0 <= padding <= MAX_PADDING):
        raise SidecarError(f"{where}: 'padding' must be null or a number from 0 to "
                           f"{MAX_PADDING:g}, got {padding!r}.")
    rng = cfg.get("pixel_range", 1)
    if isinstance(rng, bool) or rng not in (1, 255):
        raise SidecarError(f"{where}: 'pixel_range' must be 1 or 255.")
    mean = cfg.get("mean", [0.0, 0.0, 0.0])
    std = cfg.get("std", [1.0, 1.0, 1.0])
    for key, val in (("mean", mean), ("std", std)):
        if not (isinstance(val, list) and len(val) == 3 and all(_number(v) for v in val)):
            raise SidecarError(f"{where}: '{key}' must be a list of 3 finite numbers.")
    if any(v == 0 for v in std):
        raise SidecarError(f"{where}: 'std' must not contain 0.")
    output = cfg.get("output", "logits")
    if output not in OUTPUTS:
        raise SidecarError(f"{where}: 'output' must be 'logits' or 'probs'.")
    name = cfg.get("name") or model_name.rsplit(".", 1)[0]
    if not isinstance(name, str) or not name.strip():
        raise SidecarError(f"{where}: 'name' must be a non-empty string.")
    return {"name": name.strip(), "task": task, "labels": tuple(labels or ()),
            "input_size": [int(size[0]), int(size[1])], "template": template,
            "padding": None if padding is None else float(padding),
            "mean": [float(m) for m in mean], "std": [float(s) for s in std],
            "pixel_range": int(rng), "output": output}


def read(path, model_name: str = "model") -> dict:
    """Read and :func:`validate` the sidecar at ``path`` (a UTF-8 byte-order mark is fine)."""
    path = Path(path)
    if not path.is_file():
        raise SidecarError(f"{model_name} needs a JSON sidecar {path.name} next to it (labels, "
                           "input_size, template, mean/std); none was found.")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SidecarError(f"{path.name} is not valid JSON: {exc}") from None
    return validate(cfg, path.name, path.parent, model_name)


def find(model_path) -> tuple[dict | None, str]:
    """The sidecar beside ``model_path`` as ``(values, "")``; ``(None, reason)`` when it is
    missing or invalid (the raw values in the reason's place are not kept)."""
    path = sidecar_path(model_path)
    try:
        return read(path, Path(model_path).name), ""
    except SidecarError as exc:
        return None, str(exc)


def raw(path) -> dict:
    """The sidecar at ``path`` as written, unchecked ({} when missing or not an object):
    what a form starts from when the file is invalid."""
    try:
        cfg = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def write(path, cfg: dict) -> Path:
    """Validate ``cfg`` and write it as the sidecar ``path`` (atomically); returns the path.
    Fields left at their default are written too, so the file documents itself."""
    path = Path(path)
    v = validate(cfg, path.name, path.parent, path.stem)
    out = {"name": v["name"], "task": v["task"]}
    if v["labels"] or v["task"] == "classification":
        out["labels"] = list(v["labels"])
    out.update(input_size=v["input_size"], template=cfg.get("template", "dlib-chip"),
               padding=v["padding"], mean=v["mean"], std=v["std"],
               pixel_range=v["pixel_range"])
    if v["task"] == "classification":
        out["output"] = v["output"]
    atomic_write(path, json.dumps(out, indent=2) + "\n", make_parents=False)
    return path


__all__ = ["MAX_PADDING", "NORMALISATIONS", "OUTPUTS", "SidecarError", "TASKS", "find", "raw",
           "read", "sidecar_path", "validate", "write"]
