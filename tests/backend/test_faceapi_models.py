"""The face-api ports: TF.js weight reader, dlib's ResNet embedder, the age/gender and
expression heads.

Evidence, without importing face_recognition or running node at test time:

- ``data/dlib_resnet_ref.npz`` (``benchmarks/make_refs_dlib_resnet.py``): six real LFW chips
  (two people x three photos) cut by dlib itself, dlib's own 128-D descriptors for them, and
  face-api's own TF.js outputs (its bundled tfjs, CPU) for the same chips;
- the model contract: shapes, probabilities, determinism, batching, clear errors on bad files;
- optionally LFW photos from the development data (``tests/conftest.py``; skipped when
  absent).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from faceinspector.backend import assets
from faceinspector.backend.models.dlib_resnet import DlibResNet
from faceinspector.backend.models.faceapi_heads import (
    EXPRESSION_LABELS,
    FaceApiAgeGender,
    FaceApiExpression,
)
from faceinspector.backend.models.tfjs import load_weights, read_manifest

REF = Path(__file__).resolve().parent / "data" / "dlib_resnet_ref.npz"
from ..conftest import DEV_DATA as SHARED_DATA
from ..conftest import dev_data_reason


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Correctness tests, not timing: on an oversubscribed CPU (other jobs on both cores) two
    OpenMP threads make each small call 10-50x slower, so run these single-threaded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ref():
    with np.load(REF) as z:
        return {k: z[k] for k in z.files}


def _load(cls):
    try:
        return cls()
    except assets.AssetError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def resnet():
    return _load(DlibResNet)


@pytest.fixture(scope="module")
def agegender():
    return _load(FaceApiAgeGender)


@pytest.fixture(scope="module")
def expression():
    return _load(FaceApiExpression)


def head_chips(chips: np.ndarray) -> np.ndarray:
    """Same as ``benchmarks/make_refs_dlib_resnet.py``: dlib chip -> face-api-like 112 crop."""
    x = torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x[:, :, 15:135, 15:135], size=(112, 112), mode="bilinear",
                      align_corners=False, antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def cosine(a, b):
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def random_chips(size: int, n: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- TF.js reader


def write_model(tmp: Path, weights: list[dict], payload: bytes, name: str = "m") -> Path:
    (tmp / f"{name}.bin").write_bytes(payload)
    manifest = tmp / f"{name}-weights_manifest.json"
    manifest.write_text(json.dumps([{"paths": [f"{name}.bin"], "weights": weights}]))
    return manifest


def test_tfjs_reader_dequantizes_and_reads_float32(tmp_path):
    f32 = np.array([[1.5, -2.25]], np.float32)
    q8 = np.array([0, 1, 255], np.uint8)
    q16 = np.array([0, 65535], np.uint16)
    weights = [
        {"name": "a", "shape": [1, 2], "dtype": "float32"},
        {"name": "b", "shape": [3], "dtype": "float32",
         "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
        {"name": "c", "shape": [2], "dtype": "float32",
         "quantization": {"dtype": "uint16", "scale": 0.001, "min": 2.0}},
    ]
    payload = f32.astype("<f4").tobytes() + q8.tobytes() + q16.astype("<u2").tobytes()
    w = load_weights(write_model(tmp_path, weights, payload))
    assert set(w) == {"a", "b", "c"} and all(v.dtype == np.float32 for v in w.values())
    np.testing.assert_array_equal(w["a"], f32)
    np.testing.assert_allclose(w["b"], [-1.0, -0.5, 126.5])
    np.testing.assert_allclose(w["c"], [2.0, 2.0 + 65.535], rtol=1e-6)


@pytest.mark.parametrize("cut", [1, 10])
def test_tfjs_short_shard_names_file(tmp_path, cut):
    weights = [{"name": "a", "shape": [4], "dtype": "float32"}]
    manifest = write_model(tmp_path, weights, np.zeros(4, "<f4").tobytes()[:-cut])
    with pytest.raises(ValueError, match=r"m\.bin.*truncated"):
        load_weights(manifest)


def test_tfjs_long_shard_is_corrupt(tmp_path):
    weights = [{"name": "a", "shape": [2], "dtype": "float32"}]
    manifest = write_model(tmp_path, weights, np.zeros(3, "<f4").tobytes())
    with pytest.raises(ValueError, match=r"m\.bin is corrupt"):
        load_weights(manifest)


@pytest.mark.parametrize(
    "text, why",
    [
        ("{not json", "not valid JSON"),
        ("{}", "malformed"),
        ('[{"paths": ["m.bin"]}]', "lacks 'paths' or 'weights'"),
        ('[{"paths": ["m.bin"], "weights": [{"name": "a", "shape": [2]}]}]', "lacks 'name'"),
        ('[{"paths": ["m.bin"], "weights": [{"name": "a", "shape": [-1], "dtype": "float32"}]}]',
         "shape"),
        ('[{"paths": ["m.bin"], "weights": [{"name": "a", "shape": [1], "dtype": "float32", '
         '"quantization": {"dtype": "uint8", "min": 0}}]}]', "scale"),
        ('[{"paths": ["../m.bin"], "weights": []}]', "outside its folder"),
    ],
)
def test_tfjs_broken_manifest_names_file(tmp_path, text, why):
    manifest = tmp_path / "broken-weights_manifest.json"
    manifest.write_text(text)
    (tmp_path / "m.bin").write_bytes(b"\0" * 8)
    with pytest.raises(ValueError, match="broken-weights_manifest.json") as info:
        load_weights(manifest)
    assert why in str(info.value)


def test_faceapi_manifests_are_consistent():
    """The real files: every byte accounted for, expected dtypes (DESIGN.md 'Facts checked')."""
    try:
        manifest = assets.path("face-api", "model/face_recognition_model-weights_manifest.json")
    except assets.AssetError as exc:
        pytest.skip(str(exc))
    entries = read_manifest(manifest)[0]["weights"]
    plain = sorted(e["name"] for e in entries if "quantization" not in e)
    assert len(plain) == 8 and all(n.startswith("conv64_") and n.endswith("filters") for n in plain)
    w = load_weights(manifest)
    assert w["fc"].shape == (256, 128) and w["conv32_down/conv/filters"].shape == (7, 7, 3, 32)


@pytest.mark.parametrize("cls", [DlibResNet, FaceApiAgeGender, FaceApiExpression])
def test_models_reject_truncated_or_broken_files(tmp_path, cls):
    model = {DlibResNet: "face_recognition_model", FaceApiAgeGender: "age_gender_model",
             FaceApiExpression: "face_expression_model"}[cls]
    try:
        manifest = assets.path("face-api", f"model/{model}-weights_manifest.json")
        shard = assets.path("face-api", f"model/{model}.bin")
    except assets.AssetError as exc:
        pytest.skip(str(exc))
    shutil.copy(manifest, tmp_path / manifest.name)
    (tmp_path / shard.name).write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(ValueError, match=rf"{shard.name}.*truncated"):
        cls(manifest=tmp_path / manifest.name)
    (tmp_path / manifest.name).write_text('[{"paths": ')
    with pytest.raises(ValueError, match=rf"{manifest.name} is not valid JSON"):
        cls(manifest=tmp_path / manifest.name)


# --------------------------------------------------------------------------- dlib ResNet


def test_resnet_spec_follows_dlib(resnet):
    s = resnet.spec
    assert (s.template, s.size, s.padding) == ("dlib-chip", (150, 150), 0.25)
    assert s.mean == (122.782, 117.001, 104.298) and s.std == (256.0,) * 3
    assert resnet.id == "dlib-resnet" and resnet.task == "embedding"


def test_resnet_matches_dlib_descriptors(resnet, ref):
    emb = resnet.embed(ref["chips"])
    assert emb.shape == (6, 128) and emb.dtype == np.float32
    cos = cosine(emb, ref["descriptors"])
    assert cos.min() >= 0.999, cos
    # dlib's descriptors have norm ~1.4; ours must too (no extra normalisation).
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1),
                               np.linalg.norm(ref["descriptors"], axis=1), rtol=0.01)


def test_resnet_matches_faceapi_js(resnet, ref):
    """Same chips, face-api's own normalisation (/255): the forward pass equals face-api's."""
    if "js_descriptor_255" not in ref:
        pytest.skip("npz made without --faceapi-js")
    x = torch.from_numpy(ref["chips"]).permute(0, 3, 1, 2).float()
    mean = torch.tensor(resnet.spec.mean).view(1, 3, 1, 1)
    with torch.inference_mode():
        out = resnet.net((x - mean) / 255.0).numpy()
    np.testing.assert_allclose(out, ref["js_descriptor_255"], atol=2e-5)


def test_resnet_same_vs_different_person(resnet, ref):
    emb = resnet.embed(ref["chips"])
    names = ref["names"]
    d = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    same = names[:, None] == names[None]
    off_diag = ~np.eye(len(names), dtype=bool)
    assert d[same & off_diag].max() < resnet.threshold < d[~same].min()
    # and the decisions equal dlib's own
    r = ref["descriptors"]
    d_ref = np.linalg.norm(r[:, None] - r[None], axis=-1)
    assert np.array_equal(d < 0.6, d_ref < 0.6)


def test_resnet_batching_and_determinism(resnet, ref):
    chips = ref["chips"]
    full = resnet.embed(chips)
    np.testing.assert_array_equal(full, resnet.embed(chips))
    one_by_one = np.concatenate([resnet.embed(chips[i : i + 1]) for i in range(len(chips))])
    np.testing.assert_allclose(one_by_one, full, atol=1e-5)
    np.testing.assert_allclose(resnet.embed(chips[0]), full[:1], atol=1e-5)  # (h, w, 3)
    np.testing.assert_allclose(resnet.embed(chips, batch_size=4), full, atol=1e-5)
    out = resnet.predict(chips[:2])
    assert out.embeddings.shape == (2, 128) and out.probs is None


def test_resnet_accepts_float_nchw_and_rejects_wrong_size(resnet, ref):
    x = torch.from_numpy(ref["chips"][:2]).permute(0, 3, 1, 2).float()
    np.testing.assert_allclose(resnet.predict(x).embeddings, resnet.embed(ref["chips"][:2]),
                               atol=1e-5)
    with pytest.raises(ValueError, match="150x150"):
        resnet.predict(random_chips(112, 1))


# --------------------------------------------------------------------------- face-api heads


def test_head_specs_follow_faceapi(agegender, expression):
    for m in (agegender, expression):
        s = m.spec
        assert (s.template, s.size) == ("raw", (112, 112))
        assert s.mean == (122.782, 117.001, 104.298) and s.std == (255.0,) * 3
    assert agegender.labels == ("female", "male") and agegender.task == "age+gender"
    assert expression.labels == EXPRESSION_LABELS


def test_heads_match_faceapi_js(agegender, expression, ref):
    """face-api's own TF.js run on the same 112x112 chips (gender columns: male, female)."""
    if "js_age" not in ref:
        pytest.skip("npz made without --faceapi-js")
    chips = head_chips(ref["chips"])
    out = agegender.predict(chips)
    np.testing.assert_allclose(out.values, ref["js_age"], atol=1e-3)
    np.testing.assert_allclose(out.probs, ref["js_gender"][:, ::-1], atol=1e-5)
    np.testing.assert_allclose(expression.predict(chips).probs, ref["js_expression"], atol=1e-5)


