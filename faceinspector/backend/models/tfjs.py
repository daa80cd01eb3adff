"""A safe reader of TensorFlow.js weights: ``*-weights_manifest.json`` plus its ``.bin`` shards.

A TF.js manifest is a JSON list of *groups*; each group names its shard files (``paths``,
relative to the manifest) and its tensors (``weights``: name, shape, dtype and an optional
``quantization`` entry). The bytes of a group's shards, concatenated in order, hold its tensors
back to back, little-endian. Quantized tensors store ``uint8``/``uint16`` codes ``q`` with
``value = q * scale + min``; ``float16`` quantization stores half floats; unquantized ``float32``
tensors are read as they are.

Nothing here executes or trusts the files: the manifest must be a JSON list of the expected shape,
shard paths may not leave the manifest's folder, and every byte count is checked, so a truncated
or corrupt download gives a :class:`ValueError` that names the file instead of a wrong network.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["read_manifest", "load_weights", "load_faceapi"]

#: Refuse manifests and shards larger than this (the face-api files are 0.3-6 MB).
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_SHARD_BYTES = 1024 * 1024 * 1024

# Storage dtype -> little-endian numpy dtype.
_STORED = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype("u1"),
}
_QUANTIZED = {
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
}


def read_manifest(manifest: str | Path) -> list[dict]:
    """Read and validate a TF.js weights manifest.

    Returns the list of groups, each ``{"paths": [str, ...], "weights": [dict, ...]}``.
    Raises :class:`ValueError` naming the file when it is not valid JSON or lacks expected keys.
    """
    manifest = Path(manifest)
    try:
        size = manifest.stat().st_size
    except OSError as exc:
        raise ValueError(f"TF.js manifest {manifest} cannot be read: {exc}") from exc
    if size > MAX_MANIFEST_BYTES:
        raise ValueError(f"TF.js manifest {manifest} is implausibly large ({size} bytes)")
    try:
        groups = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"TF.js manifest {manifest} is not valid JSON: {exc}") from exc

    def bad(what: str) -> ValueError:
        return ValueError(f"TF.js manifest {manifest} is malformed: {what}")

    if not isinstance(groups, list) or not groups:
        raise bad("expected a non-empty JSON list of weight groups")
    for g, group in enumerate(groups):
        if not isinstance(group, dict) or "paths" not in group or "weights" not in group:
            raise bad(f"group {g} lacks 'paths' or 'weights'")
        paths, weights = group["paths"], group["weights"]
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise bad(f"group {g}: 'paths' must be a non-empty list of file names")
        if not isinstance(weights, list):
            raise bad(f"group {g}: 'weights' must be a list")
        for w, entry in enumerate(weights):
            where = f"group {g} weight {w}"
            if not isinstance(entry, dict) or not {"name", "shape", "dtype"} <= entry.keys():
                raise bad(f"{where} lacks 'name', 'shape' or 'dtype'")
            if not isinstance(entry["name"], str):
                raise bad(f"{where}: 'name' must be a string")
            shape = entry["shape"]
            if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
            ):
                raise bad(f"{entry['name']}: 'shape' must be a list of non-negative integers")
            if entry["dtype"] not in _STORED:
                raise bad(f"{entry['name']}: unsupported dtype {entry['dtype']!r}")
            quant = entry.get("quantization")
            if quant is not None:
                if not isinstance(quant, dict) or quant.get("dtype") not in _QUANTIZED:
                    raise bad(f"{entry['name']}: unsupported quantization {quant!r}")
                if quant["dtype"] != "float16":
                    for key in ("scale", "min"):
                        val = quant.get(key)
                        if not isinstance(val, (int, float)) or not math.isfinite(val):
                            raise bad(f"{entry['name']}: quantization lacks a finite {key!r}")
    return groups


def _shard_path(manifest: Path, name: str) -> Path:
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"TF.js manifest {manifest} names a shard outside its folder: {name!r}")
    return manifest.parent / rel


def _read_shards(manifest: Path, paths: list[str], shards: Mapping | None) -> tuple[bytes, list]:
    """Concatenate a group's shard bytes; return them with [(file, start, end)] for messages."""
    chunks, spans, pos = [], [], 0
    for name in paths:
        file = Path(shards[name]) if shards and name in shards else _shard_path(manifest, name)
        try:
            size = file.stat().st_size
            if size > MAX_SHARD_BYTES:
                raise ValueError(f"TF.js weights file {file} is implausibly large ({size} bytes)")
            data = file.read_bytes()
        except OSError as exc:
            raise ValueError(f"TF.js weights file {file} cannot be read: {exc}") from exc
        chunks.append(data)
        spans.append((file, pos, pos + len(data)))
        pos += len(data)
    return b"".join(chunks), spans


