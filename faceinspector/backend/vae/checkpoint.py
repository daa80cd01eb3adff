"""VAE checkpoints: one safetensors file with the weights, the optimizer state for resuming and
the JSON metadata (``PATH.json`` beside it repeats the metadata for people).

Importing this module does not import torch (:func:`read_metadata` and
:func:`default_checkpoint_path` need none); saving and loading do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

FORMAT = "faceinspector-vae/1"


def temp_name(path: Path) -> Path:
    """The temporary name a file is written to before ``os.replace`` moves it into place."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = temp_name(path)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_checkpoint(path, model, meta: dict | None = None, optimizer=None, sidecar: bool = True,
                    state: dict | None = None) -> Path:
    """Write ``model`` (and the optimizer's state, for resuming) to a safetensors file.

    Parameters
    ----------
    path : the ``.safetensors`` file (its folder is created).
    model : a :class:`~.model.VAE`.
    meta : more JSON metadata, merged over ``model.config()``.
    optimizer : a ``torch.optim.Optimizer`` whose state is kept for resuming, or None.
    sidecar : also write the metadata to ``PATH.json``.
    state : more tensors to keep for resuming (RNG states, resampling weights), stored as
        ``state.<name>``.

    The metadata lives in the safetensors header under ``"faceinspector"``. Both files are
    written to a temporary name and moved into place (``os.replace``), so a crash never leaves
    a half-written checkpoint.
    """
    import torch
    from safetensors.torch import save as st_save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    full = {"format": FORMAT, **model.config(), **(meta or {})}
    for k, v in (state or {}).items():
        tensors[f"state.{k}"] = v.detach().cpu().contiguous()
    if optimizer is not None:
        sd = optimizer.state_dict()
        extra = {}
        for pid, st in sd["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    tensors[f"optim.{pid}.{k}"] = v.detach().cpu().contiguous()
                else:
                    extra[f"{pid}.{k}"] = v
        full["optimizer"] = {"type": type(optimizer).__name__, "param_groups": sd["param_groups"],
                             "scalars": extra}
    text = json.dumps(full, indent=1, default=_json_default)
    _atomic_write_bytes(path, st_save(tensors, metadata={"faceinspector": text}))
    if sidecar:
        _atomic_write_bytes(path.with_suffix(path.suffix + ".json"), text.encode() + b"\n")
    return path


def read_metadata(path) -> dict:
    """The JSON metadata of a checkpoint, without loading its tensors."""
    from safetensors import safe_open

    with safe_open(str(path), "np") as fh:
        header = fh.metadata() or {}
    if "faceinspector" not in header:
        raise ValueError(f"{path}: not a FaceInspector VAE checkpoint (no metadata)")
    return json.loads(header["faceinspector"])


def load_checkpoint(path, device="cpu", with_state: bool = False):
    """Load a checkpoint: the model (eval mode, on ``device``) with ``model.meta`` set.

    With ``with_state=True`` returns ``(model, {"optimizer": state_dict or None, "tensors":
    {name: tensor}})`` -- what training needs to resume.
    """
    from safetensors.torch import load_file

    from ..detect import pick_device
    from .model import build_model

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no VAE checkpoint at {path}")
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown checkpoint format {meta.get('format')!r}")
    tensors = load_file(str(path), device="cpu")
    model = build_model(meta["architecture"], meta["latent_dim"], meta["n_filters"])
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    model.meta = meta
    model.to(pick_device(device)).eval()
    if not with_state:
        return model
    opt = None
    if "optimizer" in meta:
        state: dict = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, pid, name = k.split(".", 2)
                state.setdefault(int(pid), {})[name] = v
        for k, v in meta["optimizer"].get("scalars", {}).items():
            pid, name = k.split(".", 1)
            state.setdefault(int(pid), {})[name] = v
        opt = {"state": state, "param_groups": meta["optimizer"]["param_groups"]}
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("state.")}
    return model, {"optimizer": opt, "tensors": extra}


def default_checkpoint_path() -> Path:
    """The VAE shipped with the app (trained on CelebA 1-9,000; see its ``.json``)."""
    from ..._paths import RESOURCES

    return RESOURCES / "vae" / "vae_celeba64.safetensors"


def default_checkpoint(device="cpu"):
    """Load the shipped VAE (:func:`default_checkpoint_path`)."""
    return load_checkpoint(default_checkpoint_path(), device)


__all__ = ["FORMAT", "default_checkpoint", "default_checkpoint_path", "load_checkpoint",
           "read_metadata", "save_checkpoint", "temp_name"]
