"""ONNX exports of the torch ports: made once, checked against torch, cached next to the pack.

ONNX Runtime runs the small convolution nets closer to the CPU's limit than torch does
(:mod:`.engines`). The face-api heads, the ResNet and MTCNN's nets exist as torch ports; each is
exported once (``torch.onnx.export``), run through ONNX Runtime on the same inputs and kept only
when it equals the torch port within a tolerance (the measured difference is recorded in a JSON
file beside the export). The file name carries the sha256 of the source weights, so new weights
make a new export.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .engines import OrtNet

log = logging.getLogger(__name__)


def sha256_files(paths: Sequence[str | os.PathLike]) -> str:
    """One sha256 over the bytes of ``paths``, in order (the source weights of an export)."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def export_dir(pack: str) -> Path:
    """Where the ONNX exports of a pack's torch ports are kept: ``<pack folder>/onnx``."""
    from . import assets

    return assets.pack_dir(pack) / "onnx"


class ExportError(RuntimeError):
    """An ONNX export could not be made or does not match its torch port."""


def max_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    return max(float(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)).max())
               if np.size(x) else 0.0 for x, y in zip(a, b))


def export_and_verify(net, examples: Sequence[np.ndarray], path: Path, *,
                      dynamic: dict[int, str] | None = None, tolerance: float = 1e-4,
                      meta: dict | None = None) -> dict:
    """Export torch module ``net`` to ``path`` (atomically) and check ONNX Runtime against it.

    ``examples``: float32 NCHW inputs; the first is traced, every one is run through both
    engines and the largest absolute difference of any output, relative to the output's scale
    (``|Δ| / max(1, max |torch output|)``), must be at most ``tolerance``. ``dynamic``: the
    input's dynamic axes (default: the batch axis). A JSON sidecar (``path`` + ``.json``) keeps
    the check's result. Returns that record; raises :class:`ExportError` when the check fails
    (nothing is written then).
    """
    import io
    import warnings

    import torch

    from .files import atomic_write

    net = net.eval()
    dynamic = dynamic or {0: "n"}
    with torch.inference_mode():
        refs = [net(torch.from_numpy(np.ascontiguousarray(x, np.float32))) for x in examples]
    refs = [tuple(r) if isinstance(r, (tuple, list)) else (r,) for r in refs]
    outs = [f"out{i}" for i in range(len(refs[0]))]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.from_numpy(np.ascontiguousarray(examples[0],
                                                                       np.float32)),),
                          buf, dynamo=False, input_names=["x"], output_names=outs,
                          dynamic_axes={"x": dynamic, **{o: {0: "n"} for o in outs}},
                          opset_version=17, do_constant_folding=True)
    data = buf.getvalue()
    ort_net = OrtNet(data, path.stem)
    worst = 0.0
    for x, ref in zip(examples, refs):
        got = ort_net.run(x, threads=1)
        ref_np = [r.detach().float().cpu().numpy() for r in ref]
        scale = max(1.0, max(float(np.abs(r).max()) for r in ref_np))
        worst = max(worst, max_abs_diff(got, ref_np) / scale)
    record = {"file": path.name, "max_rel_abs_diff": worst, "tolerance": tolerance,
              "examples": [list(np.shape(x)) for x in examples],
              "torch": torch.__version__, **(meta or {})}
    try:
        import onnxruntime

        record["onnxruntime"] = onnxruntime.__version__
    except ImportError:  # pragma: no cover - the package depends on it
        pass
    if not worst <= tolerance:
        raise ExportError(f"{path.name}: ONNX Runtime differs from the torch port by "
                          f"{worst:.2e} (tolerance {tolerance:.0e}); the torch port is used")
    atomic_write(path, data)
    atomic_write(path.with_name(path.name + ".json"), json.dumps(record, indent=1) + "\n")
    return record


_EXPORT_LOCK = threading.Lock()


def cached_export(pack: str, name: str, sources: Sequence[str | os.PathLike],
                  build: Callable[[], tuple], *, tolerance: float = 1e-4) -> Path:
    """The ONNX file of a torch port, exported on first use.

    ``name`` is the network's name, ``sources`` the weight files it is built from (their
    sha256 names the file: ``<pack>/onnx/<name>-<sha256[:16]>.onnx``, so new weights give a new
    export), ``build()`` returns ``(torch module, [example inputs], dynamic axes or None)``
    and is called only when the file is missing. Raises :class:`ExportError` when the export
    does not match the port.
    """
    digest = sha256_files(sources)
    path = export_dir(pack) / f"{name}-{digest[:16]}.onnx"
    if path.is_file():
        return path
    with _EXPORT_LOCK:
        if path.is_file():
            return path
        net, examples, dynamic = build()
        t0 = time.perf_counter()
        export_and_verify(net, examples, path, dynamic=dynamic, tolerance=tolerance,
                          meta={"sources_sha256": digest,
                                "sources": [Path(s).name for s in sources]})
        log.info("exported %s in %.1f s", path, time.perf_counter() - t0)
    return path


__all__ = ["ExportError", "cached_export", "export_and_verify", "export_dir", "max_abs_diff",
           "sha256_files"]