def load_weights(
    manifest: str | Path, shards: Mapping[str, str | Path] | None = None
) -> dict[str, np.ndarray]:
    """Read every tensor of a TF.js model as a float32 numpy array.

    Parameters
    ----------
    manifest : path of the ``*-weights_manifest.json``.
    shards : optional map from a shard name in the manifest to the file to read instead
        (by default shards are looked up next to the manifest).

    Returns
    -------
    dict name -> float32 array of the manifest's shape (layouts as stored, e.g. HWIO filters).

    Raises
    ------
    ValueError
        naming the file, when the manifest is malformed or a shard is short, long or unreadable.
    """
    manifest = Path(manifest)
    out: dict[str, np.ndarray] = {}
    for group in read_manifest(manifest):
        buf, spans = _read_shards(manifest, group["paths"], shards)
        files = ", ".join(str(f) for f, _, _ in spans)
        offset = 0
        for entry in group["weights"]:
            name, shape = entry["name"], tuple(entry["shape"])
            count = math.prod(shape)
            quant = entry.get("quantization")
            dtype = _QUANTIZED[quant["dtype"]] if quant else _STORED[entry["dtype"]]
            nbytes = count * dtype.itemsize
            if offset + nbytes > len(buf):
                raise ValueError(
                    f"TF.js weights file {files} is truncated or corrupt: tensor {name!r} "
                    f"needs bytes {offset}..{offset + nbytes} but the file has {len(buf)} "
                    f"(manifest {manifest})"
                )
            raw = np.frombuffer(buf, dtype=dtype, count=count, offset=offset)
            offset += nbytes
            if quant and quant["dtype"] != "float16":
                arr = raw.astype(np.float64) * quant["scale"] + quant["min"]
            else:
                arr = raw
            arr = np.asarray(arr, dtype=np.float32).reshape(shape)
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"TF.js weights file {files}: tensor {name!r} has NaN/inf")
            if name in out:
                raise ValueError(f"TF.js manifest {manifest} lists tensor {name!r} twice")
            out[name] = arr.copy()  # own the memory, writable
        if offset != len(buf):
            raise ValueError(
                f"TF.js weights file {files} is corrupt: the manifest {manifest} describes "
                f"{offset} bytes but the file has {len(buf)}"
            )
    return out


def load_faceapi(
    model: str,
    manifest: str | Path | None = None,
    weights: str | Path | Mapping[str, np.ndarray] | None = None,
) -> Mapping[str, np.ndarray]:
    """Weights of one face-api model (``face_recognition_model``, ``age_gender_model``, ...).

    ``manifest`` defaults to the verified file of the ``face-api`` model pack. ``weights`` is
    either the single ``.bin`` shard to read instead of the one the manifest names, or an
    already loaded ``{name: array}`` mapping, returned as it is.
    """
    if isinstance(weights, Mapping):
        return weights
    shard = f"{model}.bin"
    if manifest is None:
        from .. import assets  # only the default location needs the model pack

        manifest = assets.path("face-api", f"model/{model}-weights_manifest.json")
        if weights is None:
            weights = assets.path("face-api", f"model/{shard}")
    if weights is None:
        return load_weights(manifest)
    groups = read_manifest(manifest)
    names = [p for g in groups for p in g["paths"]]
    if len(names) != 1:
        raise ValueError(
            f"TF.js manifest {manifest} has {len(names)} shards; pass weights=None to read "
            "them from the manifest's folder"
        )
    return load_weights(manifest, {names[0]: weights})
