"""The engine table's micro-benchmark: each network on torch vs ONNX Runtime, same inputs.

    .venv/bin/python benchmarks/engines.py [--repeats 5] [--threads 1 2]

For every network of :data:`faceinspector.backend.engines.CPU_TABLE` (MTCNN's three nets, the
dlib gender and age nets, the dlib ResNet, the face-api heads): ms per batch on the torch port
and on its ONNX file through ONNX Runtime (one call, ``--threads`` intra-op threads, no
spinning; torch with as many threads), interleaved, best of ``--repeats``; and, for ONNX
Runtime, the same batch in chunks on one-thread lanes (what the app runs). Prints which engine
is faster and what the table says, so the table can be checked on another CPU.

Then MTCNN's nets as exported plainly vs as the app runs them (``detect.EXPORTS``: PReLUs
rewritten for ONNX Runtime's blocked layout, R-Net's first layer padded), one thread, with a
check that both give the same numbers bit for bit.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _load import machine_line


def best(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    import torch

    from faceinspector.backend import detect, engines
    from faceinspector.backend import models as zoo
    from faceinspector.backend.mtcnn_nets import load_net

    rng = np.random.default_rng(0)
    cases = []  # (name, batch description, torch fn(x), OrtNet, x)
    files, weights = detect.onnx_files(), detect.weight_files()
    for name, shape in (("pnet", (32, 3, 150, 150)), ("rnet", (256, 3, 24, 24)),
                        ("onet", (64, 3, 48, 48))):
        net = load_net(name, weights[name])
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        cases.append((f"mtcnn {name}", shape, lambda t, net=net: net(t),
                      engines.OrtNet(files[name], name, chunk=detect.CROP_CHUNK.get(name, 8)),
                      x))
    for mid, n in (("dlib-gender", 441), ("dlib-age", 64), ("dlib-resnet", 32),
                   ("faceapi-agegender", 32), ("faceapi-expression", 32)):
        port = zoo.load(mid, "cpu", engine="torch")
        fast = zoo.load(mid, "cpu", engine="onnx")
        w, h = port.spec.size
        x = rng.uniform(-0.5, 0.5, (n, 3, h, w)).astype(np.float32)
        fwd = (lambda t, m=port: m.forward(t)) if mid.startswith("dlib-") and mid != \
            "dlib-resnet" else (lambda t, m=port: m.net(t))
        cases.append((mid, x.shape, fwd, fast._ort, x))
    print(f"torch {torch.__version__}; {machine_line()}")
    print(f"{'network':20} {'batch':18} {'thr':>3} {'torch ms':>9} {'onnx ms':>8} "
          f"{'lanes ms':>9}  faster  table")
    for name, shape, fwd, ort_net, x in cases:
        for th in args.threads:
            torch.set_num_threads(th)
            t = torch.from_numpy(x)

            def run_torch():
                with torch.inference_mode():
                    fwd(t)

            a = best(run_torch, args.repeats)
            b = best(lambda: ort_net.run(x, threads=th, chunk=len(x)), args.repeats)
            old = engines.thread_cap()
            engines.set_thread_cap(th)
            try:
                c = best(lambda: ort_net.run(x), args.repeats)
            finally:
                engines.set_thread_cap(old)
            key = "mtcnn" if name.startswith("mtcnn") else name
            print(f"{name:20} {'x'.join(map(str, shape)):18} {th:3d} {a:9.1f} {b:8.1f} "
                  f"{c:9.1f}  {'onnx' if min(b, c) < a else 'torch':6} "
                  f"{engines.CPU_TABLE.get(key, 'torch')}")

    from faceinspector.backend import onnx_export
    from faceinspector.backend.mtcnn_nets import export_examples

    print("\nMTCNN exports on ONNX Runtime, one thread: plain vs rewritten (detect.EXPORTS)")
    print(f"{'network':8} {'batch':18} {'plain ms':>9} {'rewritten ms':>13} {'speed-up':>9}  "
          "same bits")
    for name, shape in (("pnet", (1, 3, 720, 1024)), ("pnet", (8, 3, 151, 151)),
                        ("rnet", (64, 3, 24, 24)), ("onet", (16, 3, 48, 48))):
        examples, dynamic = export_examples(name)
        plain = engines.OrtNet(onnx_export.export_bytes(
            load_net(name, weights[name]), examples[0], dynamic, 3 if name == "onet" else 2),
            name)
        fast = engines.OrtNet(files[name], name)
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        a = best(lambda: plain.run(x, threads=1), args.repeats)
        b = best(lambda: fast.run(x, threads=1), args.repeats)
        same = all(np.array_equal(u, v) for u, v in zip(plain.run(x, threads=1),
                                                       fast.run(x, threads=1)))
        print(f"{name:8} {'x'.join(map(str, shape)):18} {a:9.1f} {b:13.1f} {a / b:8.2f}x  "
              f"{same}")


if __name__ == "__main__":
    main()
