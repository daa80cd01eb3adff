"""``faceinspector detect PATHS``: MTCNN boxes, scores and landmarks, optionally the crops."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cmd_detect(args) -> int:
    from ..backend import Backend, ImageError

    backend = Backend(device=args.device, detect_max_side=args.max_side)
    paths = args.paths or [str(p) for p in __import__(
        "faceinspector.backend.assets", fromlist=["demo_photos"]).demo_photos()]
    out, failures = [], 0
    for path, photo in backend.iter_photos(paths):
        if isinstance(photo, ImageError):
            failures += 1
            print(f"skipped: {photo}", file=sys.stderr)
            continue
        det = backend.detect(photo)
        rec = {"path": str(path), "width": photo.width, "height": photo.height,
               "seconds": round(det.seconds, 3),
               "faces": [{"box": [round(v, 1) for v in f.box], "score": round(f.score, 4),
                          "landmarks": f.landmarks.round(1).tolist()} for f in det.faces]}
        out.append(rec)
        if args.crops:
            _save_crops(backend, photo, det, Path(args.crops), Path(path).stem, args.template)
        if not args.json:
            print(f"{path}: {len(det.faces)} face(s) in {det.seconds * 1000:.0f} ms "
                  f"({photo.width}x{photo.height})")
            for i, f in enumerate(det.faces):
                x1, y1, x2, y2 = f.box
                print(f"  face {i}: box ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}) "
                      f"score {f.score:.3f}")
    if args.json:
        print(json.dumps(out, indent=2))
    return 1 if failures and not out else 0



def _save_crops(backend, photo, det, folder: Path, stem: str, templates: list[str]) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, face in enumerate(det.faces):
        for t in templates:
            crop = backend.crop(photo, face, t)
            Image.fromarray(crop.pixels).save(folder / f"{stem}_face{i}_{t}.png")



def add_parser(sub) -> None:
    d = sub.add_parser("detect", help="detect faces (MTCNN, 5 landmarks) in photos or folders")
    d.add_argument("paths", nargs="*", help="photos or folders (default: the demo photos)")
    d.add_argument("--json", action="store_true", help="print JSON instead of text")
    d.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    d.add_argument("--max-side", type=int, default=1024,
                   help="pyramid levels larger than this are skipped (0 = full resolution)")
    d.add_argument("--crops", metavar="DIR", help="save each face's crops into DIR")
    d.add_argument("--template", action="append", default=None,
                   help="template(s) for --crops (default: raw and dlib-chip)")
    d.set_defaults(func=cmd_detect)
