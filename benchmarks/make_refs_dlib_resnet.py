"""Regenerate ``tests/backend/data/dlib_resnet_ref.npz``: real chips with reference outputs.

Six LFW photos, two people x three images (Patricia Clarkson, smiling in all three; Antonio
Banderas 1, 2, 5, neutral), each cut by dlib itself (HOG detector, 5-point predictor,
``get_face_chip(..., size=150, padding=0.25)``) and embedded by dlib's own
``compute_face_descriptor``. The npz holds

- ``chips``: (6, 150, 150, 3) uint8 RGB dlib chips,
- ``descriptors``: (6, 128) float32, dlib's embeddings of those chips,
- ``names``, ``files``, ``genders`` ("female"/"male" from LFW's gender lists),
- with ``--faceapi-js PACKAGE_DIR`` (an unpacked ``npm pack @vladmandic/face-api@1.7.15``) and
  ``node`` on PATH, also face-api's own TF.js outputs for the 112x112 head chips derived from
  the dlib chips by :func:`head_chips`: ``js_age`` (6,), ``js_gender`` (6, 2) in face-api's
  (male, female) order, ``js_expression`` (6, 7), ``js_descriptor_255`` (6, 128) (face-api's
  recognition net, which divides by 255).

Needs the reference (installed only for this, never a project dependency)::

    .venv/bin/pip install --no-deps face_recognition face_recognition_models

Run: ``.venv/bin/python benchmarks/make_refs_dlib_resnet.py [--faceapi-js /tmp/npmx/package]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_dlib_resnet import LFW, ROOT, dlib_chip, dlib_models, lfw_path  # noqa: E402

OUT = ROOT / "tests" / "backend" / "data" / "dlib_resnet_ref.npz"
PEOPLE = (("Patricia_Clarkson", (1, 2, 3)), ("Antonio_Banderas", (1, 2, 5)))


def head_chips(chips: np.ndarray) -> np.ndarray:
    """150x150 dlib chips (padding 0.25) -> 112x112 uint8 chips framed like face-api's input.

    The unpadded dlib square spans chip pixels 25..125; face-api crops the 68-landmark box
    (about that square) grown by 10 % a side, i.e. pixels 15..135, resized to 112. Keep this
    identical to the copy in ``tests/backend/test_faceapi_models.py``.
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x[:, :, 15:135, 15:135], size=(112, 112), mode="bilinear",
                      align_corners=False, antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


NODE_SCRIPT = r"""
import './setup.mjs';
import * as faceapi from './fa.mjs';
import fs from 'fs';
const tf = faceapi.tf;
await tf.setBackend('cpu'); await tf.ready();
const [dir, inFile, outFile] = process.argv.slice(2);
function weightMap(name) {
  const man = JSON.parse(fs.readFileSync(`${dir}/${name}-weights_manifest.json`));
  const buf = fs.readFileSync(`${dir}/${name}.bin`);
  return tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length),
                             man[0].weights);
}
const inp = JSON.parse(fs.readFileSync(inFile));
const batch = async (d, s) => faceapi.toNetInput(tf.unstack(tf.tensor4d(d, s, 'float32')));
const out = {};
const ag = faceapi.nets.ageGenderNet; ag.loadFromWeightMap(weightMap('age_gender_model'));
const r = ag.forwardInput(await batch(inp.x112, inp.s112));
out.age = Array.from(await r.age.data()); out.gender = Array.from(await r.gender.data());
const fe = faceapi.nets.faceExpressionNet; fe.loadFromWeightMap(weightMap('face_expression_model'));
out.expression = Array.from(await fe.forwardInput(await batch(inp.x112, inp.s112)).data());
const fr = faceapi.nets.faceRecognitionNet;
fr.loadFromWeightMap(weightMap('face_recognition_model'));
out.descriptor = Array.from(await fr.forwardInput(await batch(inp.x150, inp.s150)).data());
fs.writeFileSync(outFile, JSON.stringify(out));
"""


def faceapi_js_outputs(package: Path, chips150: np.ndarray, chips112: np.ndarray) -> dict:
    """Run face-api's own TF.js code (its bundled tfjs, CPU backend) under node."""
    from faceinspector.backend import assets

    model_dir = assets.path("face-api", "model/face_recognition_model.bin").parent
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle = (package / "dist" / "face-api.esm.js").read_text(encoding="utf-8")
        # The browser bundle looks for node's util through a stub; hand it the real module.
        if "this.util=AR()" not in bundle:
            raise SystemExit("unexpected face-api bundle: cannot patch its node util shim")
        (tmp / "fa.mjs").write_text(bundle.replace("this.util=AR()", "this.util=globalThis.__u"))
        (tmp / "setup.mjs").write_text("import * as u from 'util'; globalThis.__u = u;\n")
        (tmp / "run.mjs").write_text(NODE_SCRIPT)
        (tmp / "in.json").write_text(json.dumps({
            "x112": chips112.astype(float).ravel().tolist(), "s112": list(chips112.shape),
            "x150": chips150.astype(float).ravel().tolist(), "s150": list(chips150.shape),
        }))
        subprocess.run(["node", "run.mjs", str(model_dir), "in.json", "out.json"], cwd=tmp,
                       check=True, capture_output=True, text=True)
        out = json.loads((tmp / "out.json").read_text())
    n = len(chips112)
    return {
        "js_age": np.array(out["age"], np.float32),
        "js_gender": np.array(out["gender"], np.float32).reshape(n, 2),
        "js_expression": np.array(out["expression"], np.float32).reshape(n, 7),
        "js_descriptor_255": np.array(out["descriptor"], np.float32).reshape(n, 128),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faceapi-js", type=Path, default=None,
                    help="unpacked @vladmandic/face-api 1.7.15 npm package (adds js_* arrays)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    male = set((LFW / "male_names.txt").read_text().split())
    female = set((LFW / "female_names.txt").read_text().split())
    detector, predictor, rec = dlib_models()
    chips, names, files, genders = [], [], [], []
    for name, nums in PEOPLE:
        for num in nums:
            path = lfw_path(name, num)
            chip = dlib_chip(path, detector, predictor)
            if chip is None:
                raise SystemExit(f"dlib finds no face in {path}")
            chips.append(chip)
            names.append(name)
            files.append(path.name)
            genders.append("male" if path.name in male else "female" if path.name in female
                           else "?")
    chips = np.stack(chips)
    descriptors = np.array([rec.compute_face_descriptor(c) for c in chips], np.float32)
    arrays = dict(chips=chips, descriptors=descriptors, names=np.array(names),
                  files=np.array(files), genders=np.array(genders))
    if args.faceapi_js is not None:
        if shutil.which("node") is None:
            raise SystemExit("--faceapi-js needs node on PATH")
        arrays.update(faceapi_js_outputs(args.faceapi_js, chips, head_chips(chips)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB): "
          f"{', '.join(f'{k} {v.shape}' for k, v in arrays.items())}")


if __name__ == "__main__":
    main()
