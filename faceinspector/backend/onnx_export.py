"""ONNX exports of the torch ports: made once, checked against torch, cached next to the pack.

ONNX Runtime runs the small convolution nets closer to the CPU's limit than torch does
(:mod:`.engines`). The face-api heads, the ResNet and MTCNN's nets exist as torch ports; each is
exported once (``torch.onnx.export``), run through ONNX Runtime on the same inputs and kept only
when it equals the torch port within a tolerance (the measured difference is recorded in a JSON
file beside the export). The file name carries the sha256 of the source weights, so new weights
make a new export.

MTCNN's nets get one more step (:func:`prelu_as_relu`): their per-channel PReLUs are written
as ReLUs and 1x1 depthwise convolutions, which ONNX Runtime keeps in its blocked (NCHWc)
convolution layout; a PReLU made it convert every layer's output back and forth. The rewrite
computes the same numbers bit for bit (see the function); with R-Net's first layer padded to
32 channels (:func:`pad_first_conv`) the nets run 1.1-1.3x (P-Net), 2.2x (R-Net) and 1.9x
(O-Net) faster on one core (``benchmarks/engines.py``).
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


def prelu_as_relu(data: bytes) -> bytes:
    """The ONNX model ``data`` with every per-channel ``PRelu`` of a 4-D tensor (slope of shape
    (C, 1, 1)) replaced by ``Relu(y) + Conv1x1_dw(-slope)(Relu(Conv1x1_dw(-1)(y)))``.

    Bit for bit the same: for y >= 0 the second term is (-slope) * 0 and adding it changes
    nothing; for y < 0 the first is 0, -1 * y = -y exactly and (-slope) * (-y) is the one
    rounding of slope * y that PReLU makes. ONNX Runtime fuses the ReLU into the first
    depthwise convolution and the addition into the second, all in its NCHWc layout. PReLUs of
    2-D tensors (after the fully connected layers) stay as they are."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(data)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes = []
    for n in graph.node:
        slope = inits.get(n.input[1]) if n.op_type == "PRelu" and len(n.input) > 1 else None
        if slope is None or len(slope.dims) != 3 or tuple(slope.dims[1:]) != (1, 1):
            nodes.append(n)
            continue
        s = numpy_helper.to_array(slope).reshape(-1).astype(np.float32)
        c, y, out = len(s), n.input[0], n.output[0]
        p = f"{out}__prelu"
        graph.initializer.extend([
            numpy_helper.from_array(np.full((c, 1, 1, 1), -1.0, np.float32), f"{p}_minus1"),
            numpy_helper.from_array((-s).reshape(c, 1, 1, 1), f"{p}_minus_slope")])
        dw = {"group": c, "kernel_shape": [1, 1]}
        nodes += [helper.make_node("Relu", [y], [f"{p}_pos"]),
                  helper.make_node("Conv", [y, f"{p}_minus1"], [f"{p}_negy"], **dw),
                  helper.make_node("Relu", [f"{p}_negy"], [f"{p}_relu_negy"]),
                  helper.make_node("Conv", [f"{p}_relu_negy", f"{p}_minus_slope"],
                                   [f"{p}_neg"], **dw),
                  helper.make_node("Add", [f"{p}_pos", f"{p}_neg"], [out])]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def export_bytes(net, example: np.ndarray, dynamic: dict[int, str] | None = None,
                 outputs: int = 1) -> bytes:
    """``torch.onnx.export`` of module ``net`` traced on ``example`` (input "x", outputs
    "out0".."out<outputs - 1>", opset 17, ``dynamic`` axes of the input; default: the batch
    axis): the ONNX model as bytes."""
    import io
    import warnings

    import torch

    dynamic = dynamic or {0: "n"}
    outs = [f"out{i}" for i in range(outputs)]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (torch.from_numpy(np.ascontiguousarray(example,
                                                                              np.float32)),),
                          buf, dynamo=False, input_names=["x"], output_names=outs,
                          dynamic_axes={"x": dynamic, **{o: {0: "n"} for o in outs}},
                          opset_version=17, do_constant_folding=True)
    return buf.getvalue()


