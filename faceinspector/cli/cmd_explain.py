"""``faceinspector explain PHOTOS --model M --out DIR``: where each model looks on each face.

One overlay PNG per face and model (the crop the model sees beside the map over it, the face box
and the peak marked), and with ``--json FILE`` a list of ``{"photo", "face", "model", "method",
"class", "png", "peak": [x, y] (crop px), "mass_in_face_box", "note"}``. The overlays are drawn
with numpy/OpenCV (:mod:`faceinspector.backend.saliency.heatmap`), not matplotlib.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

from .common import (device_arg, fail, nonneg_int, out_dir_arg, out_file_arg, positive_int,
                     run_task)

METHODS = ("gradcam", "gradcampp", "eigencam", "occlusion")
#: the enlarged crop's height in the PNG, px (at least)
PNG_SIDE = 224


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def render(sal, side: int = PNG_SIDE):
    """The PNG's pixels (RGB uint8): the crop and the map over it, enlarged (nearest: the
    model's pixels stay visible), box and peak drawn, a caption above."""
    import cv2
    import numpy as np

    from ..backend.saliency import heatmap

    h, w = sal.crop.shape[:2]
    k = max(1, math.ceil(side / h))
    big = cv2.resize(sal.crop, (w * k, h * k), interpolation=cv2.INTER_NEAREST)
    interp = cv2.INTER_NEAREST if sal.signed else cv2.INTER_LINEAR
    heat = cv2.resize(sal.map, (w * k, h * k), interpolation=interp)
    over = heatmap.overlay(big, heat, 0.5, sal.signed, sal.scale)
    box = ((sal.box + 0.5) * k).round().astype(np.int32)  # pixel centres -> enlarged pixels
    for img in (big, over):
        cv2.polylines(img, [box], True, (255, 255, 255), 1, cv2.LINE_AA)
    px, py = (int(round((v + 0.5) * k)) for v in sal.peak)
    cv2.drawMarker(over, (px, py), (0, 255, 0), cv2.MARKER_CROSS, max(8, 2 * k), 2)
    pair = np.hstack([big, np.full((h * k, 4, 3), 255, np.uint8), over])
    caption = np.full((22, pair.shape[1], 3), 255, np.uint8)
    score = f" {sal.score:.3f}" if math.isfinite(sal.score) else ""
    text = f"{sal.model_id} {sal.method} {sal.class_label}{score}"
    cv2.putText(caption, text[:80], (3, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.vstack([caption, pair])


def _write_png(path: Path, rgb) -> None:
    import cv2

    from ..backend.files import atomic_write

    ok, data = cv2.imencode(".png", rgb[..., ::-1].copy())
    if not ok:
        raise OSError(f"{path}: could not encode the PNG")
    atomic_write(path, data.tobytes())


def cmd_explain(args) -> int:
    from ..backend import Backend, photos, tasks
    from ..backend import saliency as sal
    from ..backend.files import atomic_write, check_writable

    backend = Backend(device=args.device, threads=args.threads or None)
    models = list(args.model or [])
    for f in args.model_file or []:
        models.append(backend.load_user_model(f))
    if not models:
        return fail("give a model: --model M (repeatable) or --model-file FILE")
    for m in models:  # fail early on a bad model id, a missing pack or an unknown class
        sal.class_index(backend, m, args.cls)
    if args.template is not None:
        backend.chip(models[0], args.template)  # an unknown template fails here, in one line
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.json:
        check_writable(Path(args.json), "--json")
    rows, used, faces_seen = [], set(), [0]

    def explain_photo(item) -> None:
        if item.error:
            print(f"skipped: {item.error}", file=sys.stderr)
            return
        if not item.faces:
            print(f"no face found in {item.path}", file=sys.stderr)
            return
        stem = _safe(Path(item.path).stem)
        if stem in used:  # two photos with one name (in different folders)
            stem = f"{stem}-{sum(1 for u in used if u.startswith(stem))}"
        used.add(stem)
        faces = [(item.path, i, item.photo, f) for i, f in enumerate(item.faces[:args.max_faces])]
        faces_seen[0] += len(faces)
        task = sal.explain_faces(backend, faces, models, args.method, args.cls,
                                 template=args.template, grid=args.grid)
        for res in tasks.collect(task)[0]:
            name = f"face {res.face_index} of {item.path}"
            if res.saliency is None:
                print(f"error: {res.model_id} on {name}: {res.error}", file=sys.stderr)
                continue
            s = res.saliency
            png = out / f"{stem}_face{res.face_index}_{_safe(s.model_id)}_{s.method}.png"
            _write_png(png, render(s))
            mass = s.mass_in_face_box
            rows.append({"photo": str(item.path), "face": res.face_index, "model": s.model_id,
                         "method": s.method, "class": s.class_label, "png": str(png),
                         "peak": [round(s.peak[0], 2), round(s.peak[1], 2)],
                         "mass_in_face_box": round(mass, 4) if math.isfinite(mass) else None,
                         "note": s.note})
            print(f"{Path(item.path).name} face {res.face_index}  {s.model_id:22} {s.method:9} "
                  f"{s.class_label:12} peak ({s.peak[0]:.0f}, {s.peak[1]:.0f})  in box "
                  f"{mass:.2f}  {s.seconds * 1000:.0f} ms" + (f"  [{s.note}]" if s.note else ""))

    run_task(photos.load_and_detect(backend, args.paths, thumb_side=16, display_side=0),
             on_item=explain_photo)
    if not faces_seen[0]:
        return fail("no faces found in the photos given")
    if args.json:
        atomic_write(Path(args.json), json.dumps(rows, indent=1))
    print(f"wrote {len(rows)} overlay(s) to {out}" + (f" and {args.json}" if args.json else ""))
    return 0 if rows else 1


def add_parser(sub) -> None:
    p = sub.add_parser("explain", help="where a model looks: Grad-CAM, Grad-CAM++, EigenCAM or "
                                       "occlusion maps over each face's crop (PNG, JSON)")
    p.add_argument("paths", nargs="+", help="photos or folders")
    p.add_argument("--model", action="append", metavar="M",
                   help="model id (repeatable), e.g. dlib-gender")
    p.add_argument("--model-file", action="append", metavar="PATH",
                   help="your TorchScript/ONNX model (+ JSON sidecar beside it)")
    p.add_argument("--method", default="gradcam", choices=METHODS,
                   help="gradcam (default), gradcampp, eigencam (gradient-free), occlusion (any "
                        "model, ONNX included)")
    p.add_argument("--template", help="crop template (default: each model's own; raw: the box)")
    p.add_argument("--class", dest="cls", metavar="C",
                   help="class label or index (default: each face's top class)")
    p.add_argument("--grid", type=positive_int, default=8,
                   help="occlusion patches per side (default 8)")
    p.add_argument("--max-faces", type=positive_int, default=50, help="faces per photo")
    p.add_argument("--out", required=True, type=out_dir_arg, help="folder for the PNGs")
    p.add_argument("--json", type=out_file_arg, metavar="FILE",
                   help="also write the list of maps as JSON")
    p.add_argument("--device", default="auto", type=device_arg)
    p.add_argument("--threads", type=nonneg_int, default=0,
                   help="CPU threads (0: as many as are free)")
    p.set_defaults(func=cmd_explain)
