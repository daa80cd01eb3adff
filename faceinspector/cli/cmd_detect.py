"""``faceinspector detect PATHS``: MTCNN boxes, scores and landmarks, optionally the crops.

Output: readable text (file names with control characters escaped), ``--json``, or ``--csv``
(one row per face; any file name survives both).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from .common import device_arg, nonneg_int, out_dir_arg


def cmd_detect(args) -> int:
    from ..backend import Backend
    from ..backend.batching import detect_stream
    from ..backend.types import Detection

    backend = Backend(device=args.device, detect_max_side=args.max_side)
    paths = args.paths or [str(p) for p in __import__(
        "faceinspector.backend.assets", fromlist=["demo_photos"]).demo_photos()]
    out, failures = [], 0
    rows = _csv_writer() if args.format == "csv" else None
    # files are read ahead in a reader thread and detected in batches (issue 16)
    for found in detect_stream(backend, backend.iter_photos(paths)):
        path, photo = found.path, found.photo
        if photo is None:
            failures += 1
            print(f"skipped: {printable(found.error)}", file=sys.stderr)
            continue
        if photo.note:
            print(f"note: {printable(photo.note)}", file=sys.stderr)
        det = Detection(found.faces, 1.0, found.seconds)
        rec = {"path": str(path), "width": photo.width, "height": photo.height,
               "seconds": round(det.seconds, 3),
               "faces": [{"box": [round(v, 1) for v in f.box], "score": round(f.score, 4),
                          "landmarks": f.landmarks.round(1).tolist()} for f in det.faces]}
        if photo.note:
            rec["note"] = photo.note
        out.append(rec)
        if args.crops:
            _save_crops(backend, photo, det, Path(args.crops), Path(path).stem, args.template)
        if rows is not None:
            for i, f in enumerate(rec["faces"]):
                rows.writerow([str(path), photo.width, photo.height, i, *f["box"], f["score"],
                               *[v for pt in f["landmarks"] for v in pt]])
        elif args.format == "text":
            print(f"{printable(str(path))}: {len(det.faces)} face(s) in "
                  f"{det.seconds * 1000:.0f} ms ({photo.width}x{photo.height})")
            for i, f in enumerate(det.faces):
                x1, y1, x2, y2 = f.box
                print(f"  face {i}: box ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}) "
                      f"score {f.score:.3f}")
    if args.format == "json":
        print(json.dumps(out, indent=2))
    return 1 if failures and not out else 0


def printable(text: str) -> str:
    """``text`` on one line: newlines, tabs and other control characters escaped (a file
    name may hold any of them)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _csv_writer():
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["path", "width", "height", "face", "x1", "y1", "x2", "y2", "score",
                *[f"{p}{xy}" for p in ("left_eye_", "right_eye_", "nose_", "mouth_left_",
                                         "mouth_right_") for xy in ("x", "y")]])
    return w



def _save_crops(backend, photo, det, folder: Path, stem: str, templates: list[str]) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, face in enumerate(det.faces):
        for t in templates:
            crop = backend.crop(photo, face, t)  # a name, or a template file
            Image.fromarray(crop.pixels).save(folder / f"{stem}_face{i}_{crop.template}.png")



def add_parser(sub) -> None:
    d = sub.add_parser("detect", help="detect faces (MTCNN, 5 landmarks) in photos or folders")
    d.add_argument("paths", nargs="*", help="photos or folders (default: the demo photos)")
    fmt = d.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json",
                     help="print JSON instead of text")
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv",
                     help="print CSV, one row per face (path, size, box, score, landmarks)")
    d.add_argument("--device", default="auto", type=device_arg,
                   help="auto, cpu, cuda, cuda:1, ...")
    d.add_argument("--max-side", type=nonneg_int, default=1024,
                   help="pyramid levels larger than this are skipped (0 = full resolution)")
    d.add_argument("--crops", metavar="DIR", type=out_dir_arg,
                   help="save each face's crops into DIR")
    d.add_argument("--template", action="append", default=None,
                   help="template(s) for --crops (default: raw and dlib-chip)")
    d.set_defaults(func=cmd_detect, format="text")
