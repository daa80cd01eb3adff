"""VAE checkpoints: one safetensors file with the weights, the optimizer state for resuming and
the JSON metadata (``PATH.json`` beside it repeats the metadata for people).

Importing this module does not import torch (:func:`read_metadata` and
:func:`default_checkpoint_path` need none); saving and loading do.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..files import atomic_write, temp_path

FORMAT = "faceinspector-vae/1"
#: the largest latent size / base filter count a checkpoint may ask for (the shipped VAE: 100
#: / 12); a damaged or hostile header must not drive a huge allocation
MAX_LATENT_DIM = 2048
MAX_FILTERS = 256
#: the most residual blocks per scale (``blocks``, issue 20; older checkpoints have none: 0)
MAX_BLOCKS = 8


class CheckpointError(ValueError):
    """A VAE checkpoint cannot be used; the one-line message names the file and why."""


def temp_name(path: Path) -> Path:
    """The temporary name a file is written to before ``os.replace`` moves it into place
    (:func:`faceinspector.backend.files.temp_path`)."""
    return temp_path(Path(path))


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, data)


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
    """The JSON metadata of a checkpoint, without loading its tensors (raises
    :class:`CheckpointError` naming the file when it is not a readable checkpoint)."""
    from safetensors import safe_open

    name = Path(path).name
    try:
        with safe_open(str(path), "np") as fh:
            header = fh.metadata() or {}
    except FileNotFoundError:
        raise CheckpointError(f"no VAE checkpoint at {path}") from None
    except OSError as exc:
        raise CheckpointError(f"{name} cannot be read: {exc.strerror or exc}") from None
    except Exception as exc:  # safetensors' SafetensorError and friends
        raise CheckpointError(f"{name} is not a safetensors checkpoint (damaged or another "
                              f"format: {' '.join(str(exc).split())})") from None
    if "faceinspector" not in header:
        raise CheckpointError(f"{name}: not a FaceInspector VAE checkpoint (no metadata)")
    try:
        meta = json.loads(header["faceinspector"])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{name}: its metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{name}: its metadata is not a JSON object")
    return meta


def check_config(meta: dict, name: str) -> tuple[str, int, int]:
    """``(architecture, latent_dim, n_filters)`` from checkpoint metadata, each checked (a
    known architecture, sizes within :data:`MAX_LATENT_DIM` / :data:`MAX_FILTERS`)."""
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{name}: unknown checkpoint format {meta.get('format')!r} "
                              f"(expected {FORMAT})")
    arch = meta.get("architecture")
    if arch not in ("vae", "dbvae"):
        raise CheckpointError(f"{name}: field 'architecture' must be 'vae' or 'dbvae', got "
                              f"{arch!r}")
    out = [arch]
    for key, hi in (("latent_dim", MAX_LATENT_DIM), ("n_filters", MAX_FILTERS)):
        v = meta.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
            got = "missing" if key not in meta else f"{v!r}"
            raise CheckpointError(f"{name}: field '{key}' must be a whole number from 1 to "
                                  f"{hi}, got {got}")
        out.append(v)
    return out[0], out[1], out[2]


def check_blocks(meta: dict, name: str) -> int:
    """``blocks`` from checkpoint metadata (0 when absent: the 6.S191 network), checked."""
    v = meta.get("blocks", 0)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_BLOCKS:
        raise CheckpointError(f"{name}: field 'blocks' must be a whole number from 0 to "
                              f"{MAX_BLOCKS}, got {v!r}")
    return v


def check_grid(meta: dict, name: str) -> int:
    """``grid`` from checkpoint metadata (0 when absent: a flat latent), checked."""
    from .model import GRIDS

    v = meta.get("grid", 0)
    if isinstance(v, bool) or v not in GRIDS:
        raise CheckpointError(f"{name}: field 'grid' must be one of "
                              f"{', '.join(map(str, GRIDS))}, got {v!r}")
    if v and (not meta.get("blocks") or meta.get("architecture") != "vae"
              or meta["latent_dim"] % (v * v)):
        raise CheckpointError(f"{name}: a {v}x{v} latent grid needs a plain VAE of the "
                              f"residual design and a latent size that is a multiple of {v * v}")
    return v


def load_checkpoint(path, device="cpu", with_state: bool = False):
    """Load a checkpoint: the model (eval mode, on ``device``) with ``model.meta`` set.

    With ``with_state=True`` returns ``(model, {"optimizer": state_dict or None, "tensors":
    {name: tensor}})`` -- what training needs to resume.
    """
    from safetensors.torch import load_file

    from ..detect import pick_device
    from .model import build_model

    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no VAE checkpoint at {path}")
    name = path.name
    meta = read_metadata(path)
    arch, latent_dim, n_filters = check_config(meta, name)
    blocks = check_blocks(meta, name)
    grid = check_grid(meta, name)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError(f"{name}: its tensors cannot be read "
                              f"({' '.join(str(exc).split())})") from None
    model = build_model(arch, latent_dim, n_filters, blocks, grid)
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    bad = next((k for k, v in weights.items()
                if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise CheckpointError(f"{name}: weight '{bad}' holds NaN or infinite values (the run "
                              "diverged); use an earlier checkpoint or train again")
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        first = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), str(exc))
        raise CheckpointError(f"{name}: its weights do not fit a {arch} with latent_dim "
                              f"{latent_dim}, n_filters {n_filters}, blocks {blocks}, grid {grid} "
                              f"({first})") from None
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
    """The VAE shipped with the app (trained on CelebA; see its ``.json`` and README)."""
    from ..._paths import RESOURCES

    return RESOURCES / "vae" / "vae_celeba64.safetensors"


def small_checkpoint_path() -> Path:
    """The issue-7 VAE (6.S191 network, latent 100, CelebA 1-9,000), shipped beside the
    default for comparison: the in-app Training tab's design."""
    from ..._paths import RESOURCES

    return RESOURCES / "vae" / "vae_celeba64_small.safetensors"


def default_checkpoint(device="cpu"):
    """Load the shipped VAE (:func:`default_checkpoint_path`)."""
    return load_checkpoint(default_checkpoint_path(), device)


__all__ = ["FORMAT", "MAX_BLOCKS", "MAX_FILTERS", "MAX_LATENT_DIM", "CheckpointError",
           "check_blocks", "check_config", "check_grid",
           "default_checkpoint", "default_checkpoint_path", "load_checkpoint",
           "read_metadata", "save_checkpoint", "small_checkpoint_path", "temp_name"]