def pad_first_conv(data: bytes, multiple: int = 8) -> bytes:
    """The ONNX model ``data`` with its first convolution's output channels padded with zero
    filters to a multiple of ``multiple`` (ONNX Runtime's blocked layout works in blocks of 8
    channels on AVX2; R-Net's 28 made it leave the layout for the first pooling), when that
    output reaches the next convolution only through PReLU / ReLU / MaxPool: the padded
    channels are 0 all the way (zero filter, zero bias, 0 through PReLU and pooling) and the
    next convolution reads them with zero weights. The model is returned unchanged otherwise.
    Exact in arithmetic; the kernels' order of summation may differ (R-Net's outputs are the
    same bit for bit, ``tests/backend/test_detect_batch.py``)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(data)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}

    def grouped(n) -> bool:
        return any(a.name == "group" and a.i != 1 for a in n.attribute)

    convs = [n for n in graph.node if n.op_type == "Conv" and not grouped(n)]
    if len(convs) < 2 or convs[0].input[1] not in inits:
        return data
    first = convs[0]
    w = numpy_helper.to_array(inits[first.input[1]])
    c = w.shape[0]
    padded = -(-c // multiple) * multiple
    if padded == c:
        return data
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    chain, value = [], first.output[0]
    while True:
        users = consumers.get(value, [])
        if len(users) != 1 or any(o.name == value for o in graph.output):
            return data
        n = users[0]
        if n.op_type == "Conv" and not grouped(n) and n.input[0] == value:
            following = n
            break
        if n.op_type not in ("PRelu", "Relu", "MaxPool") or n.input[0] != value:
            return data
        chain.append(n)
        value = n.output[0]

    def put(name: str, array: np.ndarray) -> None:
        inits[name].CopyFrom(numpy_helper.from_array(array.astype(np.float32), name))

    def grow(a: np.ndarray, axis: int) -> np.ndarray:
        shape = list(a.shape)
        shape[axis] = padded - c
        return np.concatenate([a, np.zeros(shape, a.dtype)], axis=axis)

    put(first.input[1], grow(w, 0))
    if len(first.input) > 2 and first.input[2]:
        put(first.input[2], grow(numpy_helper.to_array(inits[first.input[2]]), 0))
    for n in chain:
        if n.op_type == "PRelu":
            put(n.input[1], grow(numpy_helper.to_array(inits[n.input[1]]), 0))
    put(following.input[1], grow(numpy_helper.to_array(inits[following.input[1]]), 1))
    for v in list(graph.value_info):  # shapes recorded by the exporter, if any, are now wrong
        if v.name in [first.output[0]] + [n.output[0] for n in chain]:
            graph.value_info.remove(v)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def export_and_verify(net, examples: Sequence[np.ndarray], path: Path, *,
                      dynamic: dict[int, str] | None = None, tolerance: float = 1e-4,
                      meta: dict | None = None,
                      rewrite: Callable[[bytes], bytes] | None = None) -> dict:
    """Export torch module ``net`` to ``path`` (atomically) and check ONNX Runtime against it.

    ``examples``: float32 NCHW inputs; the first is traced, every one is run through both
    engines and the largest absolute difference of any output, relative to the output's scale
    (``|Δ| / max(1, max |torch output|)``), must be at most ``tolerance``. ``dynamic``: the
    input's dynamic axes (default: the batch axis). A JSON sidecar (``path`` + ``.json``) keeps
    the check's result. ``rewrite(bytes) -> bytes`` transforms the exported model before the
    check (e.g. :func:`prelu_as_relu`). Returns that record; raises :class:`ExportError` when
    the check fails (nothing is written then).
    """
    import torch

    from .files import atomic_write

    net = net.eval()
    with torch.inference_mode():
        refs = [net(torch.from_numpy(np.ascontiguousarray(x, np.float32))) for x in examples]
    refs = [tuple(r) if isinstance(r, (tuple, list)) else (r,) for r in refs]
    data = export_bytes(net, examples[0], dynamic, len(refs[0]))
    if rewrite is not None:
        data = rewrite(data)
    ort_net = OrtNet(data, path.stem)
    worst = 0.0
    for x, ref in zip(examples, refs):
        got = ort_net.run(x, threads=1)
        ref_np = [r.detach().float().cpu().numpy() for r in ref]
        scale = max(1.0, max(float(np.abs(r).max()) for r in ref_np))
        worst = max(worst, max_abs_diff(got, ref_np) / scale)
    record = {"file": path.name, "max_rel_abs_diff": worst, "tolerance": tolerance,
              "rewrite": getattr(rewrite, "__name__", None),
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


def export_path(pack: str, name: str, sources: Sequence[str | os.PathLike],
                digest: str | None = None) -> Path:
    """Where :func:`cached_export` keeps ``name``'s export: ``<pack>/onnx/<name>-<sha256 of
    the sources, 16 hex digits>.onnx``."""
    digest = digest or sha256_files(sources)
    return export_dir(pack) / f"{name}-{digest[:16]}.onnx"


def cached_export(pack: str, name: str, sources: Sequence[str | os.PathLike],
                  build: Callable[[], tuple], *, tolerance: float = 1e-4,
                  rewrite: Callable[[bytes], bytes] | None = None) -> Path:
    """The ONNX file of a torch port, exported on first use.

    ``name`` is the network's name, ``sources`` the weight files it is built from (their
    sha256 names the file: ``<pack>/onnx/<name>-<sha256[:16]>.onnx``, so new weights give a new
    export), ``build()`` returns ``(torch module, [example inputs], dynamic axes or None)``
    and is called only when the file is missing; ``rewrite`` as in :func:`export_and_verify`
    (a rewritten export needs a ``name`` of its own). Raises :class:`ExportError` when the
    export does not match the port.
    """
    digest = sha256_files(sources)
    path = export_path(pack, name, sources, digest)
    if path.is_file():
        return path
    with _EXPORT_LOCK:
        if path.is_file():
            return path
        net, examples, dynamic = build()
        t0 = time.perf_counter()
        export_and_verify(net, examples, path, dynamic=dynamic, tolerance=tolerance,
                          meta={"sources_sha256": digest,
                                "sources": [Path(s).name for s in sources]}, rewrite=rewrite)
        log.info("exported %s in %.1f s", path, time.perf_counter() - t0)
    return path


__all__ = ["ExportError", "cached_export", "export_and_verify", "export_bytes", "export_dir",
           "export_path", "max_abs_diff", "pad_first_conv", "prelu_as_relu", "sha256_files"]