@pytest.mark.parametrize("which", ["agegender", "expression"])
def test_heads_contract(which, agegender, expression, ref):
    model = {"agegender": agegender, "expression": expression}[which]
    chips = head_chips(ref["chips"])
    out = model.predict(chips)
    assert out.probs.shape == (6, len(model.labels)) and out.probs.dtype == np.float32
    np.testing.assert_allclose(out.probs.sum(1), 1.0, atol=1e-5)
    assert (out.probs >= 0).all()
    np.testing.assert_array_equal(out.probs, model.predict(chips).probs)
    singles = [model.predict(c) for c in chips]  # (h, w, 3) each
    np.testing.assert_allclose(np.concatenate([o.probs for o in singles]), out.probs, atol=1e-5)
    if which == "agegender":
        assert out.values.shape == (6,) and out.values.dtype == np.float32
        np.testing.assert_allclose(np.concatenate([o.values for o in singles]), out.values,
                                   atol=1e-3)
    noise = model.predict(random_chips(112))
    np.testing.assert_allclose(noise.probs.sum(1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="112x112"):
        model.predict(random_chips(150, 1))


def test_heads_plausible_on_real_faces(agegender, expression, ref):
    chips = head_chips(ref["chips"])
    ag = agegender.predict(chips)
    predicted = np.array(agegender.labels)[ag.probs.argmax(1)]
    assert np.sum(predicted == ref["genders"]) >= 5, (predicted, ref["genders"])
    assert ((ag.values > 18) & (ag.values < 75)).all(), ag.values  # adults, 30s-50s
    ex = expression.predict(chips).probs
    names = ref["names"]
    smiling = names == "Patricia_Clarkson"  # smiling broadly in all three photos
    assert (ex[smiling].argmax(1) == EXPRESSION_LABELS.index("happy")).all(), ex[smiling]
    happy = ex[:, EXPRESSION_LABELS.index("happy")]
    assert happy[smiling].min() > 0.9 and happy[~smiling].mean() < 0.5


def test_agegender_gender_on_lfw(agegender):
    """40 men and 40 women from LFW's gender lists, a fixed centre crop of the funneled photo."""
    lfw = SHARED_DATA / "lfw"
    if not lfw.exists():
        pytest.skip(dev_data_reason("lfw"))
    from PIL import Image

    correct = []
    for listing, label in (("male_names.txt", "male"), ("female_names.txt", "female")):
        files = (lfw / listing).read_text().split()[:40]
        chips = np.stack([
            np.asarray(Image.open(lfw / "lfw-deepfunneled" / f.rsplit("_", 1)[0] / f)
                       .convert("RGB").crop((65, 70, 185, 190)).resize((112, 112),
                                                                       Image.BILINEAR))
            for f in files
        ])
        probs = agegender.predict(chips).probs
        correct.append(probs[:, agegender.labels.index(label)] > 0.5)
    acc = np.concatenate(correct).mean()
    assert acc >= 0.75, acc
